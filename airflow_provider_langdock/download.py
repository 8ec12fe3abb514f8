"""Byte-exact download of one export file from its signed URL, resumed when the connection drops."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from types import TracebackType
from typing import Any, Protocol

import requests

from airflow_provider_langdock.connection import RangePolicy
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
    """Opens a signed URL for streaming (``LangdockHook.open_download``), from byte ``start`` to ``end``.

    ``end`` (inclusive) is only passed for a range fetched over its own connection; an opener used
    without a :class:`RangePolicy` of several connections never receives it.
    """

    def __call__(
        self, url: str, *, start: int = 0, end: int | None = None, if_range: str | None = None
    ) -> requests.Response: ...


class TransferTooSlowError(OSError):
    """One transfer of a file took longer than its deadline; it is resumed like a dropped connection."""


class _TransferDeadline:
    """Cuts a transfer's connection when its deadline passes, so a trickling body cannot hold a task.

    The read timeout bounds each read, not the transfer: a server sending a byte a second never
    trips it. A timer shuts the socket down (waking the blocked read) at ``seconds``.
    """

    def __init__(self, response: requests.Response, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self._timer = None if seconds is None else threading.Timer(seconds, self._cut, args=(response,))
        if self._timer is not None:
            self._timer.daemon = True

    def __enter__(self) -> _TransferDeadline:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()  # the timer thread never outlives the transfer

    def check(self) -> None:
        """Raise :class:`TransferTooSlowError` once the deadline has passed."""
        if self.expired:
            raise TransferTooSlowError(f"no complete transfer within {self.seconds or 0:g} s")

    def _cut(self, response: requests.Response) -> None:
        self.expired = True
        _cut(response)


def _cut(response: requests.Response) -> None:
    """Shut a streamed response's socket down, waking a read blocked on it."""
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
      all, after ``retry``'s backoff (slept on ``retry.clock``): with ``Range: bytes=<received>-``
      when the server accepts ranges, else from the start, skipping the bytes already yielded once
      their CRC-32 matches (a check for a changed file, cheap enough to run over every byte).
    - A refused URL (400, 403, 404 or 410: expired, bad signature, file gone) is replaced once by
      ``refresh`` (a fresh export of the same range). Bytes already yielded must match the new file's
      first bytes; otherwise :class:`LangdockVerificationError`.
    - The byte count is checked against ``Content-Length`` (or the total of ``Content-Range``).
    - One transfer may take ``deadline(size)`` seconds in all (``size``: the announced size or None);
      a slower one is cut and resumed like a dropped connection.
    - With ``ranges`` of several connections (:class:`RangePolicy`), a file large enough whose host
      answers ``Range`` requests and names the file (``ETag`` or ``Last-Modified``, sent back as
      ``If-Range``) is read up to ``range_size`` bytes from the first answer while the rest is fetched
      in ranges over ``ranges.connections`` connections (:class:`_ParallelRanges`); the bytes are
      still yielded in order. A range not served exactly as asked (another status than 206, another
      ``Content-Range``, a refused URL, the deadline) ends that for this file: the rest comes over one
      connection from where the reader stands, as above.

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
        ranges: RangePolicy | None = None,
    ) -> None:
        self.url = url
        self.deadline = deadline
        self.opener = opener
        self.retry = retry
        self.chunk_size = chunk_size
        self.refresh = refresh
        self.ranges = ranges
        self.refreshed = False
        #: Bytes yielded so far.
        self.received = 0
        #: The file's size as announced, once known.
        self.size: int | None = None
        self._transfers = 0
        self._checksum = 0  # CRC-32 of the bytes yielded so far
        self._ranges = False
        self._validator: str | None = None
        self._prefix_checked = True  # False after a refresh, until the new file's start matched
        self._parallel: _ParallelRanges | None = None
        self._handover: int | None = None  # where the answer being read hands over to _parallel
        self._parallel_allowed = ranges is not None and ranges.connections > 1

    @property
    def safe_url(self) -> str:
        """The URL without its signature, for logs and errors."""
        return redact(self.url)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._download()
        finally:
            self._end_parallel()

    def _download(self) -> Iterator[bytes]:
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
            if self._parallel is not None and self.received == self._handover:
                if (yield from self._drain_parallel()):
                    break
                continue
            if self.size is not None and self.received < self.size:
                self._retry_later(f"the body ended after {self.received} of {self.size} bytes")
                continue
            break
        log.info("Downloaded %d bytes from %s.", self.received, self.safe_url)

    @property
    def _complete(self) -> bool:
        """Every announced byte arrived (a connection failing after that loses nothing)."""
        return self._prefix_checked and self.size is not None and self.received == self.size

    def _open(self) -> requests.Response:
        """Open the file where the download stands; a refused URL is replaced once by a fresh export."""
        start = self.received if self.received and self._ranges and self._prefix_checked else 0
        self._transfers += 1
        try:
            return self.opener(self.url, start=start, if_range=self._validator if start else None)
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
        self._end_parallel()  # its ranges come from the refused URL
        self.url = self.refresh()
        self.refreshed = True
        self._transfers -= 1  # a refused URL does not use up the retry budget
        self.size, self._validator, self._ranges = None, None, False
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
        validator = _validator(response)
        if first and self._validator and validator and validator != self._validator:  # If-Range ignored
            raise LangdockVerificationError(
                f"The file at {self.safe_url} changed between attempts (ETag or Last-Modified "
                f"{self._validator!r} -> {validator!r}); nothing was landed."
            )
        self.size = total if total is not None else self.size
        self._ranges = response.status_code == 206 or _accepts_ranges(response)
        self._validator = validator
        self._plan_parallel(first)
        seconds = None if self.deadline is None else self.deadline(self.size)
        with _TransferDeadline(response, seconds) as deadline:
            try:
                for chunk in self._stream(response, first):
                    deadline.check()
                    yield chunk
            except DOWNLOAD_FAILURES:
                deadline.check()  # a failure caused by the deadline's cut says so
                raise

    def _stream(self, response: requests.Response, first: int) -> Iterator[bytes]:
        """The response's new bytes, checked against those already yielded and the announced size.

        It ends at the hand-over to the parallel ranges, if they run.
        """
        skip = self.received - first
        prefix: int | None = 0 if skip else None
        for chunk in response.iter_content(chunk_size=self.chunk_size):
            if prefix is not None:
                head, chunk = chunk[:skip], chunk[skip:]
                prefix = zlib.crc32(head, prefix)
                skip -= len(head)
                if skip:
                    continue
                if prefix != self._checksum:
                    raise LangdockVerificationError(
                        f"The file at {self.safe_url} does not start with the {self.received} bytes "
                        "already streamed, so it changed between attempts; nothing was landed."
                    )
                prefix, self._prefix_checked = None, True
            if self._handover is not None:
                chunk = chunk[: self._handover - self.received]
            if not chunk:
                continue
            self.received += len(chunk)
            if self.size is not None and self.received > self.size:
                raise LangdockVerificationError(
                    f"The download of {self.safe_url} sent more than the {self.size} bytes it announced."
                )
            self._checksum = zlib.crc32(chunk, self._checksum)
            yield chunk
            if self.received == self._handover:
                return
        if prefix is not None:  # ended before the bytes already streamed: try again
            raise requests.exceptions.ChunkedEncodingError("the body ended before the resume point")

    # -- parallel ranges ---------------------------------------------------------------------------

    def _plan_parallel(self, first: int) -> None:
        """Start fetching the rest in parallel ranges when this answer allows it; stop when it forbids it."""
        if self._parallel is not None:
            if self._validator != self._parallel.validator:
                self._fall_back("the file's ETag or Last-Modified changed")
            return
        ranges = self.ranges
        if (
            ranges is None
            or not self._parallel_allowed
            or first != self.received
            or not (self._prefix_checked and self._ranges and self._validator)
            or self.size is None
            or not ranges.applies_to(self.size - self.received)
        ):
            return
        handover = self.received + ranges.range_size
        log.info(
            "Downloading %s (%d bytes) over %d connections, in ranges of %d bytes from byte %d.",
            self.safe_url,
            self.size,
            ranges.connections,
            ranges.range_size,
            handover,
        )
        self._handover = handover
        self._parallel = _ParallelRanges(
            opener=self.opener,
            url=self.url,
            validator=self._validator,
            spans=ranges.spans(handover, self.size),
            connections=ranges.connections,
            range_size=ranges.range_size,
            size=self.size,
            retry=self.retry,
            chunk_size=self.chunk_size,
            seconds=None if self.deadline is None else self.deadline(self.size),
        )

    def _drain_parallel(self) -> Generator[bytes, None, bool]:
        """Yield the parallel ranges in order; True once the file is complete, False after falling back."""
        parallel = self._parallel
        assert parallel is not None
        try:
            while (data := parallel.next_range()) is not None:
                yield from self._hand_on(data)
                parallel.recycle(data)  # before the next range is waited for: memory stays bounded
        except _RangeNotServed as problem:
            self._fall_back(str(problem))
            return False
        self._end_parallel()
        return True

    def _hand_on(self, data: memoryview) -> Iterator[bytes]:
        """One range's bytes, ``chunk_size`` at a time."""
        for offset in range(0, len(data), self.chunk_size):
            chunk = bytes(data[offset : offset + self.chunk_size])
            self.received += len(chunk)
            self._checksum = zlib.crc32(chunk, self._checksum)
            yield chunk

    def _fall_back(self, reason: str) -> None:
        """Stop the parallel ranges for good; the rest of the file comes over one connection."""
        log.warning(
            "The storage host did not serve %s in ranges as asked (%s); downloading the rest from byte %d "
            "over one connection.",
            self.safe_url,
            redact(reason),
            self.received,
        )
        self._end_parallel()
        self._parallel_allowed = False

    def _end_parallel(self) -> None:
        """Stop the parallel ranges, if any, and wait for their threads."""
        if self._parallel is not None:
            self._parallel.close()
        self._parallel, self._handover = None, None

    def _retry_later(self, reason: str) -> None:
        size = "?" if self.size is None else str(self.size)
        if self._transfers >= self.retry.max_attempts:
            raise LangdockDownloadError(
                f"The download of {self.safe_url} broke off after {self.received} of {size} bytes "
                f"({reason}); gave up after {self._transfers} attempts."
            )
        wait = self.retry.backoff(self._transfers)
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
        self.retry.clock.sleep(wait)


