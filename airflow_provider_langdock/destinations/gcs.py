"""Google Cloud Storage destination: a resumable upload fed from the stream, through ``GCSHook``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_PART_SIZE,
    Destination,
    iter_byte_chunks,
)

log = logging.getLogger(__name__)

DEFAULT_GCP_CONN_ID = "google_cloud_default"
GCS_CHUNK_MULTIPLE = 256 * 1024


class GCSDestination(Destination):
    """Write to ``gs://bucket/object`` with the client of ``GCSHook(gcp_conn_id=conn_id)``.

    The bytes go out as a resumable upload of unknown size in chunks of ``part_size`` bytes. GCS
    creates the object only when the request carrying the total size arrives, and that request is
    sent solely by ``CommitOnlyBlobWriter.commit`` once the iterator is exhausted. On any error the
    writer is abandoned instead: the session is cancelled and never finalised, so no object appears.
    """

    def __init__(
        self,
        bucket: str,
        object_name: str,
        *,
        conn_id: str = DEFAULT_GCP_CONN_ID,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size <= 0 or part_size % GCS_CHUNK_MULTIPLE:
            raise ValueError(
                f"part_size must be a positive multiple of {GCS_CHUNK_MULTIPLE} bytes (256 KiB) for GCS, "
                f"got {part_size}"
            )
        self.bucket = bucket
        self.object_name = object_name
        self.conn_id = conn_id
        self.part_size = part_size
        self.uri = f"gs://{bucket}/{object_name}"

    @cached_property
    def _hook(self) -> Any:
        """The ``GCSHook``, created on first use and shared by ``exists`` and ``write``."""
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        return GCSHook(gcp_conn_id=self.conn_id)

    def _blob(self) -> Any:
        return self._hook.get_conn().bucket(self.bucket).blob(self.object_name)

    def exists(self) -> bool:
        """Return whether the object exists (``Blob.exists``)."""
        return bool(self._blob().exists())

    def write(self, chunks: Iterable[bytes], *, content_type: str = DEFAULT_CONTENT_TYPE) -> int:
        """Stream ``chunks`` to the object and return the number of bytes written."""
        from airflow_provider_langdock.destinations._gcs_writer import CommitOnlyBlobWriter

        writer = CommitOnlyBlobWriter(self._blob(), chunk_size=self.part_size, content_type=content_type)
        written = 0
        log.info("Uploading to %s (resumable, chunks of %d bytes)", self.uri, self.part_size)
        try:
            for chunk in iter_byte_chunks(chunks):
                writer.write(chunk)
                written += len(chunk)
            writer.commit()
        except BaseException as error:
            writer.abandon()
            log.warning(
                "Upload to %s failed (%s); the resumable upload was abandoned, not finalised",
                self.uri,
                type(error).__name__,
            )
            raise
        parts = max(1, -(-written // self.part_size))
        log.info("Wrote %d bytes to %s in %d chunk(s)", written, self.uri, parts)
        return written
