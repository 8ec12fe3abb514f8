"""What the object-store destinations (S3, GCS, Azure Blob) share: buffering into parts, one upload
session per write, committed last or aborted, and a lazily created Airflow hook.

A store supplies an :class:`Upload` (send full parts, finish with the remainder, abort) and its hook;
:meth:`ObjectStoreDestination.write` does the rest, so "the object appears only complete" is decided
here once.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterable
from functools import cached_property
from typing import Any, ClassVar, Protocol

from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_PART_SIZE,
    Destination,
    iter_byte_chunks,
    split_bucket_and_key,
)

log = logging.getLogger(__name__)


class Upload(Protocol):
    """One upload session: parts in order, then exactly one of ``finish`` or ``abort``."""

    def send(self, part: bytes) -> None:
        """Send one full part (``part_size`` bytes), or any chunk where the upload buffers itself."""

    def finish(self, rest: bytes) -> int:
        """Send the remainder (possibly empty) and make the object visible; return the part count."""

    def abort(self, error: BaseException) -> str:
        """Discard what was sent, never raising; return what happened, for the log."""


class ObjectStoreDestination(Destination):
    """An object ``key`` in a ``bucket`` (container) of an object store, written through one upload.

    Subclasses set :attr:`scheme`, :attr:`default_conn_id` and :attr:`part_noun`, check the part size in
    :meth:`check_part_size`, create the Airflow hook in :meth:`make_hook` and start an upload in
    :meth:`start_upload`.
    """

    scheme: ClassVar[str]
    default_conn_id: ClassVar[str]
    part_noun: ClassVar[str] = "part"
    buffers_itself: ClassVar[bool] = False
    """True where the store's writer cuts parts itself: chunks go to ``send`` as they come."""

    def __init__(
        self, bucket: str, key: str, *, conn_id: str | None = None, part_size: int = DEFAULT_PART_SIZE
    ) -> None:
        self.check_part_size(part_size)
        self.bucket = bucket
        self.key = key
        self.conn_id = conn_id or self.default_conn_id
        self.part_size = part_size
        self.uri = f"{self.scheme}://{bucket}/{key}"

    @classmethod
    def parse(
        cls, scheme: str, rest: str, conn_id: str | None, part_size: int | None
    ) -> ObjectStoreDestination:
        """The :data:`~.base.Parser` of ``<scheme>://<bucket>/<key>``."""
        bucket, key = split_bucket_and_key(rest)
        size = DEFAULT_PART_SIZE if part_size is None else part_size
        return cls(bucket, key, conn_id=conn_id, part_size=size)

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
        buffer = bytearray()
        written = 0
        log.info("Uploading to %s (%ss of %d bytes)", self.uri, self.part_noun, self.part_size)
        try:
            for chunk in iter_byte_chunks(chunks):
                written += len(chunk)
                if self.buffers_itself:
                    upload.send(chunk)
                    continue
                buffer += chunk
                while len(buffer) >= self.part_size:
                    upload.send(take(buffer, self.part_size))
            parts = upload.finish(take(buffer, len(buffer)))
        except BaseException as error:
            outcome = upload.abort(error)
            log.warning("Upload to %s failed (%s); %s", self.uri, type(error).__name__, outcome)
            raise
        log.info("Wrote %d bytes to %s in %d %s(s)", written, self.uri, parts, self.part_noun)
        return written


def take(buffer: bytearray, size: int) -> bytes:
    """Remove and return the first ``size`` bytes of ``buffer`` (one copy)."""
    with memoryview(buffer) as view:
        part = bytes(view[:size])
    del buffer[:size]
    return part
