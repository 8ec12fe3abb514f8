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
