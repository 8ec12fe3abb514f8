"""Counting and cutting out the records of a CSV byte stream piece by piece, without parsing it."""

from __future__ import annotations

from itertools import pairwise

_QUOTE = b'"'
_NEWLINE = b"\n"
_BOM = b"\xef\xbb\xbf"


def record_ends(data: bytes, in_quotes: bool = False) -> tuple[list[int], bool]:
    """Where records end in ``data``, and whether a quoted field is open after it.

    A record ends at a line feed outside double quotes: one where the quotes since the record began
    are even (an escaped quote ``""`` changes nothing). ``in_quotes`` says whether a quoted field was
    open before ``data``. Returns the offsets of those line feeds, a few C-level scans per line.
    """
    ends = []
    position = 0
    while (newline := data.find(_NEWLINE, position)) >= 0:
        if data.count(_QUOTE, position, newline) % 2:
            in_quotes = not in_quotes
        if not in_quotes:
            ends.append(newline)
        position = newline + 1
    if data.count(_QUOTE, position) % 2:
        in_quotes = not in_quotes
    return ends, in_quotes


class CsvRecordCounter:
    """Counts CSV records in bytes fed in pieces of any size, as a CSV reader would see them.

    A record ends at a line feed outside double quotes, so a quoted field holding line breaks counts
    once, and an escaped quote (``""``) changes nothing (:func:`record_ends`). LF and CR LF line
    endings both work; a last record without a line ending still counts, a UTF-8 byte-order mark
    alone does not.
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
        ends, self._in_quotes = record_ends(data, self._in_quotes)
        if ends and self.first_record_end is None:
            self.first_record_end = self.bytes + ends[0] + 1
        self.terminated += len(ends)
        self._record_open = self._in_quotes or not data.endswith(_NEWLINE)
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


class CsvRecordSplitter:
    """Cuts CSV bytes fed in pieces of any size into records (without their line feed), where
    :class:`CsvRecordCounter` counts them (:func:`record_ends`)."""

    def __init__(self) -> None:
        self._pending = b""  # the start of the record the next piece continues
        self._in_quotes = False

    def feed(self, data: bytes) -> list[bytes]:
        """The records that ``data`` completes."""
        ends, self._in_quotes = record_ends(data, self._in_quotes)
        if not ends:
            self._pending += data
            return []
        records = [self._pending + data[: ends[0]]]
        records += [data[start + 1 : end] for start, end in pairwise(ends)]
        self._pending = data[ends[-1] + 1 :]
        return records

    def close(self) -> bytes:
        """The last record when the stream does not end with a line feed (else empty)."""
        return self._pending


__all__ = ["CsvRecordCounter", "CsvRecordSplitter", "record_ends"]
