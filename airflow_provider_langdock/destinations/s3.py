"""Amazon S3 destination: a multipart upload fed from the stream, through ``S3Hook``."""

from __future__ import annotations

import base64
import io
import logging
import zlib
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from airflow_provider_langdock.destinations._object_store import ObjectStoreDestination, Upload
from airflow_provider_langdock.destinations.base import (
    MIB,
    DestinationType,
)

log = logging.getLogger(__name__)

DEFAULT_AWS_CONN_ID = "aws_default"
S3_MIN_PART_SIZE = 5 * MIB
S3_MAX_PART_SIZE = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000

AWS_CONSOLE_DOMAINS = {
    "aws": "aws.amazon.com",
    "aws-cn": "amazonaws.cn",
    "aws-us-gov": "amazonaws-us-gov.com",
}
"""AWS partition -> console domain (``https://console.<domain>``), as in the Amazon provider's links."""
_AWS_ENDPOINT_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


class S3Destination(ObjectStoreDestination):
    """Write to ``s3://bucket/key`` with the client of ``S3Hook(aws_conn_id=conn_id)``.

    Data is buffered up to ``part_size`` bytes. An export smaller than one part is sent with a
    single ``put_object``. Anything larger becomes a multipart upload: ``create_multipart_upload``
    when the first part is full, then ``upload_part`` for up to ``parts_in_flight`` parts at once
    while the download goes on, ``complete_multipart_upload`` last. S3 makes the object visible only
    on completion; on any error the upload is aborted, which discards the parts already sent.
    """

    scheme = "s3"
    default_conn_id = DEFAULT_AWS_CONN_ID
    max_parts = S3_MAX_PARTS
    default_parts_in_flight = 2  # 2, 3 and 4 took the same time at 1 GiB; 2 needs the least memory

    @classmethod
    def check_part_size(cls, part_size: int) -> None:
        """S3 parts are 5 MiB to 5 GiB."""
        if not S3_MIN_PART_SIZE <= part_size <= S3_MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {S3_MIN_PART_SIZE} (5 MiB) and {S3_MAX_PART_SIZE} (5 GiB) "
                f"bytes for S3, got {part_size}"
            )

    def make_hook(self) -> Any:
        """``S3Hook(aws_conn_id=conn_id)``."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.conn_id)

    def exists(self) -> bool:
        """Return whether the key exists (``S3Hook.check_for_key``)."""
        return bool(self.hook.check_for_key(self.key, bucket_name=self.bucket))

    def start_upload(self, content_type: str) -> Upload:
        """A multipart upload, created when the first part is full."""
        return _MultipartUpload(self.hook.get_conn(), self.bucket, self.key, content_type)

    def openlineage_naming(self) -> tuple[str, str]:
        """``("s3://<bucket>", key)``."""
        return f"s3://{self.bucket}", self.key

    def lineage_asset(self) -> dict[str, Any]:
        """Named by the Amazon provider's own asset factory."""
        return {"scheme": "s3", "asset_kwargs": {"bucket": self.bucket, "key": self.key}}

    def console_url(self) -> str:
        """``https://console.aws.amazon.com/s3/object/<bucket>?region=<region>&prefix=<key>``.

        Region and partition come from the connection (the region is left out when unknown). A
        connection with a non-AWS ``endpoint_url`` (MinIO, Ceph, moto...) gets no link: its objects
        are not in the AWS console.
        """
        domain, region = self._console_hints()
        if domain is None:
            return ""
        query = {"region": region, "prefix": self.key} if region else {"prefix": self.key}
        parameters = urlencode(query, quote_via=quote, safe="/")
        return f"https://console.{domain}/s3/object/{quote(self.bucket, safe='')}?{parameters}"

    def _console_hints(self) -> tuple[str | None, str | None]:
        """(console domain, region); domain None when the endpoint is not AWS. Sends nothing."""
        try:
            meta = self.hook.conn_client_meta
            endpoint_host = (urlsplit(meta.endpoint_url or "").hostname or "").lower()
            partition, region = meta.partition, meta.region_name
        except Exception as error:  # a missing link must never fail an export that landed
            log.info("No region for the S3 console link (%s); linking without it", type(error).__name__)
            return AWS_CONSOLE_DOMAINS["aws"], None
        if not endpoint_host.endswith(_AWS_ENDPOINT_SUFFIXES):
            return None, None
        return AWS_CONSOLE_DOMAINS.get(partition, AWS_CONSOLE_DOMAINS["aws"]), region or None


class _MultipartUpload:
    """One S3 object: a multipart upload (created before the first part), or one put_object when small.

    ``send`` runs in several uploader threads at once; boto3 clients are thread-safe.
    """

    def __init__(self, client: Any, bucket: str, key: str, content_type: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.upload_id: str | None = None
        # Mirror boto3's managed transfers (s3transfer): when the client computes checksums by
        # default, declare CRC32 on the upload and hand each part's checksum back on completion.
        config = getattr(client.meta, "config", None)
        self.checksum_args: dict[str, str] = (
            {"ChecksumAlgorithm": "CRC32"}
            if getattr(config, "request_checksum_calculation", None) == "when_supported"
            else {}
        )

    def begin(self) -> None:
        """``create_multipart_upload``, before any part is sent."""
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ContentType=self.content_type, **self.checksum_args
        )
        self.upload_id = response["UploadId"]

    def send(self, number: int, part: bytes) -> dict[str, Any]:
        """``upload_part``; returns the part's entry of the completion request.

        The body is a stream over ``part``: botocore joins a ``bytes`` body to the request headers
        before sending, a second copy of every part in flight. Its CRC32 is computed here, from the
        bytes, rather than by botocore reading the stream again in pieces.
        """
        checksum = {"ChecksumCRC32": crc32_checksum(part)} if self.checksum_args else {}
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=io.BytesIO(part),  # shares the bytes, no copy
            **self.checksum_args,
            **checksum,
        )
        sent = {"ETag": response["ETag"], "PartNumber": number}
        if self.checksum_args and "ChecksumCRC32" in response:
            sent["ChecksumCRC32"] = response["ChecksumCRC32"]
        return sent

    def complete(self, receipts: list[dict[str, Any]]) -> None:
        """``complete_multipart_upload`` with the parts in order: the object appears."""
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": receipts},
        )

    def put(self, data: bytes) -> None:
        """One ``put_object`` for an export smaller than one part."""
        self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data, ContentType=self.content_type)

    def abort(self, error: BaseException, parts_sent: int) -> str:
        """Abort the multipart upload, which discards its parts."""
        if self.upload_id is None:
            return "nothing was stored"
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception as abort_error:
            return (
                f"aborting multipart upload {self.upload_id} failed too ({type(abort_error).__name__}); "
                "its parts stay until aborted (an AbortIncompleteMultipartUpload lifecycle rule cleans them)"
            )
        return f"aborted multipart upload after {parts_sent} part(s)"


def crc32_checksum(data: bytes) -> str:
    """S3's ``x-amz-checksum-crc32`` of ``data``: the big-endian CRC32, base64-encoded."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


DESTINATION_TYPE = DestinationType(
    name="Amazon S3",
    forms=("s3://<bucket>/<key>",),
    schemes=("s3",),
    parse=S3Destination.parse,
    default_conn_id=S3Destination.default_conn_id,
    extra="amazon",
    hook="S3Hook",
    order=10,
)
