"""Counting the records of a CSV byte stream piece by piece, without parsing or holding it."""

from __future__ import annotations

_QUOTE = b'"'
_NEWLINE = b"\n"
_BOM = b"\xef\xbb\xbf"


class CsvRecordCounter:
    """Counts CSV records in bytes fed in pieces of any size, as a CSV reader would see them.

    A record ends at a line feed outside double quotes, so a quoted field holding line breaks counts
    once, and an escaped quote (``""``) changes nothing. LF and CR LF line endings both work; a last
    record without a line ending still counts, a UTF-8 byte-order mark alone does not. The work per
    piece is a few C-level scans per line.
    """

    def __init__(self) -> None:
        #: Bytes fed so far.
        self.bytes = 0
        #: Records whose line ending has been seen.
        self.terminated = 0
        #: Offset just past the first record's line ending (the end of a header), once seen.
        self.first_record_end: int | None = None
        self._in_quotes = False
        self._record_open = False
        self._head = b""  # the first bytes, while they could still be a lone byte-order mark

    @property
    def in_quotes(self) -> bool:
        """True while a quoted field is open: at the end of the stream, the file was cut short."""
        return self._in_quotes

    def feed(self, data: bytes) -> None:
        """Count the records that end in ``data``."""
        if not data:
            return
        if len(self._head) < len(_BOM):
            self._head += data[: len(_BOM) - len(self._head)]
        in_quotes = self._in_quotes
        position = 0
        while (newline := data.find(_NEWLINE, position)) >= 0:
            if data.count(_QUOTE, position, newline) % 2:
                in_quotes = not in_quotes
            if not in_quotes:
                self.terminated += 1
                if self.first_record_end is None:
                    self.first_record_end = self.bytes + newline + 1
            position = newline + 1
        if data.count(_QUOTE, position) % 2:
            in_quotes = not in_quotes
        self._in_quotes = in_quotes
        self._record_open = in_quotes or position < len(data)
        self.bytes += len(data)

    @property
    def records(self) -> int:
        """Records so far, counting a last one that has no line ending (yet)."""
        lone_bom = self.bytes <= len(_BOM) and _BOM.startswith(self._head)
        return self.terminated + (1 if self._record_open and not lone_bom else 0)

    @property
    def data_rows(self) -> int:
        """Records after the header line."""
        return max(self.records - 1, 0)


__all__ = ["CsvRecordCounter"]
