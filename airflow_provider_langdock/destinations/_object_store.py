"""What the object-store destinations (S3, GCS, Azure Blob) share: cutting the stream into parts, sending
them through a small pool of uploaders while the download goes on, one upload session per write,
committed last or aborted, and a lazily created Airflow hook.

A store supplies an :class:`Upload` (begin, send numbered parts, complete or put, abort) and its hook;
:meth:`ObjectStoreDestination.write` does the rest, so "the object appears only complete" and "memory
stays bounded" are decided here once.

The caller's thread reads: it runs the chunk iterator (download, record count, verification), cuts
parts of ``part_size`` bytes and numbers them in order. A :class:`PartPipeline` uploads them, at most
``parts_in_flight`` at once (queued or being sent); the reader waits for a free slot before it cuts the
next part, so memory stays near ``(parts_in_flight + 1) * part_size``. The first upload error stops the
reader and propagates; any error drops the queued parts, waits for those being sent, and aborts.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from functools import cached_property
from typing import Any, ClassVar, Protocol

from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_PART_SIZE,
    DEFAULT_PARTS_IN_FLIGHT,
    Destination,
    check_parts_in_flight,
    iter_byte_chunks,
    split_bucket_and_key,
)

log = logging.getLogger(__name__)


class Upload(Protocol):
    """One upload session, driven by :class:`PartPipeline`.

    ``begin`` once before the first part; ``send`` for parts 1, 2, ... (from uploader threads, several at
    once unless the store has ``sequential_parts``); then exactly one of ``complete`` (every part sent),
    ``put`` (the export was smaller than one part, nothing was sent) or ``abort``.
    """

    def begin(self) -> None:
        """Open the session before the first part (S3's CreateMultipartUpload); may do nothing."""

    def send(self, number: int, part: bytes) -> Any:
        """Send part ``number`` (1-based); return what ``complete`` needs of it (ETag, block id...)."""

    def complete(self, receipts: list[Any]) -> None:
        """Make the object visible from the parts' receipts, in part order."""

    def put(self, data: bytes) -> None:
        """Store an export smaller than one part (possibly empty) with one request."""

    def abort(self, error: BaseException, parts_sent: int) -> str:
        """Discard what was sent, never raising; return what happened, for the log."""


class ObjectStoreDestination(Destination):
    """An object ``key`` in a ``bucket`` (container) of an object store, written through one upload.

    Subclasses set :attr:`scheme`, :attr:`default_conn_id` and :attr:`part_noun`, check the part size in
    :meth:`check_part_size`, create the Airflow hook in :meth:`make_hook` and start an upload in
    :meth:`start_upload`.

    :param part_size: bytes per part; ``None`` takes :attr:`default_part_size`.
    :param parts_in_flight: parts queued or being sent at once, 1 to
        :data:`~.base.MAX_PARTS_IN_FLIGHT`; ``None`` takes :attr:`default_parts_in_flight`.
    """

    scheme: ClassVar[str]
    default_conn_id: ClassVar[str]
    part_noun: ClassVar[str] = "part"
    default_part_size: ClassVar[int] = DEFAULT_PART_SIZE
    default_parts_in_flight: ClassVar[int] = DEFAULT_PARTS_IN_FLIGHT
    max_parts: ClassVar[int | None] = None
    """The most parts one object may have, or None for no limit."""
    sequential_parts: ClassVar[bool] = False
    """True where the protocol takes parts one after another (one uploader; the reader still runs ahead)."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        conn_id: str | None = None,
        part_size: int | None = None,
        parts_in_flight: int | None = None,
    ) -> None:
        part_size = self.default_part_size if part_size is None else part_size
        self.check_part_size(part_size)
        self.bucket = bucket
        self.key = key
        self.conn_id = conn_id or self.default_conn_id
        self.part_size = part_size
        self.parts_in_flight = self.default_parts_in_flight if parts_in_flight is None else parts_in_flight
        self.uri = f"{self.scheme}://{bucket}/{key}"

    @property
    def parts_in_flight(self) -> int:
        """Parts queued or being sent at once; memory stays near ``(parts_in_flight + 1) * part_size``."""
        return self._parts_in_flight

    @parts_in_flight.setter
    def parts_in_flight(self, value: int) -> None:
        check_parts_in_flight(value)
        self._parts_in_flight = value

    @classmethod
    def parse(
        cls, scheme: str, rest: str, conn_id: str | None, part_size: int | None
    ) -> ObjectStoreDestination:
        """The :data:`~.base.Parser` of ``<scheme>://<bucket>/<key>``."""
        bucket, key = split_bucket_and_key(rest)
        return cls(bucket, key, conn_id=conn_id, part_size=part_size)

    @classmethod
    @abstractmethod
    def check_part_size(cls, part_size: int) -> None:
        """Raise ``ValueError`` naming ``part_size`` and the store's limits when it is outside them."""

    @abstractmethod
    def make_hook(self) -> Any:
        """The Airflow hook of :attr:`conn_id` (its provider is imported here, not at parse time)."""

    @abstractmethod
    def start_upload(self, content_type: str) -> Upload:
        """A new upload session for the object (sending nothing yet, where the store allows)."""

    @cached_property
    def hook(self) -> Any:
        """The hook, created on first use and shared by ``exists``, ``write`` and the links."""
        return self.make_hook()

    def write(self, chunks: Iterable[bytes], *, content_type: str = DEFAULT_CONTENT_TYPE) -> int:
        """Stream ``chunks`` to the object in parts and return the number of bytes written."""
        upload = self.start_upload(content_type)
        pipeline = PartPipeline(
            upload,
            parts_in_flight=self.parts_in_flight,
            uploaders=1 if self.sequential_parts else self.parts_in_flight,
            max_parts=self.max_parts,
            too_many=f"{self.uri} would need more than {self.max_parts} {self.part_noun}s; raise part_size",
        )
        log.info(
            "Uploading to %s (%ss of %d bytes, up to %d in flight)",
            self.uri,
            self.part_noun,
            self.part_size,
            self.parts_in_flight,
        )
        written = 0
        buffer = PartBuffer(self.part_size)
        try:
            for chunk in iter_byte_chunks(chunks):
                pipeline.check()
                written += len(chunk)
                buffer.fill(chunk, pipeline.submit)
            parts = pipeline.finish(buffer.rest())
        except BaseException as error:
            self._abandon(upload, pipeline, error)
            raise
        log.info("Wrote %d bytes to %s in %d %s(s)", written, self.uri, parts, self.part_noun)
        return written

    def _abandon(self, upload: Upload, pipeline: PartPipeline, error: BaseException) -> None:
        """Stop the uploads (waiting for those being sent), then abort, even if the wait is interrupted."""
        try:
            pipeline.stop()
        finally:
            outcome = upload.abort(error, pipeline.parts_sent)
            log.warning("Upload to %s failed (%s); %s", self.uri, type(error).__name__, outcome)


class _NotSent(Exception):
    """A queued part skipped because the upload is being stopped (never the error that propagates)."""


class PartPipeline:
    """Parts numbered in order by the reading thread, sent by a pool of ``uploaders`` threads.

    At most ``parts_in_flight`` parts are queued or being sent; :meth:`submit` waits for a free slot
    before it joins the next part from the reader's pieces. The first upload error is raised in the
    reading thread by :meth:`check` (between chunks), :meth:`submit` or :meth:`finish`, and no queued
    part starts after it. :meth:`finish` and :meth:`stop` leave no thread running. More than
    ``max_parts`` parts raise ``ValueError(too_many)``.
    """

    def __init__(
        self,
        upload: Upload,
        *,
        parts_in_flight: int,
        uploaders: int,
        max_parts: int | None,
        too_many: str,
    ) -> None:
        self._upload = upload
        self._max_parts = max_parts
        self._too_many = too_many
        self._slots = threading.Semaphore(parts_in_flight)
        self._pool = ThreadPoolExecutor(max_workers=uploaders, thread_name_prefix="langdock-upload")
        self._futures: list[Future[Any]] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.parts_sent = 0
        """Parts whose upload succeeded (for the abort message)."""

    def check(self) -> None:
        """Raise the first upload error, if any."""
        if self._error is not None:
            raise self._error

    def submit(self, pieces: list[bytes | memoryview]) -> None:
        """Queue the next part, joined from ``pieces`` once a slot is free."""
        number = len(self._futures) + 1
        if self._max_parts is not None and number > self._max_parts:
            raise ValueError(self._too_many)
        if number == 1:
            self._upload.begin()
        self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            raise self._error
        future = self._pool.submit(self._send, number, b"".join(pieces))
        future.add_done_callback(self._settle)
        self._futures.append(future)

    def finish(self, rest: list[bytes | memoryview]) -> int:
        """Send the remainder, wait for every part, complete the upload; return the part count."""
        if not self._futures:
            self._upload.put(b"".join(rest))
            self._pool.shutdown()
            return 1
        if rest:
            self.submit(rest)
        wait(self._futures, return_when=FIRST_EXCEPTION)
        self.check()
        self._pool.shutdown()
        self._upload.complete([future.result() for future in self._futures])
        return len(self._futures)

    def stop(self) -> None:
        """Start no further part, drop the queued ones and wait for those being sent."""
        self._stopped.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _send(self, number: int, part: bytes) -> Any:
        """Run in an uploader thread: send the part unless the upload is being stopped."""
        if self._stopped.is_set():
            raise _NotSent(number)
        return self._upload.send(number, part)

    def _settle(self, future: Future[Any]) -> None:
        """Record how the part went, then free its slot (a reader waiting for it sees an error first)."""
        if not future.cancelled():
            self._record(future.exception())
        self._slots.release()

    def _record(self, error: BaseException | None) -> None:
        """Count a sent part, or keep the first upload error and stop the others."""
        with self._lock:
            if error is None:
                self.parts_sent += 1
            elif self._error is None and not isinstance(error, _NotSent):
                self._error = error
                self._stopped.set()


class PartBuffer:
    """The chunks of the next part, kept as they came (a chunk across a part boundary is sliced)."""

    def __init__(self, part_size: int) -> None:
        self._part_size = part_size
        self._pieces: list[bytes | memoryview] = []
        self._filled = 0

    def fill(self, chunk: bytes, full: Callable[[list[bytes | memoryview]], None]) -> None:
        """Add ``chunk``; whenever a part is complete, hand its pieces to ``full`` (which joins them).

        A ``bytearray`` chunk is copied, since its owner may reuse it; ``bytes`` are kept as they are.
        """
        piece: bytes | memoryview = chunk if isinstance(chunk, bytes) else bytes(chunk)
        while self._filled + len(piece) >= self._part_size:
            count = self._part_size - self._filled
            view = memoryview(piece)
            self._pieces.append(view[:count])
            full(self._pieces)
            self._pieces = []
            self._filled = 0
            piece = view[count:]
        if piece:
            self._pieces.append(piece)
            self._filled += len(piece)

    def rest(self) -> list[bytes | memoryview]:
        """The pieces added since the last complete part."""
        return self._pieces
