"""Google Cloud Storage destination: a resumable upload fed from the stream, through ``GCSHook``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_provider_langdock.destinations._object_store import ObjectStoreDestination, Upload
from airflow_provider_langdock.destinations.base import MIB, DestinationType

DEFAULT_GCP_CONN_ID = "google_cloud_default"
GCS_CHUNK_MULTIPLE = 256 * 1024
GCS_DEFAULT_CHUNK_SIZE = 24 * MIB
GCS_CONSOLE = "https://console.cloud.google.com/storage/browser/_details"


class GCSDestination(ObjectStoreDestination):
    """Write to ``gs://bucket/object`` with the client of ``GCSHook(gcp_conn_id=conn_id)``.

    The bytes go out as a resumable upload of unknown size in chunks of ``part_size`` bytes, sent one
    after another by one uploader thread while the download goes on (up to ``parts_in_flight`` chunks
    queued or in flight). GCS creates the object only when the request carrying the total size
    arrives, and that request is sent solely by ``CommitOnlyBlobWriter.commit`` once the iterator is
    exhausted. On any error the writer is abandoned instead: the session is cancelled and never
    finalised, so no object appears.
    """

    scheme = "gs"
    default_conn_id = DEFAULT_GCP_CONN_ID
    part_noun = "chunk"
    sequential_parts = True  # a resumable upload takes its chunks in order, one at a time
    # Fewer, larger chunks: each chunk is one request, answered before the next may start. One chunk in
    # flight while the reader fills the next keeps memory near 2 x 24 MiB.
    default_part_size = GCS_DEFAULT_CHUNK_SIZE
    default_parts_in_flight = 1

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
        return _ResumableUpload(writer)

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
    """Chunks go out through the writer, one after another; only ``complete``/``put`` finalise."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def begin(self) -> None:
        """Nothing yet: the writer opens the session with its first chunk."""

    def send(self, number: int, part: bytes) -> None:
        """One full chunk (parts arrive in order from the single uploader thread)."""
        self.writer.write(part)

    def complete(self, receipts: list[None]) -> None:
        """The final request, carrying the total size: the object appears."""
        self.writer.commit()

    def put(self, data: bytes) -> None:
        """An export smaller than one chunk: the session and its final request."""
        self.writer.write(data)
        self.writer.commit()

    def abort(self, error: BaseException, parts_sent: int) -> str:
        """Cancel the session without finalising it."""
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
