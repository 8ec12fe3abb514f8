"""Byte-exact download of one export file from its signed URL, resumed when the connection drops."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Protocol

import requests

from airflow_provider_langdock import retries
from airflow_provider_langdock.exceptions import LangdockDownloadError, LangdockVerificationError
from airflow_provider_langdock.redaction import redact
from airflow_provider_langdock.retries import RetryPolicy

log = logging.getLogger(__name__)

#: Statuses of the storage host that a fresh export can cure: an expired or refused signature
#: (400, 403) or a file that is gone (404, 410).
REFRESHABLE_STATUSES = frozenset({400, 403, 404, 410})
#: What a dropped connection or a body cut short looks like while reading.
DOWNLOAD_FAILURES: tuple[type[BaseException], ...] = (requests.RequestException, OSError)


class DownloadOpener(Protocol):
    """Opens a signed URL for streaming (``LangdockHook.open_download``)."""

    def __call__(self, url: str, *, start: int = 0, if_range: str | None = None) -> requests.Response: ...


def _sleep(seconds: float) -> None:
    retries._sleep(seconds)  # the retry waits' one sleeping point (tests replace it)


class TransferTooSlowError(OSError):
    """One transfer of a file took longer than its deadline; it is resumed like a dropped connection."""


class _TransferDeadline:
    """Cuts a transfer's connection when its deadline passes, so a trickling body cannot hold a task.

    The read timeout bounds each read, not the transfer: a server sending a byte a second never
    trips it. A timer shuts the socket down (waking the blocked read) at ``seconds``.
    """

    def __init__(self, response: requests.Response, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._timer = threading.Timer(seconds, self._cut, args=(response,))
        self._timer.daemon = True

    def __enter__(self) -> _TransferDeadline:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()

    def check(self) -> None:
        """Raise :class:`TransferTooSlowError` once the deadline has passed."""
        if self.expired:
            raise TransferTooSlowError(f"no complete transfer within {self.seconds:g} s")

    def _cut(self, response: requests.Response) -> None:
        self.expired = True
        sock = _socket_of(response)
        if sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket a streamed response reads from (urllib3's connection, else http.client's file)."""
    raw: Any = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        with contextlib.suppress(AttributeError):
            sock = raw._fp.fp.raw._sock  # HTTP/1.0: http.client already let go of the connection
    return sock if isinstance(sock, socket.socket) else None


