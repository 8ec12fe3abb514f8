"""Streaming, atomic destinations for exported files, found through a registry of URI schemes.

Every module of this package whose name does not start with ``_`` may declare a
``DESTINATION_TYPE`` (:class:`~.base.DestinationType`); :func:`destination_types` collects them.
:func:`destination_for`, :func:`allowed_forms` (the error text) and :func:`destinations_table` (the
docs) are built from that list, so adding a destination is adding one module. Importing this
package and parsing URIs never imports a storage library (boto3, google-cloud...) or a provider's
hook; those load only when a destination talks to its storage.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

from airflow_provider_langdock.destinations._object_store import ObjectStoreDestination
from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_PART_SIZE,
    DEFAULT_PARTS_IN_FLIGHT,
    MAX_PARTS_IN_FLIGHT,
    Destination,
    DestinationType,
    InvalidDestinationURI,
    check_parts_in_flight,
    refuse_control_characters,
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
    "DEFAULT_PARTS_IN_FLIGHT",
    "DEFAULT_PART_SIZE",
    "MAX_PARTS_IN_FLIGHT",
    "Destination",
    "DestinationType",
    "GCSDestination",
    "LocalDestination",
    "ObjectStoreDestination",
    "S3Destination",
    "allowed_forms",
    "destination_for",
    "destination_types",
    "destinations_table",
]


@cache
def destination_types() -> tuple[DestinationType, ...]:
    """Every declared destination type, in display order; a scheme is served by one type only."""
    declared = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kind = getattr(module, "DESTINATION_TYPE", None)
        if isinstance(kind, DestinationType):
            declared.append(kind)
    kinds = tuple(sorted(declared, key=lambda kind: (kind.order, kind.name)))
    schemes = [scheme for kind in kinds for scheme in kind.schemes]
    if len(schemes) != len(set(schemes)) or sum(kind.local_paths for kind in kinds) > 1:
        raise RuntimeError(f"Destination types overlap: schemes {schemes}")
    return kinds


def allowed_forms() -> str:
    """The accepted destination forms, as one phrase for error messages."""
    forms = [f"'{form}'" if "://" in form else form for kind in destination_types() for form in kind.forms]
    return ", ".join(forms[:-1]) + " or " + forms[-1]


def destination_for(
    uri: str, conn_id: str | None = None, *, part_size: int | None = None, parts_in_flight: int | None = None
) -> Destination:
    """Return the destination for ``uri``; see :func:`destinations_table` for the forms.

    :param uri: a destination URI such as ``s3://bucket/key``, or an absolute local path.
    :param conn_id: Airflow connection for the storage; by default the type's own (``aws_default``
        for S3, and so on: see :func:`destinations_table`). Unused for local paths.
    :param part_size: bytes per part, block or chunk (the store's limits apply); by default the
        store's own (8 MiB for S3 and Azure, 24 MiB for GCS). Unused for local paths.
    :param parts_in_flight: parts queued or being uploaded at once while the download goes on, 1 to
        :data:`MAX_PARTS_IN_FLIGHT`; by default the store's own. Memory use is about
        ``(parts_in_flight + 1) * part_size``. Unused for local paths.
    :raises LangdockInputError: (a ``ValueError``) naming ``destination`` when ``uri`` is none of the
        allowed forms or contains a control character (also percent-encoded in a ``file://`` URI).
    :raises ValueError: naming ``part_size`` or ``parts_in_flight`` when it is out of range.
    """
    if parts_in_flight is not None:
        check_parts_in_flight(parts_in_flight)
    if not isinstance(uri, str) or not uri.strip():
        raise _invalid(uri, "it is empty")
    try:
        refuse_control_characters(uri)
        scheme, separator, rest = uri.partition("://")
        scheme = scheme.lower() if separator else ""
        kind = _type_for(scheme)
        destination = kind.parse(scheme, rest if separator else uri, conn_id or None, part_size)
    except InvalidDestinationURI as error:
        raise _invalid(uri, str(error)) from None
    if parts_in_flight is not None and isinstance(destination, ObjectStoreDestination):
        destination.parts_in_flight = parts_in_flight
    return destination


def _type_for(scheme: str) -> DestinationType:
    for kind in destination_types():
        if scheme in kind.schemes or (not scheme and kind.local_paths):
            return kind
    raise InvalidDestinationURI(f"the scheme {scheme!r} is not supported")


def destinations_table() -> str:
    """The destinations as a Markdown table (the README's, checked by a test)."""
    rows = [
        "| Destination | `destination` | Default `destination_conn_id` | Extra | Written with |",
        "|---|---|---|---|---|",
    ]
    for kind in destination_types():
        forms = "<br>".join(f"`{form}`" if "://" in form else form for form in kind.forms)
        conn_id = f"`{kind.default_conn_id}`" if kind.default_conn_id else "—"
        extra = f"`[{kind.extra}]`" if kind.extra else "—"
        hook = f"`{kind.hook}`" if kind.hook else "—"
        rows.append(f"| {kind.name} | {forms} | {conn_id} | {extra} | {hook} |")
    return "\n".join(rows)


def _invalid(uri: object, reason: str) -> LangdockInputError:
    """The error for an unusable ``destination``, naming the allowed forms."""
    # Imported here: the exceptions import Airflow, which registers the providers.
    from airflow_provider_langdock.exceptions import LangdockInputError

    return LangdockInputError(
        f"Invalid destination {uri!r}: {reason}. `destination` must be {allowed_forms()}."
    )
