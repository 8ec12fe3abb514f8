"""Azure Blob Storage (and ADLS Gen2) destination: blocks staged as the stream arrives, through ``WasbHook``.

URIs: ``wasb://<container>/<blob path>`` and ``abfs://<container>/<path>`` take the storage account
from the connection; the forms copied from the Azure portal,
``wasbs://<container>@<account>.blob.core.windows.net/<path>`` and
``abfss://<container>@<account>.dfs.core.windows.net/<path>``, name it, and it must be the
connection's. The connection alone says where requests go (an account URL, a connection string, a
private endpoint or Azurite); the host in a URI only names the account. ADLS Gen2 paths are written
through the Blob endpoint, which hierarchical-namespace accounts serve as well.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from airflow_provider_langdock.destinations._object_store import ObjectStoreDestination, Upload
from airflow_provider_langdock.destinations.base import (
    MIB,
    DestinationType,
    InvalidDestinationURI,
    split_bucket_and_key,
)

DEFAULT_WASB_CONN_ID = "wasb_default"
AZURE_MAX_BLOCK_SIZE = 4000 * MIB
AZURE_MAX_BLOCKS = 50_000
AZURE_SCHEMES = ("wasb", "wasbs", "abfs", "abfss")
_OPENLINEAGE_SCHEMES = {"wasb": "wasbs", "wasbs": "wasbs", "abfs": "abfss", "abfss": "abfss"}
"""The OpenLineage naming spec's scheme per URI scheme (it names the TLS forms)."""
_DEFAULT_ENDPOINT_SUFFIX = "core.windows.net"
_ACCOUNT_HOST = re.compile(
    r"(?P<account>[a-z0-9]{3,24})\.(?:blob|dfs)\."
    r"(?P<suffix>core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net)"
)
"""``<account>.blob|dfs.<endpoint suffix>`` of the public, China and US Government clouds."""
_CONTAINER = re.compile(r"\$root|\$web|\$logs|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
"""Azure's container naming rules: 3-63 lower-case letters, digits and single inner hyphens."""
_MAX_BLOB_NAME = 1024


class AzureBlobDestination(ObjectStoreDestination):
    """Write a block blob with the ``BlobServiceClient`` of ``WasbHook(wasb_conn_id=conn_id)``.

    An export smaller than one block is sent with a single Put Blob. Anything larger is staged block
    by block (``stage_block``, ``part_size`` bytes each, under block ids unique to this write, up to
    ``parts_in_flight`` at once) while the download streams, and ``commit_block_list`` makes the blob
    appear, complete, last. On failure nothing is committed: an existing blob keeps its content, and
    the staged blocks, which belong to no blob, are discarded by Azure after seven days (uncommitted
    blocks cannot be deleted one by one).

    :param scheme: the URI's scheme (``wasb``, ``wasbs``, ``abfs`` or ``abfss``).
    :param account_host: ``<account>.blob.core.windows.net`` (or ``.dfs.``) when the URI names the
        account, which is then checked against the connection's; None leaves it to the connection.
    """

    scheme = "wasb"
    default_conn_id = DEFAULT_WASB_CONN_ID
    part_noun = "block"
    max_parts = AZURE_MAX_BLOCKS

    def __init__(
        self,
        container: str,
        blob: str,
        *,
        conn_id: str | None = None,
        part_size: int | None = None,
        parts_in_flight: int | None = None,
        scheme: str = "wasb",
        account_host: str | None = None,
    ) -> None:
        super().__init__(
            container, blob, conn_id=conn_id, part_size=part_size, parts_in_flight=parts_in_flight
        )
        self.uri_scheme = scheme
        self.account: str | None = None
        self.endpoint_suffix = _DEFAULT_ENDPOINT_SUFFIX
        authority = container
        if account_host is not None:
            found = _ACCOUNT_HOST.fullmatch(account_host.lower())
            if found is None:
                raise InvalidDestinationURI(
                    f"{account_host!r} is not a storage account host; expected "
                    "<account>.blob.core.windows.net or <account>.dfs.core.windows.net "
                    "(account: 3-24 lower-case letters and digits)"
                )
            self.account, self.endpoint_suffix = found["account"], found["suffix"]
            authority = f"{container}@{account_host.lower()}"
        self.uri = f"{scheme}://{authority}/{blob}"

    @classmethod
    def parse(
        cls, scheme: str, rest: str, conn_id: str | None, part_size: int | None
    ) -> AzureBlobDestination:
        """The :data:`~.base.Parser` of the four URI forms (see the module docstring)."""
        authority, key = split_bucket_and_key(rest, bucket="container", key="blob path")
        container, at, host = authority.partition("@")
        if not _CONTAINER.fullmatch(container):
            raise InvalidDestinationURI(
                f"{container!r} is not a valid container name (3-63 lower-case letters, digits and "
                "single hyphens, starting and ending with a letter or digit)"
            )
        if len(key) > _MAX_BLOB_NAME:
            raise InvalidDestinationURI(f"the blob path is longer than {_MAX_BLOB_NAME} characters")
        account_host = host if at else None
        return cls(
            container, key, conn_id=conn_id, part_size=part_size, scheme=scheme, account_host=account_host
        )

    @classmethod
    def check_part_size(cls, part_size: int) -> None:
        """Blocks hold up to 4000 MiB."""
        if not 0 < part_size <= AZURE_MAX_BLOCK_SIZE:
            raise ValueError(
                f"part_size must be between 1 and {AZURE_MAX_BLOCK_SIZE} (4000 MiB) bytes for Azure Blob "
                f"Storage, got {part_size}"
            )

    def make_hook(self) -> Any:
        """``WasbHook(wasb_conn_id=conn_id)``."""
        from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

        return WasbHook(wasb_conn_id=self.conn_id)

    def connection_account(self) -> str:
        """The storage account of the connection's client (built locally; nothing is sent)."""
        return str(self.hook.blob_service_client.account_name)

    def check(self) -> None:
        """Refuse a URI that names another storage account than the connection's."""
        if self.account is None:
            return
        connected = self.connection_account()
        if connected.lower() != self.account:
            from airflow_provider_langdock.exceptions import LangdockInputError

            raise LangdockInputError(
                f"Invalid destination {self.uri!r}: it names the storage account {self.account!r}, but "
                f"the connection {self.conn_id!r} (destination_conn_id) is for {connected!r}. Name that "
                f"account, use the short form {self.uri_scheme}://{self.bucket}/<path>, or pass a "
                f"connection for {self.account!r}."
            )

    def exists(self) -> bool:
        """Return whether the blob exists (``WasbHook.check_for_blob``)."""
        self.check()
        return bool(self.hook.check_for_blob(self.bucket, self.key))

    def start_upload(self, content_type: str) -> Upload:
        """A block upload under ids unique to this write; nothing is sent yet."""
        self.check()
        blob_client = self.hook.blob_service_client.get_blob_client(container=self.bucket, blob=self.key)
        return _BlockUpload(blob_client, self.uri, content_type)

    def openlineage_naming(self) -> tuple[str, str]:
        """``("wasbs|abfss://<container>@<account>.dfs.core.windows.net", blob path)``, as the spec says."""
        try:
            account = self.account or self.connection_account()
        except Exception:  # no connection: name what the URI says
            return super().openlineage_naming()
        scheme = _OPENLINEAGE_SCHEMES[self.uri_scheme]
        return f"{scheme}://{self.bucket}@{account}.dfs.{self.endpoint_suffix}", self.key


class _BlockUpload:
    """One block blob: staged blocks and a final block list, or one Put Blob when small.

    ``send`` runs in several uploader threads at once; a ``BlobClient`` is thread-safe.
    """

    def __init__(self, blob_client: Any, uri: str, content_type: str) -> None:
        from azure.storage.blob import ContentSettings

        self.blob_client = blob_client
        self.uri = uri
        self.content_settings = ContentSettings(content_type=content_type)
        # Ids of one blob must have one length; a fresh token keeps a concurrent write's blocks apart.
        self.token = uuid.uuid4().hex

    def begin(self) -> None:
        """Nothing to open: staged blocks need no session."""

    def send(self, number: int, part: bytes) -> str:
        """``stage_block`` under the id of block ``number``; returns the id."""
        from azure.core.exceptions import HttpResponseError

        # 48 characters, the length the Azure SDK's own chunked uploads use: blocks staged for one blob
        # name must all have one id length, so a write after a failed one (ours or the SDK's) works.
        block_id = f"{self.token}-{number - 1:015d}"
        try:
            self.blob_client.stage_block(block_id=block_id, data=part, length=len(part))
        except HttpResponseError as error:
            if getattr(error, "error_code", None) != "InvalidBlobType":
                raise
            from airflow_provider_langdock.exceptions import LangdockError

            raise LangdockError(
                f"{self.uri} is an append or page blob; exports are block blobs and cannot be "
                "staged over it. Delete it or choose another path."
            ) from None
        return block_id

    def complete(self, receipts: list[str]) -> None:
        """``commit_block_list`` with the block ids in order: the blob appears."""
        self.blob_client.commit_block_list(receipts, content_settings=self.content_settings)

    def put(self, data: bytes) -> None:
        """One Put Blob for an export smaller than one block."""
        self.blob_client.upload_blob(data, overwrite=True, content_settings=self.content_settings)

    def abort(self, error: BaseException, parts_sent: int) -> str:
        """Nothing to send: uncommitted blocks belong to no blob."""
        if not parts_sent:
            return "nothing was stored"
        return (
            f"nothing was committed; the {parts_sent} staged block(s) belong to no blob and "
            "Azure discards them after seven days"
        )


DESTINATION_TYPE = DestinationType(
    name="Azure Blob Storage / ADLS Gen2",
    forms=(
        "wasb://<container>/<blob path>",
        "abfs://<container>/<path>",
        "wasbs://<container>@<account>.blob.core.windows.net/<path>",
        "abfss://<container>@<account>.dfs.core.windows.net/<path>",
    ),
    schemes=AZURE_SCHEMES,
    parse=AzureBlobDestination.parse,
    default_conn_id=AzureBlobDestination.default_conn_id,
    extra="azure",
    hook="WasbHook",
    order=30,
)