class _RangeNotServed(Exception):
    """A range was not served exactly as asked; the rest of the file comes over one connection."""


class _Stopped(Exception):
    """The parallel ranges were stopped while this one was being fetched."""


class _CutShort(OSError):
    """A range's body ended before its last byte (retried like a dropped connection)."""


class _ParallelRanges:
    """Byte ranges of one file fetched over a few connections ahead of the reader, handed on in order.

    Each range of ``spans`` is asked for with ``Range: bytes=<first>-<last>`` and ``If-Range:
    <validator>`` in a pool of ``connections`` threads; at most ``connections + 1`` ranges are asked
    for or held at once, the one :meth:`next_range` returned last included until it is recycled. Their
    bytes go to at most ``connections + 1`` buffers of ``range_size`` bytes, made once and reused (so
    the C allocator's per-thread arenas do not pile up freed buffers either).

    A range must come back as a 206 with exactly its ``Content-Range`` and length, else
    :class:`_RangeNotServed` (a 200 means the host ignores ranges or the file changed). A connection
    dropped or a body cut short is fetched again, up to ``retry.max_attempts`` transfers after its
    backoff, then :class:`LangdockDownloadError`. Every transfer and every wait for a range ends
    ``seconds`` from now (None: no deadline). :meth:`close` stops the transfers and joins the threads.
    """

    def __init__(
        self,
        *,
        opener: DownloadOpener,
        url: str,
        validator: str,
        spans: Iterator[tuple[int, int]],
        connections: int,
        range_size: int,
        size: int,
        retry: RetryPolicy,
        chunk_size: int,
        seconds: float | None,
    ) -> None:
        self.url = url
        self.validator = validator
        self.size = size
        self._opener = opener
        self._retry = retry
        self._chunk_size = chunk_size
        self._spans = spans
        # real time, like the timers that cut a transfer at its deadline (the retry clock may be a test's)
        self._ends_at = None if seconds is None else time.monotonic() + seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active: set[requests.Response] = set()
        self._range_size = range_size
        self._free: list[bytearray] = []  # buffers handed back, for the next ranges
        self._pending: deque[Future[memoryview]] = deque()
        self._pool = ThreadPoolExecutor(connections, thread_name_prefix="langdock-range")
        try:
            for _ in range(connections):
                self._ask_next()
        except BaseException:  # e.g. no thread could be started
            self.close()
            raise

    @property
    def safe_url(self) -> str:
        """The URL without its signature, for logs and errors."""
        return redact(self.url)

    def next_range(self) -> memoryview | None:
        """The next range's bytes in file order, to give back with :meth:`recycle`; None after the last."""
        if not self._pending:
            return None
        future = self._pending.popleft()
        self._ask_next()
        try:
            return future.result(timeout=self._remaining())
        except FutureTimeoutError:
            raise _RangeNotServed("no range arrived within the transfer's deadline") from None

    def recycle(self, data: memoryview) -> None:
        """Give back the buffer of a range returned by :meth:`next_range`, once its bytes are handed on."""
        buffer = data.obj
        data.release()
        assert isinstance(buffer, bytearray)
        with self._lock:
            self._free.append(buffer)

    def close(self) -> None:
        """Stop every transfer (their sockets are shut down) and wait for the threads to end."""
        self._stop.set()
        with self._lock:
            active = list(self._active)
        for response in active:
            _cut(response)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        self._free.clear()

    def _ask_next(self) -> None:
        span = next(self._spans, None)
        if span is not None:
            self._pending.append(self._pool.submit(self._fetch, *span))

    def _remaining(self) -> float | None:
        return None if self._ends_at is None else max(self._ends_at - time.monotonic(), 0.0)

    def _fetch(self, first: int, last: int) -> memoryview:
        """Bytes ``first`` to ``last`` of the file, fetched again after a dropped connection."""
        attempt = 1
        while True:
            try:
                return self._transfer(first, last)
            except TransferTooSlowError as error:
                raise _RangeNotServed(str(error)) from None
            except DOWNLOAD_FAILURES as error:
                if self._stop.is_set():
                    raise _Stopped from None
                reason = str(error) if isinstance(error, _CutShort) else type(error).__name__
                if attempt >= self._retry.max_attempts:
                    raise LangdockDownloadError(
                        f"The download of bytes {first}-{last} of {self.safe_url} broke off ({reason}); "
                        f"gave up after {attempt} attempts."
                    ) from None
                wait = self._retry.backoff(attempt)
                log.warning(
                    "The download of bytes %d-%d of %s broke off (%s); asking again in %.1f s "
                    "(attempt %d of %d).",
                    first,
                    last,
                    self.safe_url,
                    reason,
                    wait,
                    attempt + 1,
                    self._retry.max_attempts,
                )
                attempt += 1
                if self._stop.wait(wait):  # a wait that close() cuts short
                    raise _Stopped from None

    def _transfer(self, first: int, last: int) -> memoryview:
        if self._stop.is_set():
            raise _Stopped
        try:
            response = self._opener(self.url, start=first, end=last, if_range=self.validator)
        except LangdockDownloadError as error:
            raise _RangeNotServed(str(error)) from None
        with response, self._tracked(response), _TransferDeadline(response, self._remaining()) as deadline:
            _check_range_answer(response, first, last, self.size, self.validator)
            try:
                return self._body(response, last - first + 1, deadline)
            except DOWNLOAD_FAILURES:
                deadline.check()  # a failure caused by the deadline's cut says so
                raise

    @contextlib.contextmanager
    def _tracked(self, response: requests.Response) -> Iterator[None]:
        """Make ``response`` one that :meth:`close` cuts, while it is read."""
        with self._lock:
            self._active.add(response)
        try:
            if self._stop.is_set():  # close() may have looked at the active responses already
                raise _Stopped
            yield
        finally:
            with self._lock:
                self._active.discard(response)

    def _body(self, response: requests.Response, length: int, deadline: _TransferDeadline) -> memoryview:
        """Exactly ``length`` bytes of ``response``'s body, in a buffer of the pool."""
        with self._lock:
            buffer = self._free.pop() if self._free else bytearray(self._range_size)
        data = memoryview(buffer)[:length]
        try:
            received = 0
            for chunk in response.iter_content(chunk_size=self._chunk_size):
                if self._stop.is_set():
                    raise _Stopped
                deadline.check()
                if received + len(chunk) > length:
                    raise _RangeNotServed(f"more than the {length} bytes of a range arrived")
                data[received : received + len(chunk)] = chunk
                received += len(chunk)
            if received < length:
                raise _CutShort(f"the range ended after {received} of {length} bytes")
        except BaseException:
            self.recycle(data)
            raise
        return data


