"""Google Cloud Storage destination: a resumable upload fed from the stream, through ``GCSHook``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_provider_langdock.destinations._object_store import ObjectStoreDestination, Upload
from airflow_provider_langdock.destinations.base import DestinationType

DEFAULT_GCP_CONN_ID = "google_cloud_default"
GCS_CHUNK_MULTIPLE = 256 * 1024
GCS_CONSOLE = "https://console.cloud.google.com/storage/browser/_details"


class GCSDestination(ObjectStoreDestination):
    """Write to ``gs://bucket/object`` with the client of ``GCSHook(gcp_conn_id=conn_id)``.

    The bytes go out as a resumable upload of unknown size in chunks of ``part_size`` bytes. GCS
    creates the object only when the request carrying the total size arrives, and that request is
    sent solely by ``CommitOnlyBlobWriter.commit`` once the iterator is exhausted. On any error the
    writer is abandoned instead: the session is cancelled and never finalised, so no object appears.
    """

    scheme = "gs"
    default_conn_id = DEFAULT_GCP_CONN_ID
    part_noun = "chunk"
    buffers_itself = True  # BlobWriter cuts the chunks

    @classmethod
    def check_part_size(cls, part_size: int) -> None:
        """Resumable chunks are positive multiples of 256 KiB."""
        if part_size <= 0 or part_size % GCS_CHUNK_MULTIPLE:
            raise ValueError(
                f"part_size must be a positive multiple of {GCS_CHUNK_MULTIPLE} bytes (256 KiB) for GCS, "
                f"got {part_size}"
            )

    def make_hook(self) -> Any:
        """``GCSHook(gcp_conn_id=conn_id)``."""
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        return GCSHook(gcp_conn_id=self.conn_id)

    def _blob(self) -> Any:
        return self.hook.get_conn().bucket(self.bucket).blob(self.key)

    def exists(self) -> bool:
        """Return whether the object exists (``Blob.exists``)."""
        return bool(self._blob().exists())

    def start_upload(self, content_type: str) -> Upload:
        """A resumable upload session, opened with its first full chunk."""
        from airflow_provider_langdock.destinations._gcs_writer import CommitOnlyBlobWriter

        writer = CommitOnlyBlobWriter(self._blob(), chunk_size=self.part_size, content_type=content_type)
        return _ResumableUpload(writer, self.part_size)

    def openlineage_naming(self) -> tuple[str, str]:
        """``("gs://<bucket>", object name)``."""
        return f"gs://{self.bucket}", self.key

    def lineage_asset(self) -> dict[str, Any]:
        """Named by the Google provider's own asset factory."""
        return {"scheme": "gs", "asset_kwargs": {"bucket": self.bucket, "key": self.key}}

    def console_url(self) -> str:
        """``https://console.cloud.google.com/storage/browser/_details/<bucket>/<object>``."""
        return f"{GCS_CONSOLE}/{quote(self.bucket, safe='')}/{quote(self.key, safe='/')}"


class _ResumableUpload:
    """Chunks go out through the writer; only ``finish`` sends the total size, which finalises."""

    def __init__(self, writer: Any, chunk_size: int) -> None:
        self.writer = writer
        self.chunk_size = chunk_size
        self.sent = 0

    def send(self, part: bytes) -> None:
        self.writer.write(part)
        self.sent += len(part)

    def finish(self, rest: bytes) -> int:
        self.writer.write(rest)
        self.sent += len(rest)
        self.writer.commit()
        return max(1, -(-self.sent // self.chunk_size))

    def abort(self, error: BaseException) -> str:
        self.writer.abandon()
        return "the resumable upload was abandoned, not finalised"


DESTINATION_TYPE = DestinationType(
    name="Google Cloud Storage",
    forms=("gs://<bucket>/<object>",),
    schemes=("gs",),
    parse=GCSDestination.parse,
    default_conn_id=GCSDestination.default_conn_id,
    extra="google",
    hook="GCSHook",
    order=20,
)
