"""Landing an export plan at a destination: its parts in time order, verified, as one CSV file.

Each part's file is downloaded byte-exactly (:class:`~airflow_provider_langdock.download.FileDownload`:
resumed after a dropped connection, fetched again through a fresh export when its URL was refused, in
ranges over several connections when the connection's ``download_connections`` asks for it), its
records are counted as they stream by, in order, and compared with Langdock's ``recordCount``. The
first part's header line is kept and the other parts' identical headers are dropped. Any mismatch
raises :class:`LangdockVerificationError` from inside the byte stream, so the destination aborts its
upload and nothing lands.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

import requests

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.columns import columns_of_header
from airflow_provider_langdock.connection import LangdockSettings
from airflow_provider_langdock.csvstream import CsvRecordCounter
from airflow_provider_langdock.destinations import Destination
from airflow_provider_langdock.download import FileDownload
from airflow_provider_langdock.exceptions import LangdockVerificationError
from airflow_provider_langdock.hooks.langdock import DEFAULT_CHUNK_SIZE
from airflow_provider_langdock.lineage import report_hook_lineage
from airflow_provider_langdock.personal_data import PersonalData, PersonalDataFilter
from airflow_provider_langdock.planning import ExportPlan
from airflow_provider_langdock.progress import PROGRESS_INTERVAL, TransferProgress

log = logging.getLogger(__name__)

#: A header line longer than this is taken for a file without one.
MAX_HEADER_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class ExportClient(Protocol):
    """What landing needs of ``LangdockHook``: fresh exports and downloads."""

    @property
    def settings(self) -> LangdockSettings: ...

    def run_export(self, request: ExportRequest) -> ExportResult: ...

    def open_download(
        self, url: str, *, start: int = 0, end: int | None = None, if_range: str | None = None
    ) -> requests.Response: ...


@dataclass(frozen=True)
class Landing:
    """A landed export: the plan as downloaded (parts fetched again carry their fresh result)."""

    plan: ExportPlan
    destination: str
    bytes: int
    #: The landed CSV header's column names (empty for a file without a header line).
    columns: tuple[str, ...] = ()
    #: What was done with personal data: ``keep``, ``pseudonymize`` or ``drop``.
    personal_data: PersonalData = "keep"

    def to_dict(self) -> dict[str, Any]:
        """The export's metadata plus ``destination``, ``bytes``, ``columns`` and ``personal_data``.

        When personal data was pseudonymized or dropped, the download URLs are left out (None): they
        lead to Langdock's original file.
        """
        metadata = {
            **self.plan.to_dict(),
            "destination": self.destination,
            "bytes": self.bytes,
            "columns": list(self.columns),
            "personal_data": self.personal_data,
        }
        if self.personal_data != "keep":
            metadata["download_url"] = None
            metadata["parts"] = [{**part, "download_url": None} for part in metadata["parts"]]
        return metadata


def land_plan(
    client: ExportClient,
    plan: ExportPlan,
    destination: Destination,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress_interval: float = PROGRESS_INTERVAL,
    monotonic: Callable[[], float] = time.monotonic,
    personal_data: PersonalData = "keep",
    pseudonymization_key: str | None = None,
) -> Landing:
    """Stream ``plan`` as one CSV file to ``destination``; it appears complete and verified, or not at all.

    While it streams, a progress line is logged at most every ``progress_interval`` seconds of
    ``monotonic`` and at 25, 50 and 75 % (:class:`~airflow_provider_langdock.progress.TransferProgress`).
    With ``personal_data`` ``pseudonymize`` (keyed by ``pseudonymization_key``) or ``drop``, the
    verified bytes pass through a :class:`~airflow_provider_langdock.personal_data.PersonalDataFilter`.
    """
    stream = PlanStream(
        client, plan, chunk_size=chunk_size, progress_interval=progress_interval, monotonic=monotonic
    )
    data_type = plan.request.data_type.name
    rewriter = None
    if personal_data != "keep":
        rewriter = PersonalDataFilter(data_type, personal_data, pseudonymization_key)
    parts = sum(1 for part in plan.parts if part.result)
    log.info("Streaming %d records (%d file(s)) to %s.", plan.record_count, parts, destination.uri)
    written = destination.write(stream if rewriter is None else _rewritten(rewriter, stream))
    log.info("Landed %d records, %d bytes, at %s.", stream.records, written, destination.uri)
    report_hook_lineage(client, plan.request, destination)
    if rewriter is None:
        columns_of_header(data_type, stream.columns)  # warns about columns the catalogue lacks
        columns = tuple(stream.columns)
    else:
        columns = rewriter.columns
    return Landing(stream.plan, destination.uri, written, columns, personal_data)


def _rewritten(rewriter: PersonalDataFilter, stream: PlanStream) -> Iterator[bytes]:
    """The rewritten stream; at its end, the rows rewritten must be the rows verified."""
    yield from rewriter.rewrite(stream)
    rewriter.check_rows(stream.records)


class PlanStream:
    """The CSV file of a plan as verified bytes: one header line, then every part's rows in order.

    Iterate once. A one-part plan yields exactly Langdock's file. ``plan`` is updated when a part is
    exported again because its URL was refused; ``records`` counts the data rows streamed and
    ``columns`` holds the header's column names once it has streamed. Progress is logged as the
    bytes download (``progress_interval`` seconds of ``monotonic`` apart, and at each quarter).
    """

    def __init__(
        self,
        client: ExportClient,
        plan: ExportPlan,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress_interval: float = PROGRESS_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.plan = plan
        self.chunk_size = chunk_size
        self.records = 0
        self.columns: list[str] = []
        self.progress_interval = progress_interval
        self.monotonic = monotonic

    def __iter__(self) -> Iterator[bytes]:
        header: bytes | None = None
        last_byte = b"\n"
        indexes = [index for index, part in enumerate(self.plan.parts) if part.result]
        progress = TransferProgress(
            total_rows=self.plan.record_count,
            parts=len(indexes),
            interval=self.progress_interval,
            monotonic=self.monotonic,
        )
        for number, index in enumerate(indexes, 1):
            name = self._name(index, number, len(indexes))
            progress.start_part(number, self.plan.parts[index].request.describe())
            head, rest = _split_header(self._verified(index, name, progress), name)
            if header is None:
                header = head
                self.columns = _columns(head)
                if head:
                    yield head
                    last_byte = head[-1:]
            elif _normalized(head) != _normalized(header):
                raise LangdockVerificationError(
                    f"The header of {name} differs from the first part's, so the parts cannot form one "
                    f"CSV file: {_snippet(head)!r} vs {_snippet(header)!r}."
                )
            part_started = False
            for chunk in rest:
                if not chunk:
                    continue
                if not part_started and last_byte != b"\n":  # the previous part ended without a line break
                    yield b"\r\n" if header.endswith(b"\r\n") else b"\n"
                part_started = True
                yield chunk
                last_byte = chunk[-1:]

    def _name(self, index: int, number: int, count: int) -> str:
        described = self.plan.parts[index].request.describe()
        return f"file of part {number} of {count} ({described})" if count > 1 else f"file of the {described}"

    def _verified(self, index: int, name: str, progress: TransferProgress) -> Iterator[bytes]:
        """Part ``index``'s file, byte-exact, fed to ``progress``; its rows are checked at its end."""
        result = self.plan.parts[index].result
        assert result is not None
        counter = CsvRecordCounter()
        download = FileDownload(
            result.download_url,
            opener=self.client.open_download,
            retry=self.client.settings.retry,
            chunk_size=self.chunk_size,
            refresh=lambda: self._refresh(index),
            deadline=self.client.settings.transfer_deadline,
            ranges=self.client.settings.ranges,
        )
        for chunk in download:
            counter.feed(chunk)
            progress.advance(len(chunk), self.records + counter.data_rows, download.size)
            yield chunk
        expected = self.plan.parts[index].record_count  # of the fresh export, if there was one
        if counter.in_quotes:
            raise LangdockVerificationError(
                f"The {name} ends inside a quoted field after {counter.bytes} bytes: it is cut short."
            )
        if counter.data_rows != expected:
            raise LangdockVerificationError(
                f"The {name} holds {counter.data_rows} data rows in {counter.bytes} bytes, but Langdock "
                f"reported {expected} (recordCount)."
            )
        self.records += counter.data_rows
        log.info("Verified the %s: %d rows, %d bytes.", name, counter.data_rows, counter.bytes)

    def _refresh(self, index: int) -> str:
        """Export part ``index`` again for a fresh download URL; the plan keeps the new result."""
        result = self.client.run_export(self.plan.parts[index].request)
        self.plan = self.plan.with_result(index, result)
        return result.download_url


def _split_header(chunks: Iterator[bytes], name: str) -> tuple[bytes, Iterator[bytes]]:
    """The first line (record) of a byte stream, with its line break, and an iterator of the rest."""
    counter = CsvRecordCounter()
    held = bytearray()
    for chunk in chunks:
        counter.feed(chunk)
        held += chunk
        if counter.first_record_end is not None:
            end = counter.first_record_end
            return bytes(held[:end]), chain([bytes(held[end:])], chunks)
        if len(held) > MAX_HEADER_BYTES:
            raise LangdockVerificationError(
                f"The {name} has no header line within its first {MAX_HEADER_BYTES} bytes."
            )
    return bytes(held), iter(())


def _normalized(header: bytes) -> bytes:
    return header.removeprefix(_BOM).rstrip(b"\r\n")


def _columns(header: bytes) -> list[str]:
    """The column names of a CSV header line (empty if it cannot be read as one)."""
    text = _normalized(header).decode("utf-8", "replace")
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return []


def _snippet(header: bytes, limit: int = 120) -> str:
    text = _normalized(header).decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["DEFAULT_CHUNK_SIZE", "ExportClient", "Landing", "PlanStream", "land_plan"]
