"""Personal data on the way in: each export's personal columns kept, pseudonymized or dropped.

:class:`PersonalDataFilter` rewrites the verified CSV byte stream of a plan with flat memory, chunk by
chunk (never the whole file): it cuts the bytes into CSV records, finds the catalogue's personal
columns (:mod:`airflow_provider_langdock.columns`) in each and replaces them with keyed pseudonyms or
removes them; every other byte, quoting and line endings included, stays as it was. A record that does
not fit the fast path goes through Python's CSV module. ``keep`` never comes here: that file lands
byte for byte.

A pseudonym is the first 32 hex digits (128 bits) of HMAC-SHA256 over the cell's bytes (its UTF-8
text, unquoted), keyed with the connection's ``pseudonymization_key``: the same value gets the same
pseudonym in every export made with that key, so joins across days and data types still work, while
nobody without the key can compute it. With 128 bits, a collision among a billion distinct values has
a probability below 1e-20. Empty cells stay empty. In JSON cells that the catalogue marks, each
e-mail address is replaced by its pseudonym and the rest of the cell is kept.
"""

from __future__ import annotations

import csv
import hmac
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from hashlib import sha256
from typing import Literal

from airflow_provider_langdock.columns import Column, columns_of_header
from airflow_provider_langdock.csvstream import CsvRecordSplitter
from airflow_provider_langdock.exceptions import LangdockInputError, LangdockVerificationError

log = logging.getLogger(__name__)

PersonalData = Literal["keep", "pseudonymize", "drop"]
PERSONAL_DATA_MODES: tuple[PersonalData, ...] = ("keep", "pseudonymize", "drop")
#: Hex digits of HMAC-SHA256 kept in a pseudonym (128 bits).
PSEUDONYM_LENGTH = 32
#: Shortest ``pseudonymization_key`` accepted (characters).
MIN_KEY_LENGTH = 16
#: Distinct values whose pseudonyms are remembered while one file is rewritten.
PSEUDONYM_CACHE_SIZE = 16384  # about 4 MiB

_BOM = b"\xef\xbb\xbf"
_QUOTE = b'"'
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def check_personal_data(mode: object) -> PersonalData:
    """``mode`` if it is one of :data:`PERSONAL_DATA_MODES`, else a ``LangdockInputError`` naming it."""
    for allowed in PERSONAL_DATA_MODES:
        if mode == allowed:
            return allowed
    raise LangdockInputError(
        f"personal_data must be one of {', '.join(repr(m) for m in PERSONAL_DATA_MODES)}; got {mode!r}."
    )