class FileDownload:
    """Streams one export file; the bytes it yields are exactly the file's bytes, in order.

    - A connection dropped or a body cut short is resumed, up to ``retry.max_attempts`` transfers in
      all, after a backoff: with ``Range: bytes=<received>-`` when the server accepts ranges, else
      from the start, skipping the bytes already yielded once their SHA-256 matches.
    - A refused URL (400, 403, 404 or 410: expired, bad signature, file gone) is replaced once by
      ``refresh`` (a fresh export of the same range). Bytes already yielded must match the new file's
      first bytes; otherwise :class:`LangdockVerificationError`.
    - The byte count is checked against ``Content-Length`` (or the total of ``Content-Range``).
    - One transfer may take ``deadline(size)`` seconds in all (``size``: the announced size or None);
      a slower one is cut and resumed like a dropped connection.

    Iterate once. ``url`` is the URL in use (it changes on refresh).
    """

    def __init__(
        self,
        url: str,
        *,
        opener: DownloadOpener,
        retry: RetryPolicy,
        chunk_size: int,
        refresh: Callable[[], str] | None = None,
        deadline: Callable[[int | None], float] | None = None,
    ) -> None:
        self.url = url
        self.deadline = deadline
        self.opener = opener
        self.retry = retry
        self.chunk_size = chunk_size
        self.refresh = refresh
        self.refreshed = False
        #: Bytes yielded so far.
        self.received = 0
        #: The file's size as announced, once known.
        self.size: int | None = None
        self._transfers = 0
        self._digest = hashlib.sha256()
        self._ranges = False
        self._etag: str | None = None
        self._prefix_checked = True  # False after a refresh, until the new file's start matched

    @property
    def safe_url(self) -> str:
        """The URL without its signature, for logs and errors."""
        return redact(self.url)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            response = self._open()
            try:
                with response:
                    yield from self._read(response)
            except TransferTooSlowError as error:
                if not self._complete:
                    self._retry_later(str(error))
                    continue
            except DOWNLOAD_FAILURES as error:
                if not self._complete:
                    self._retry_later(type(error).__name__)
                    continue
            if self.size is not None and self.received < self.size:
                self._retry_later(f"the body ended after {self.received} of {self.size} bytes")
                continue
            log.info("Downloaded %d bytes from %s.", self.received, self.safe_url)
            return

    @property
    def _complete(self) -> bool:
        """Every announced byte arrived (a connection failing after that loses nothing)."""
        return self._prefix_checked and self.size is not None and self.received == self.size

    def _open(self) -> requests.Response:
        """Open the file where the download stands; a refused URL is replaced once by a fresh export."""
        start = self.received if self.received and self._ranges and self._prefix_checked else 0
        self._transfers += 1
        try:
            return self.opener(self.url, start=start, if_range=self._etag if start else None)
        except LangdockDownloadError as error:
            refused = error.http_status in REFRESHABLE_STATUSES
            if refused and self.refreshed:
                raise LangdockDownloadError(
                    f"{error} The URL of a fresh export of the same range was refused too.",
                    http_status=error.http_status,
                ) from None
            if not refused or self.refresh is None:
                raise
            log.warning("%s Asking Langdock for a fresh export of the same range.", error)
        self.url = self.refresh()
        self.refreshed = True
        self._transfers -= 1  # a refused URL does not use up the retry budget
        self.size, self._etag, self._ranges = None, None, False
        self._prefix_checked = self.received == 0  # a new file must start with the bytes already sent
        return self._open()

    def _read(self, response: requests.Response) -> Iterator[bytes]:
        first, total = _body_position(response)
        if first not in (0, self.received):
            raise LangdockVerificationError(
                f"The storage host answered the download of {self.safe_url} from byte {first}, "
                f"not from byte {self.received} as asked."
            )
        if total is not None and self.size is not None and total != self.size:
            raise LangdockVerificationError(
                f"The file at {self.safe_url} changed size between attempts ({self.size} -> {total} bytes)."
            )
        self.size = total if total is not None else self.size
        self._ranges = response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
        etag = response.headers.get("ETag")
        self._etag = etag if etag and not etag.startswith("W/") else None
        if self.deadline is None:
            yield from self._stream(response, first)
            return
        with _TransferDeadline(response, self.deadline(self.size)) as deadline:
            try:
                for chunk in self._stream(response, first):
                    deadline.check()
                    yield chunk
            except DOWNLOAD_FAILURES:
                deadline.check()  # a failure caused by the deadline's cut says so
                raise

    def _stream(self, response: requests.Response, first: int) -> Iterator[bytes]:
        """The response's new bytes, checked against those already yielded and the announced size."""
        skip = self.received - first
        prefix = hashlib.sha256() if skip else None
        for chunk in response.iter_content(chunk_size=self.chunk_size):
            if prefix is not None:
                head, chunk = chunk[:skip], chunk[skip:]
                prefix.update(head)
                skip -= len(head)
                if skip:
                    continue
                if prefix.digest() != self._digest.digest():
                    raise LangdockVerificationError(
                        f"The file at {self.safe_url} does not start with the {self.received} bytes "
                        "already streamed, so it changed between attempts; nothing was landed."
                    )
                prefix, self._prefix_checked = None, True
            if not chunk:
                continue
            self.received += len(chunk)
            if self.size is not None and self.received > self.size:
                raise LangdockVerificationError(
                    f"The download of {self.safe_url} sent more than the {self.size} bytes it announced."
                )
            self._digest.update(chunk)
            yield chunk
        if prefix is not None:  # ended before the bytes already streamed: try again
            raise requests.exceptions.ChunkedEncodingError("the body ended before the resume point")

    def _retry_later(self, reason: str) -> None:
        size = "?" if self.size is None else str(self.size)
        if self._transfers >= self.retry.max_attempts:
            raise LangdockDownloadError(
                f"The download of {self.safe_url} broke off after {self.received} of {size} bytes "
                f"({reason}); gave up after {self._transfers} attempts."
            )
        wait = min(self.retry.initial_wait * 2 ** (self._transfers - 1), self.retry.max_wait)
        how = "with a Range request" if self._ranges and self._prefix_checked else "from the start"
        log.warning(
            "The download of %s broke off after %d of %s bytes (%s); resuming %s in %.1f s "
            "(attempt %d of %d).",
            self.safe_url,
            self.received,
            size,
            reason,
            how,
            wait,
            self._transfers + 1,
            self.retry.max_attempts,
        )
        _sleep(wait)


def _body_position(response: requests.Response) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None when not announced)."""
    headers = response.headers
    encoded = headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
    if response.status_code == 206:
        unit, _, spec = headers.get("Content-Range", "").partition(" ")
        span, _, total = spec.partition("/")
        first, _, _ = span.partition("-")
        if unit != "bytes" or not first.isdigit():
            raise LangdockVerificationError(
                f"The storage host sent a partial answer with an unusable Content-Range {spec!r}."
            )
        return int(first), int(total) if total.isdigit() else None
    length = headers.get("Content-Length", "")
    return 0, int(length) if length.isdigit() and not encoded else None


__all__ = [
    "DOWNLOAD_FAILURES",
    "REFRESHABLE_STATUSES",
    "DownloadOpener",
    "FileDownload",
    "TransferTooSlowError",
]
