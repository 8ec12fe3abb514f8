"""What every destination is: the :class:`Destination` interface and its :class:`DestinationType`.

A destination module declares one ``DESTINATION_TYPE``: the URI schemes it serves, how it parses a
URI, its default connection id and the extra that brings its library. The package's registry
(:mod:`airflow_provider_langdock.destinations`) finds these declarations by itself, so a new
destination is one new module.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_CONTENT_TYPE = "text/csv"
MIB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MIB
"""Bytes buffered before one part, block or chunk is sent; memory stays within a small multiple."""
DEFAULT_PARTS_IN_FLIGHT = 4
"""Parts queued or being sent at once while the download goes on, where a store sets no default of its
own (Azure; S3 sends 3, GCS 1): with 8 MiB parts, about 40 MiB of memory."""
MAX_PARTS_IN_FLIGHT = 10
"""The most parts in flight: the HTTP clients of boto3 and azure-core keep 10 connections per host."""
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 controls, DEL and C1 controls: never part of a sensible path, key or bucket name."""


class Destination(ABC):
    """Where an export is streamed to: one object or file, written atomically.

    ``write`` consumes an iterator of byte chunks with memory bounded by the part size and the parts in
    flight, never by the size of the export. The target becomes visible only once every byte has been
    written; on any exception (raised by the iterator or by the storage) nothing is left behind and the
    original exception propagates.
    """

    uri: str

    def check(self) -> None:
        """Refuse, with a ``LangdockInputError``, what is wrong before any request (by default nothing).

        Called when a task starts, before the export is requested. A destination whose validity depends
        on its connection (e.g. the storage account named in an Azure URI) checks it here.
        """
        return None

    @abstractmethod
    def exists(self) -> bool:
        """Return whether the target object or file already exists."""

    @abstractmethod
    def write(self, chunks: Iterable[bytes], *, content_type: str = DEFAULT_CONTENT_TYPE) -> int:
        """Stream ``chunks`` to the target atomically and return the number of bytes written."""

    def openlineage_naming(self) -> tuple[str, str]:
        """OpenLineage ``(namespace, name)``: by default ``scheme://authority`` and the path."""
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")

    def lineage_asset(self) -> dict[str, Any]:
        """Keyword arguments for the hook lineage collector's ``add_output_asset``."""
        namespace, name = self.openlineage_naming()
        return {"uri": f"{namespace}/{name}"}

    def console_url(self) -> str:
        """The landed object in its storage's web console, or ``""`` where there is none."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


class InvalidDestinationURI(ValueError):
    """Raised by a :class:`DestinationType` parser; the registry turns it into a ``LangdockInputError``."""


Parser = Callable[[str, str, str | None, int | None], Destination]
"""``(scheme, rest after "scheme://", connection id or None for the default, part size or None)``."""


@dataclass(frozen=True)
class DestinationType:
    """One kind of destination, as its module declares it in ``DESTINATION_TYPE``."""

    name: str
    """Human name, e.g. ``"Amazon S3"``."""
    forms: tuple[str, ...]
    """The URI forms, as shown in errors and docs, e.g. ``("s3://<bucket>/<key>",)``."""
    schemes: tuple[str, ...]
    """The lower-case URI schemes served."""
    parse: Parser
    """Builds the destination; raises :class:`InvalidDestinationURI` with the reason."""
    default_conn_id: str = ""
    """Connection used when the task names none; ``""`` for destinations without a connection."""
    extra: str = ""
    """The ``pip install airflow-provider-langdock[<extra>]`` that brings its library."""
    hook: str = ""
    """The Airflow hook it writes through, for the docs."""
    local_paths: bool = False
    """Also takes a plain absolute path (no scheme)."""
    order: int = 50
    """Position in messages and docs (lower first)."""


def split_bucket_and_key(rest: str, bucket: str = "bucket", key: str = "object key") -> tuple[str, str]:
    """``<bucket>/<key>`` -> ``(bucket, key)``, refusing a missing or blank part or a folder key."""
    name, _, path = rest.partition("/")
    if not name or name != name.strip():
        raise InvalidDestinationURI(f"the {bucket} name is missing or has surrounding spaces")
    if not path:
        raise InvalidDestinationURI(f"the {key} is missing")
    if path.endswith("/"):
        raise InvalidDestinationURI(f"the {key} ends with '/', which names a folder, not a file")
    return name, path


def refuse_control_characters(text: str, where: str = "") -> None:
    """Raise :class:`InvalidDestinationURI` if ``text`` holds a control character."""
    found = _CONTROL_CHARACTER.search(text)
    if found:
        raise InvalidDestinationURI(f"it contains the control character U+{ord(found.group()):04X}{where}")


def check_parts_in_flight(parts_in_flight: int) -> None:
    """Raise ``ValueError`` naming ``parts_in_flight`` unless it is an integer from 1 to the maximum."""
    if (
        not isinstance(parts_in_flight, int)
        or isinstance(parts_in_flight, bool)
        or not 1 <= parts_in_flight <= MAX_PARTS_IN_FLIGHT
    ):
        raise ValueError(
            f"parts_in_flight must be an integer from 1 to {MAX_PARTS_IN_FLIGHT}, got {parts_in_flight!r}"
        )


def iter_byte_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the non-empty chunks, refusing anything that is not bytes-like (e.g. ``str``)."""
    for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray):
            raise TypeError(f"Destination.write expects bytes chunks, got {type(chunk).__name__}")
        if chunk:
            yield chunk