def check_pseudonymization_key(key: object, name: str = "pseudonymization_key") -> str:
    """The key, stripped, if it is a string of at least :data:`MIN_KEY_LENGTH` characters.

    The message names ``name`` and never holds the value.
    """
    text = key.strip() if isinstance(key, str) else ""
    if len(text) < MIN_KEY_LENGTH:
        raise LangdockInputError(
            f"{name} must be a secret of at least {MIN_KEY_LENGTH} characters, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_hex(32))"`.'
        )
    return text


def pseudonymizer(key: str) -> Callable[[bytes], bytes]:
    """A function giving each value (its UTF-8 bytes) its pseudonym under ``key``, remembering recent ones."""
    secret = key.encode("utf-8")

    @lru_cache(maxsize=PSEUDONYM_CACHE_SIZE)
    def pseudonym(value: bytes) -> bytes:
        return hmac.new(secret, value, sha256).hexdigest()[:PSEUDONYM_LENGTH].encode("ascii")

    return pseudonym


class PersonalDataFilter:
    """Rewrites a CSV byte stream of ``data_type`` with its personal columns pseudonymized or dropped.

    Iterate once over :meth:`rewrite`. Only the personal cells change: every other byte, quoting and
    line endings included, is kept. ``columns`` holds the landed header once it has streamed, ``rows``
    the records rewritten (header included); :meth:`check_rows` compares them with the verified count.
    """

    def __init__(self, data_type: str, mode: PersonalData, key: str | None = None) -> None:
        if mode == "keep":
            raise ValueError("personal_data='keep' lands the file as it is; there is nothing to rewrite.")
        if mode == "pseudonymize" and key is None:
            raise LangdockInputError("personal_data='pseudonymize' needs a pseudonymization_key.")
        self.data_type = data_type
        self.mode = mode
        self.columns: tuple[str, ...] = ()
        self.rows = 0
        self._pseudonym = pseudonymizer(key) if key is not None else None

    def rewrite(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The rewritten CSV, as many records per piece as each chunk completes."""
        records = CsvRecordSplitter()
        edit: Callable[[bytes], bytes] | None = None
        for chunk in chunks:
            complete = records.feed(chunk)
            if not complete:
                continue
            if edit is None:
                edit, header = self._plan(complete[0])
                complete[0] = header
                start = 1
            else:
                start = 0
            complete[start:] = [edit(record) for record in complete[start:]]
            self.rows += len(complete)
            yield b"\n".join(complete) + b"\n"
        last = records.close()
        if last:
            if edit is None:
                _, last = self._plan(last)
            else:
                last = edit(last)
            self.rows += 1
            yield last

    def check_rows(self, records: int) -> None:
        """Raise unless the rewrite saw a header and ``records`` data rows, as the byte count did."""
        if self.rows and self.rows != records + 1:
            raise LangdockVerificationError(
                f"Rewriting the {self.data_type} export's personal data read {self.rows - 1} data rows, "
                f"but the file holds {records}; nothing was landed."
            )

    def _plan(self, header: bytes) -> tuple[Callable[[bytes], bytes], bytes]:
        """The record editor for this header and the landed header; sets ``columns``."""
        bom = _BOM if header.startswith(_BOM) else b""
        names = _decoded_row(header[len(bom) :], self.data_type)
        columns = columns_of_header(self.data_type, names)
        whole = [i for i, column in enumerate(columns) if column.personal]
        inside = [i for i, column in enumerate(columns) if column.json_personal and not column.personal]
        if self.mode == "drop":
            editor = _RowEditor(self.data_type, dropped=sorted(whole + inside))
            self.columns = tuple(name for i, name in enumerate(names) if i not in editor.dropped)
            self._log(columns, whole + inside, "dropped")
            return editor.edit, bom + editor.edit(header[len(bom) :])
        assert self._pseudonym is not None
        self.columns = tuple(names)
        self._log(columns, whole + inside, "pseudonymized")
        editor = _RowEditor(self.data_type, pseudonym=self._pseudonym, whole=whole, inside=inside)
        return editor.edit, header

    def _log(self, columns: Sequence[Column], indexes: Sequence[int], done: str) -> None:
        names = ", ".join(columns[i].name for i in sorted(indexes)) or "none"
        log.info("Personal data of the %s export: columns %s are %s.", self.data_type, names, done)


_FIELD = rb'("(?:[^"]++|"")*+"|[^,"\r\n]*+)'


class _RowEditor:
    """Edits the personal cells of one record in place, leaving every other byte as it was.

    One regular expression finds the fields up to the last personal one; a record it does not fit (a
    short row, stray quotes) goes through Python's CSV module instead.
    """

    def __init__(
        self,
        data_type: str,
        *,
        pseudonym: Callable[[bytes], bytes] | None = None,
        whole: Sequence[int] = (),
        inside: Sequence[int] = (),
        dropped: Sequence[int] = (),
    ) -> None:
        self.data_type = data_type
        self.pseudonym = pseudonym
        self.whole, self.inside, self.dropped = list(whole), list(inside), sorted(dropped)
        touched = [*self.whole, *self.inside, *self.dropped]
        count = max(touched) + 1 if touched else 0
        self._fields = re.compile(b",".join([_FIELD] * count) + rb"(?=,|\r?\Z)") if count else None

    def edit(self, record: bytes) -> bytes:
        if self._fields is None or record in (b"", b"\r"):
            return record
        match = self._fields.match(record)
        if match is None:
            return self._edit_with_csv(record)
        fields = list(match.groups())
        if self.dropped:
            for index in reversed(self.dropped):
                del fields[index]
        else:
            pseudonym = self.pseudonym
            assert pseudonym is not None
            for index in self.whole:
                cell = fields[index]
                if cell and cell != b'""':
                    fields[index] = pseudonym(cell[1:-1].replace(b'""', b'"') if cell[0] == 34 else cell)
            for index in self.inside:
                fields[index] = self._replacement(index, fields[index])
        return b",".join(fields) + record[match.end() :]

    def _replacement(self, index: int, cell: bytes) -> bytes:
        """The cell with its pseudonym, or with pseudonyms for the e-mail addresses in it."""
        value = cell[1:-1].replace(b'""', b'"') if cell.startswith(_QUOTE) else cell
        if not value:
            return cell
        assert self.pseudonym is not None
        if index in self.whole:
            return self.pseudonym(value)
        pseudonym = self.pseudonym
        text = _EMAIL.sub(lambda found: pseudonym(found[0].encode()).decode(), _text(value, self.data_type))
        return _quoted(text.encode("utf-8"))

    def _edit_with_csv(self, record: bytes) -> bytes:
        """The slow path: parse the record, change its cells, write it back (RFC 4180 quoting)."""
        ending = b"\r" if record.endswith(b"\r") else b""
        row = _decoded_row(record[: len(record) - len(ending)], self.data_type)
        width = len(row)
        if self.dropped:
            row = [cell for i, cell in enumerate(row) if i not in self.dropped]
        else:
            for index in (*self.whole, *self.inside):
                if index < width:
                    cell = _quoted(row[index].encode("utf-8"))
                    row[index] = self._replacement(index, cell).decode("utf-8").strip('"')
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(row)
        return out.getvalue().encode("utf-8") + ending


def _decoded_row(record: bytes, data_type: str) -> list[str]:
    """One CSV record's cells; an error names the data type, never the content."""
    try:
        rows = list(csv.reader(io.StringIO(_text(record, data_type), newline=""), strict=True))
    except csv.Error:
        rows = []
    if len(rows) != 1:
        raise LangdockVerificationError(
            f"A record of the {data_type} export is not one CSV row; nothing was landed."
        )
    return rows[0]


def _text(value: bytes, data_type: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise LangdockVerificationError(
            f"The {data_type} export is not UTF-8 text where it holds personal data; nothing was landed."
        ) from None


def _quoted(value: bytes) -> bytes:
    """A CSV cell for ``value``: quoted (quotes doubled) when it needs to be."""
    if any(special in value for special in (b",", b'"', b"\r", b"\n")):
        return b'"' + value.replace(b'"', b'""') + b'"'
    return value


__all__ = [
    "MIN_KEY_LENGTH",
    "PERSONAL_DATA_MODES",
    "PSEUDONYM_LENGTH",
    "PersonalData",
    "PersonalDataFilter",
    "check_personal_data",
    "check_pseudonymization_key",
    "pseudonymizer",
]