def _check_range_answer(
    response: requests.Response, first: int, last: int, size: int, validator: str
) -> None:
    """Raise :class:`_RangeNotServed` unless ``response`` is bytes ``first``-``last`` of ``size`` of the
    file named ``validator`` (its ETag or Last-Modified)."""
    asked = f"bytes {first}-{last}/{size}"
    if response.status_code != 206:
        raise _RangeNotServed(f"it answered {response.status_code} instead of 206 to a request for {asked}")
    if _content_range(response) != (first, last, size) or _encoded(response):
        sent = response.headers.get("Content-Range", "")
        raise _RangeNotServed(f"it sent Content-Range {sent!r} for {asked}")
    length = response.headers.get("Content-Length", "").strip()
    if length and length != str(last - first + 1):
        raise _RangeNotServed(f"it announced {length!r} bytes for {asked}")
    named = _validator(response)
    if named and named != validator:
        raise _RangeNotServed(f"it sent {asked} of a file named {named!r}, not {validator!r}")


def _accepts_ranges(response: requests.Response) -> bool:
    return response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"


def _validator(response: requests.Response) -> str | None:
    """What ``If-Range`` names the file by: its strong ``ETag``, else its ``Last-Modified`` date."""
    etag = response.headers.get("ETag", "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified", "").strip() or None


def _encoded(response: requests.Response) -> bool:
    """The body is compressed, so its byte offsets are not the file's."""
    return response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")


def _content_range(response: requests.Response) -> tuple[int, int | None, int | None] | None:
    """First byte, last byte and total of ``Content-Range: bytes <first>-<last>/<total>`` (None: unusable)."""
    unit, _, spec = response.headers.get("Content-Range", "").strip().partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit.lower() != "bytes" or not first.isdigit():
        return None
    return int(first), int(last) if last.isdigit() else None, int(total) if total.isdigit() else None


def _body_position(response: requests.Response) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None when not announced)."""
    if response.status_code == 206:
        span = _content_range(response)
        if span is None:
            spec = response.headers.get("Content-Range", "").strip().partition(" ")[2]
            raise LangdockVerificationError(
                f"The storage host sent a partial answer with an unusable Content-Range {spec!r}."
            )
        return span[0], span[2]
    length = response.headers.get("Content-Length", "")
    return 0, int(length) if length.isdigit() and not _encoded(response) else None


__all__ = [
    "DOWNLOAD_FAILURES",
    "REFRESHABLE_STATUSES",
    "DownloadOpener",
    "FileDownload",
    "RangePolicy",
    "TransferTooSlowError",
]
