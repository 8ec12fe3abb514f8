"""Amazon S3 destination: a multipart upload fed from the stream, through ``S3Hook``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_PART_SIZE,
    MIB,
    Destination,
    iter_byte_chunks,
)

log = logging.getLogger(__name__)

DEFAULT_AWS_CONN_ID = "aws_default"
S3_MIN_PART_SIZE = 5 * MIB
S3_MAX_PART_SIZE = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000


class S3Destination(Destination):
    """Write to ``s3://bucket/key`` with the client of ``S3Hook(aws_conn_id=conn_id)``.

    Data is buffered up to ``part_size`` bytes. An export smaller than one part is sent with a
    single ``put_object``. Anything larger becomes a multipart upload: ``create_multipart_upload``
    when the first part is full, ``upload_part`` per part, ``complete_multipart_upload`` last. S3
    makes the object visible only on completion; on any error the upload is aborted, which
    discards the parts already sent.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        conn_id: str = DEFAULT_AWS_CONN_ID,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if not S3_MIN_PART_SIZE <= part_size <= S3_MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {S3_MIN_PART_SIZE} (5 MiB) and {S3_MAX_PART_SIZE} (5 GiB) "
                f"bytes for S3, got {part_size}"
            )
        self.bucket = bucket
        self.key = key
        self.conn_id = conn_id
        self.part_size = part_size
        self.uri = f"s3://{bucket}/{key}"

    @cached_property
    def _hook(self) -> Any:
        """The ``S3Hook``, created on first use and shared by ``exists`` and ``write``."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.conn_id)

    def exists(self) -> bool:
        """Return whether the key exists (``S3Hook.check_for_key``)."""
        return bool(self._hook.check_for_key(self.key, bucket_name=self.bucket))

    def write(self, chunks: Iterable[bytes], *, content_type: str = DEFAULT_CONTENT_TYPE) -> int:
        """Stream ``chunks`` to the key and return the number of bytes written."""
        client = self._hook.get_conn()
        upload = _MultipartUpload(client, self.bucket, self.key, content_type)
        buffer = bytearray()
        written = 0
        log.info("Uploading to %s (parts of %d bytes)", self.uri, self.part_size)
        try:
            for chunk in iter_byte_chunks(chunks):
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= self.part_size:
                    upload.upload_part(_take(buffer, self.part_size))
            if upload.upload_id is None:
                client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=bytes(buffer), ContentType=content_type
                )
                parts = 1
            else:
                if buffer:
                    upload.upload_part(_take(buffer, len(buffer)))
                parts = upload.complete()
        except BaseException as error:
            upload.abort(error)
            raise
        log.info("Wrote %d bytes to %s in %d part(s)", written, self.uri, parts)
        return written


def _take(buffer: bytearray, size: int) -> bytes:
    """Remove and return the first ``size`` bytes of ``buffer`` (one copy)."""
    with memoryview(buffer) as view:
        part = bytes(view[:size])
    del buffer[:size]
    return part


class _MultipartUpload:
    """The state of one multipart upload, started lazily with its first part."""

    def __init__(self, client: Any, bucket: str, key: str, content_type: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        # Mirror boto3's managed transfers (s3transfer): when the client computes checksums by
        # default, declare CRC32 on the upload and hand each part's checksum back on completion.
        config = getattr(client.meta, "config", None)
        self.checksum_args: dict[str, str] = (
            {"ChecksumAlgorithm": "CRC32"}
            if getattr(config, "request_checksum_calculation", None) == "when_supported"
            else {}
        )

    def upload_part(self, body: bytes) -> None:
        """Send ``body`` as the next part, starting the upload first if needed."""
        part_number = len(self.parts) + 1
        if part_number > S3_MAX_PARTS:
            raise ValueError(
                f"s3://{self.bucket}/{self.key} would need more than {S3_MAX_PARTS} parts; raise part_size"
            )
        if self.upload_id is None:
            response = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type, **self.checksum_args
            )
            self.upload_id = response["UploadId"]
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=part_number,
            Body=body,
            **self.checksum_args,
        )
        part = {"ETag": response["ETag"], "PartNumber": part_number}
        if self.checksum_args and "ChecksumCRC32" in response:
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        self.parts.append(part)

    def complete(self) -> int:
        """Assemble the parts into the object (the moment it becomes visible); return the part count."""
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        return len(self.parts)

    def abort(self, error: BaseException) -> None:
        """Discard the uploaded parts; never raises, so the original ``error`` propagates."""
        if self.upload_id is None:
            log.warning(
                "Upload to s3://%s/%s failed (%s); nothing was stored", self.bucket, self.key, _name(error)
            )
            return
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception as abort_error:
            log.error(
                "Upload to s3://%s/%s failed (%s) and aborting multipart upload %s failed too (%s); "
                "its parts stay until aborted (an AbortIncompleteMultipartUpload lifecycle rule cleans them)",
                self.bucket,
                self.key,
                _name(error),
                self.upload_id,
                _name(abort_error),
            )
        else:
            log.warning(
                "Upload to s3://%s/%s failed (%s); aborted multipart upload after %d part(s)",
                self.bucket,
                self.key,
                _name(error),
                len(self.parts),
            )


def _name(error: BaseException) -> str:
    return type(error).__name__
