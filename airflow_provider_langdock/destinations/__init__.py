"""Streaming, atomic destinations for exported files: S3, GCS and the local filesystem.

:func:`destination_for` turns the operator's ``destination`` string into a :class:`Destination`.
Importing this package and parsing URIs never imports boto3, botocore, google-cloud or the Amazon
and Google provider hooks; those load only when a destination talks to its storage.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_PART_SIZE,
    Destination,
)
from airflow_provider_langdock.destinations.gcs import DEFAULT_GCP_CONN_ID, GCSDestination
from airflow_provider_langdock.destinations.local import LocalDestination
from airflow_provider_langdock.destinations.s3 import DEFAULT_AWS_CONN_ID, S3Destination

if TYPE_CHECKING:
    from airflow_provider_langdock.exceptions import LangdockInputError

__all__ = [
    "DEFAULT_AWS_CONN_ID",
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_GCP_CONN_ID",
    "DEFAULT_PART_SIZE",
    "Destination",
    "GCSDestination",
    "LocalDestination",
    "S3Destination",
    "destination_for",
]

ALLOWED_FORMS = (
    "'s3://<bucket>/<key>', 'gs://<bucket>/<object>', 'file:///<absolute path>' or an absolute local path"
)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 controls, DEL and C1 controls: never part of a sensible path, key or bucket name."""


def destination_for(uri: str, conn_id: str | None = None, *, part_size: int | None = None) -> Destination:
    """Return the destination for ``uri``.

    :param uri: ``s3://bucket/key``, ``gs://bucket/object``, ``file:///abs/path`` or ``/abs/path``.
    :param conn_id: Airflow connection for S3 (default ``aws_default``) or GCS (default
        ``google_cloud_default``); unused for local paths.
    :param part_size: bytes per S3 part (at least 5 MiB) or GCS chunk (a multiple of 256 KiB);
        default 8 MiB. Memory use is a small multiple of it. Unused for local paths.
    :raises LangdockInputError: (a ``ValueError``) naming ``destination`` when ``uri`` is none of the
        allowed forms or contains a control character (also percent-encoded in a ``file://`` URI).
    """
    if not isinstance(uri, str) or not uri.strip():
        raise _invalid(uri, "it is empty")
    _refuse_control_characters(uri, uri)
    scheme, separator, rest = uri.partition("://")
    scheme = scheme.lower() if separator else ""
    size = {} if part_size is None else {"part_size": part_size}
    if scheme == "s3":
        bucket, key = _bucket_and_key(uri, rest)
        return S3Destination(bucket, key, conn_id=conn_id or DEFAULT_AWS_CONN_ID, **size)
    if scheme == "gs":
        bucket, key = _bucket_and_key(uri, rest)
        return GCSDestination(bucket, key, conn_id=conn_id or DEFAULT_GCP_CONN_ID, **size)
    if scheme == "file":
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise _invalid(uri, "a file URI needs an absolute path and no host, as in file:///data/usage.csv")
        path = unquote("/" + path)
        _refuse_control_characters(uri, path, " once percent-decoded")
        return _local(uri, path)
    if separator:
        raise _invalid(uri, f"the scheme {scheme!r} is not supported")
    return _local(uri, uri)


def _bucket_and_key(uri: str, rest: str) -> tuple[str, str]:
    bucket, _, key = rest.partition("/")
    if not bucket or bucket != bucket.strip():
        raise _invalid(uri, "the bucket name is missing or has surrounding spaces")
    if not key:
        raise _invalid(uri, "the object key is missing")
    if key.endswith("/"):
        raise _invalid(uri, "the object key ends with '/', which names a folder, not a file")
    return bucket, key


def _local(uri: str, path: str) -> LocalDestination:
    if not os.path.isabs(path):
        raise _invalid(uri, "a local path must be absolute")
    if path.endswith(("/", os.sep)) or os.path.basename(path) in ("", ".", ".."):
        raise _invalid(uri, "a local path must name a file, not a directory")
    return LocalDestination(path)


def _refuse_control_characters(uri: str, text: str, where: str = "") -> None:
    """Raise if ``text`` (``uri`` or a decoded part of it) holds a control character."""
    found = _CONTROL_CHARACTER.search(text)
    if found:
        raise _invalid(uri, f"it contains the control character U+{ord(found.group()):04X}{where}")


def _invalid(uri: object, reason: str) -> LangdockInputError:
    """The error for an unusable ``destination``, naming the allowed forms."""
    # Imported here: the exceptions import Airflow, which registers the Amazon and Google providers.
    from airflow_provider_langdock.exceptions import LangdockInputError

    return LangdockInputError(
        f"Invalid destination {uri!r}: {reason}. `destination` must be {ALLOWED_FORMS}."
    )
