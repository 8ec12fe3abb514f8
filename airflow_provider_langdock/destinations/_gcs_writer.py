"""A ``BlobWriter`` that can finalise an object only through an explicit :meth:`commit`.

Imported lazily by :mod:`.gcs` because it needs google-cloud-storage at import time.

Why not the plain ``BlobWriter`` (``blob.open("wb")``): a resumable upload of unknown size is
finalised by the first request that carries the total size, and ``BlobWriter`` sends that request
from ``close()``. ``close()`` also runs from ``io.IOBase.__del__`` when a writer that was never
closed is garbage-collected, and, before google-cloud-storage 3.0, from ``__exit__`` even when the
block raised (googleapis/python-storage#1228), so a writer dropped after an error can commit a
truncated object. The 3.x ``terminate()`` closes the buffer only after its DELETE request
succeeded, and sends that DELETE to the initiation URL rather than the session URL, so the session
is not actually cancelled. Here every path except :meth:`commit` abandons the upload, and
:meth:`abandon` cancels the session at its own URL (best effort: an unfinalised session is never
visible and GCS discards it after a week).

``BlobWriter`` also copies every chunk twice (into its ``SlidingBuffer``, then out of it for the
request), so a chunk in flight costs three times its size. :class:`PieceBuffer` takes the buffer's
place and hands a chunk written whole to the request as the very same ``bytes`` object.
"""

from __future__ import annotations

import logging
from typing import Any

from google.cloud.storage.fileio import BlobWriter

log = logging.getLogger(__name__)

CANCEL_TIMEOUT_SECONDS = 30.0
# GCS answers a DELETE on a resumable session with 499 ("Client Closed Request") once cancelled.
_CANCELLED_STATUSES = frozenset({200, 204, 499})


class CommitOnlyBlobWriter(BlobWriter):
    """Resumable-upload writer: full chunks go out from ``write``; only ``commit`` finalises."""

    _finished: bool = False  # a class default, so even a half-constructed writer reads as open

    def __init__(self, blob: Any, *, chunk_size: int, content_type: str) -> None:
        super().__init__(blob, chunk_size=chunk_size, content_type=content_type)
        self._buffer = PieceBuffer()  # instead of the copying SlidingBuffer: same interface

    @property
    def closed(self) -> bool:
        """True once committed or abandoned; ``io.IOBase.__del__`` then leaves the writer alone."""
        return self._finished

    def commit(self) -> None:
        """Send the buffered remainder as the final chunk, which makes the object visible."""
        if self._finished:
            raise ValueError("The upload was already committed or abandoned")
        BlobWriter.close(self)  # the one call that sends the total size, i.e. finalises
        self._finished = True

    def abandon(self) -> None:
        """Give up without finalising: cancel the resumable session if one was opened. Never raises."""
        if self._finished:
            return
        self._finished = True
        upload_and_transport = getattr(self, "_upload_and_transport", None)
        if not upload_and_transport:
            return  # no request was sent yet, so there is no session to cancel
        upload, transport = upload_and_transport
        session_url = getattr(upload, "resumable_url", None)
        if not session_url:
            return
        try:
            response = transport.delete(session_url, timeout=CANCEL_TIMEOUT_SECONDS)
        except Exception as error:
            log.warning(
                "Could not cancel the resumable upload session (%s); it was not finalised and "
                "expires on its own",
                type(error).__name__,
            )
            return
        if response.status_code not in _CANCELLED_STATUSES:
            log.warning(
                "Cancelling the resumable upload session returned HTTP %s; it was not finalised and "
                "expires on its own",
                response.status_code,
            )

    def close(self) -> None:
        """Abandon unless committed (also what garbage collection and ``with`` blocks call)."""
        self.abandon()

    def terminate(self) -> None:
        """Same as :meth:`abandon` (replaces the base class's cancellation)."""
        self.abandon()

    def __exit__(self, exc_type: object, exc_value: object, traceback: object) -> None:
        """Leaving a ``with`` block without :meth:`commit` abandons the upload."""
        self.abandon()


class PieceBuffer:
    """``SlidingBuffer``'s interface (``google.cloud.storage.fileio``) over the written objects themselves.

    The resumable upload reads its chunks from here; reading exactly one written ``bytes`` object from
    its start returns that object, without a copy. As in ``SlidingBuffer``, ``tell`` counts every byte
    read, ``seek`` goes back only within what has not been flushed, ``flush`` drops what was read and
    ``len`` is what is held.
    """

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._held = 0  # bytes in _pieces
        self._index = 0  # the piece the read position is in
        self._offset = 0  # the read position within that piece
        self._cursor = 0  # bytes read since the start, as tell() reports
        self._closed = False

    def write(self, data: bytes) -> int:
        """Append ``data`` (kept as it is when it is ``bytes``) without moving the read position."""
        self._check_open()
        if data:
            self._pieces.append(bytes(data))
            self._held += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all, if negative) and move the position past them."""
        self._check_open()
        remaining = self._held - self._consumed()
        size = remaining if size < 0 else min(size, remaining)
        if self._offset == 0 and self._index < len(self._pieces) and len(self._pieces[self._index]) == size:
            self._index += 1
            self._cursor += size
            return self._pieces[self._index - 1]
        taken: list[bytes] = []
        while size > 0:
            piece = self._pieces[self._index]
            count = min(size, len(piece) - self._offset)
            taken.append(piece[self._offset : self._offset + count])
            self._advance(count)
            size -= count
        return b"".join(taken)

    def flush(self) -> None:
        """Drop the bytes already read."""
        self._check_open()
        kept = self._pieces[self._index :]
        if kept and self._offset:
            kept[0] = kept[0][self._offset :]
        self._pieces = kept
        self._held = sum(len(piece) for piece in kept)
        self._index = self._offset = 0

    def tell(self) -> int:
        """Bytes read since the start (flushed ones included)."""
        return self._cursor

    def seek(self, position: int) -> int:
        """Go back to ``position``, which must not be before the bytes still held nor after ``tell``."""
        self._check_open()
        start = self._cursor - self._consumed()
        if not start <= position <= self._cursor:
            raise ValueError("Cannot seek() to that value.")
        self._index = self._offset = 0
        self._cursor = start
        self._advance(position - start)
        return self._cursor

    def __len__(self) -> int:
        return self._held

    def close(self) -> None:
        """Release every piece."""
        self._pieces = []
        self._held = 0
        self._closed = True

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file.")

    def _consumed(self) -> int:
        """Bytes read from the pieces still held."""
        return sum(len(piece) for piece in self._pieces[: self._index]) + self._offset

    def _advance(self, count: int) -> None:
        """Move the read position ``count`` bytes forward."""
        self._cursor += count
        while count > 0:
            step = min(count, len(self._pieces[self._index]) - self._offset)
            self._offset += step
            count -= step
            if self._offset == len(self._pieces[self._index]):
                self._index += 1
                self._offset = 0
