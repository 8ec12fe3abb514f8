"""The :class:`Destination` interface shared by the S3, GCS and local implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

DEFAULT_CONTENT_TYPE = "text/csv"
MIB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MIB
"""Bytes buffered before one part (S3) or chunk (GCS) is sent; memory stays within a small multiple."""


class Destination(ABC):
    """Where an export is streamed to: one object or file, written atomically.

    ``write`` consumes an iterator of byte chunks with memory bounded by the part size, never by the
    size of the export. The target becomes visible only once every byte has been written; on any
    exception (raised by the iterator or by the storage) nothing is left behind and the original
    exception propagates.
    """

    uri: str

    @abstractmethod
    def exists(self) -> bool:
        """Return whether the target object or file already exists."""

    @abstractmethod
    def write(self, chunks: Iterable[bytes], *, content_type: str = DEFAULT_CONTENT_TYPE) -> int:
        """Stream ``chunks`` to the target atomically and return the number of bytes written."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


def iter_byte_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the non-empty chunks, refusing anything that is not bytes-like (e.g. ``str``)."""
    for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray):
            raise TypeError(f"Destination.write expects bytes chunks, got {type(chunk).__name__}")
        if chunk:
            yield chunk
