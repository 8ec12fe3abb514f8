"""The Azure Blob Storage destination against a real Azurite, directly and through the operator."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_langdock.destinations import DEFAULT_PART_SIZE, destination_for
from airflow_provider_langdock.destinations.azure import AzureBlobDestination
from airflow_provider_langdock.exceptions import LangdockInputError, LangdockVerificationError
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.links import destination_console_url
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.testing.azurite import ACCOUNT_NAME, Azurite
from airflow_provider_langdock.transfer import land_plan

from .conftest import DagRunner
from .test_destinations import SIZES, SourceFailure, chunked, failing_after, measure_transfer_peak, payload
from .test_large_exports import DAY0 as LARGE_DAY0
from .test_large_exports import run_export
from .test_operator import expected_key, interval
from .test_transfer import assert_is_the_direct_export, export_requests, two_level_split, users_request

MIB = 1024 * 1024
BLOCK = 256 * 1024  # small blocks keep multi-block payloads small (Azure has no minimum block size)
AZURE_FORMS = ("wasb://<container>/<blob path>", "abfss://<container>@<account>.dfs.core.windows.net/<path>")


# --- helpers -------------------------------------------------------------------------------------------


def committed_names(blob_service: Any, container: str) -> list[str]:
    """The blobs a reader sees: committed ones only."""
    return [blob.name for blob in blob_service.get_container_client(container).list_blobs()]


def all_names(blob_service: Any, container: str) -> list[str]:
    """Committed blobs and names that hold only uncommitted (staged) blocks."""
    listing = blob_service.get_container_client(container).list_blobs(include=["uncommittedblobs"])
    return [blob.name for blob in listing]


def block_lists(blob_service: Any, container: str, key: str) -> tuple[list[int], list[int]]:
    """The sizes of the committed and of the uncommitted blocks of ``key``."""
    committed, uncommitted = blob_service.get_blob_client(container, key).get_block_list("all")
    return [block["size"] for block in committed], [block["size"] for block in uncommitted]


def read_blob(blob_service: Any, container: str, key: str) -> bytes:
    return bytes(blob_service.get_blob_client(container, key).download_blob().readall())


def previous_export(blob_service: Any, container: str, key: str) -> tuple[Any, str]:
    """A blob holding an earlier export at ``key``: its client and its etag."""
    existing = blob_service.get_blob_client(container, key)
    existing.upload_blob(b"previous export\r\n")
    return existing, existing.get_blob_properties().etag


def properties(blob_service: Any, container: str, key: str) -> Any:
    return blob_service.get_blob_client(container, key).get_blob_properties()


@pytest.fixture
def hook(langdock_conn: LangdockSimulator) -> Iterator[LangdockHook]:
    """A LangdockHook on the simulator (``langdock_default``, no waits between retries)."""
    langdock = LangdockHook()
    yield langdock
    langdock.close()


# --- writing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "blocks"),
    [
        ("empty", []),
        ("tiny", []),
        ("just-under-one-part", []),
        ("exactly-one-part", [BLOCK]),
        ("three-parts-plus-remainder", [BLOCK] * 3 + [12_345]),
    ],
)
def test_azure_writes_byte_for_byte(
    blob_service: Any, azure_container: str, wasb_conn: str, size: str, blocks: list[int]
) -> None:
    """Below one block: one Put Blob (no block list); from one block on: staged blocks, committed last."""
    data = payload(SIZES[size](BLOCK))
    destination = destination_for(f"wasb://{azure_container}/exports/users.csv", wasb_conn, part_size=BLOCK)
    assert isinstance(destination, AzureBlobDestination)
    assert not destination.exists()

    assert destination.write(chunked(data, 100_003)) == len(data)

    assert destination.exists()
    assert read_blob(blob_service, azure_container, "exports/users.csv") == data
    stored = properties(blob_service, azure_container, "exports/users.csv")
    assert stored.size == len(data)
    assert stored.content_settings.content_type == "text/csv"
    assert stored.blob_type == "BlockBlob"
    assert block_lists(blob_service, azure_container, "exports/users.csv") == (blocks, [])
    assert all_names(blob_service, azure_container) == ["exports/users.csv"]


@pytest.mark.parametrize("size", [BLOCK - 1, 2 * BLOCK + 1], ids=["put-blob", "block-list"])
def test_azure_content_type_is_configurable(
    blob_service: Any, azure_container: str, wasb_conn: str, size: int
) -> None:
    destination = AzureBlobDestination(azure_container, "users.csv.gz", conn_id=wasb_conn, part_size=BLOCK)
    destination.write(chunked(payload(size), 65_536), content_type="application/gzip")
    stored = properties(blob_service, azure_container, "users.csv.gz")
    assert stored.content_settings.content_type == "application/gzip"
    assert stored.size == size


def test_azure_writes_replace_an_existing_blob(
    blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    blob_service.get_blob_client(azure_container, "users.csv").upload_blob(payload(5 * BLOCK))
    destination = AzureBlobDestination(azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK)
    data = payload(2 * BLOCK + 7)[::-1]
    destination.write(chunked(data, BLOCK // 3))
    assert read_blob(blob_service, azure_container, "users.csv") == data
    assert block_lists(blob_service, azure_container, "users.csv") == ([BLOCK, BLOCK, 7], [])


@pytest.mark.parametrize("size", [11, BLOCK + 11], ids=["put-blob", "block-list"])
def test_azure_blob_paths_are_taken_literally(
    blob_service: Any, azure_container: str, wasb_conn: str, size: int
) -> None:
    """Spaces, '#', '?', '%20', '+', '&' and non-ASCII name the blob as written, not as URI syntax."""
    key = "dt=2026-01-01/a b #1?%20ü+&.csv"
    destination = destination_for(f"wasb://{azure_container}/{key}", wasb_conn, part_size=BLOCK)
    assert isinstance(destination, AzureBlobDestination)
    assert destination.key == key
    assert not destination.exists()
    data = payload(size)
    destination.write([data])
    assert destination.exists()
    assert committed_names(blob_service, azure_container) == [key]
    assert read_blob(blob_service, azure_container, key) == data


# --- failures --------------------------------------------------------------------------------------------


def test_azure_source_failure_after_staged_blocks_commits_nothing(
    blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    """The stream breaks after three blocks were staged: no new blob; an existing one keeps bytes and etag."""
    existing, etag = previous_export(blob_service, azure_container, "existing.csv")
    for key in ("fresh.csv", "existing.csv"):
        destination = AzureBlobDestination(
            azure_container, key, conn_id=wasb_conn, part_size=BLOCK, parts_in_flight=1
        )
        error = SourceFailure("connection reset half-way")
        with pytest.raises(SourceFailure) as raised:
            destination.write(failing_after(payload(3 * BLOCK + 100), 50_000, error))
        assert raised.value is error
        # the blocks were really staged, and are left uncommitted (block 3 is dropped if not yet on its way)
        assert block_lists(blob_service, azure_container, key)[1] in ([BLOCK] * 2, [BLOCK] * 3)

    assert committed_names(blob_service, azure_container) == ["existing.csv"]
    assert read_blob(blob_service, azure_container, "existing.csv") == b"previous export\r\n"
    assert existing.get_blob_properties().etag == etag
    assert block_lists(blob_service, azure_container, "existing.csv")[0] == []  # still the Put Blob


def test_azure_source_failure_before_the_first_block_sends_nothing(
    blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    destination = AzureBlobDestination(azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK)
    with pytest.raises(SourceFailure):
        destination.write(failing_after(b"a,b\r\n1,2\r\n", 4, SourceFailure("early")))
    assert all_names(blob_service, azure_container) == []


def test_azure_storage_error_on_a_later_block_commits_nothing(
    blob_service: Any, azure_container: str, wasb_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third Put Block reaches Azurite with a block id of another length, which it refuses (400).

    The fault is a wrapper around the SDK's ``BlobClient.stage_block``; the request is real.
    """
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import BlobClient

    stage_block = BlobClient.stage_block
    staged: list[str] = []

    def third_block_id_too_long(self: BlobClient, block_id: str, data: Any, **kwargs: Any) -> Any:
        staged.append(block_id)
        if len(staged) == 3:
            block_id += "-x"
        return stage_block(self, block_id, data, **kwargs)

    monkeypatch.setattr(BlobClient, "stage_block", third_block_id_too_long)
    # One block in flight: block 4 waits for block 3's slot, so nothing after the failing block is sent.
    destination = AzureBlobDestination(
        azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK, parts_in_flight=1
    )
    with pytest.raises(HttpResponseError) as raised:
        destination.write(chunked(payload(5 * BLOCK), 100_000))
    assert raised.value.error_code == "InvalidBlobOrBlock"
    assert len(staged) == 3
    assert committed_names(blob_service, azure_container) == []
    assert not destination.exists()
    assert block_lists(blob_service, azure_container, "users.csv") == ([], [BLOCK, BLOCK])


def test_azure_writes_after_a_failed_write_by_us_or_by_the_sdk(
    blob_service: Any, azure_container: str, wasb_conn: str, azurite: Azurite
) -> None:
    """Staged blocks of one name must share an id length: ours match the SDK's chunked uploads (48)."""
    from azure.storage.blob import BlobClient

    destination = AzureBlobDestination(azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK)
    with pytest.raises(SourceFailure):
        destination.write(failing_after(payload(2 * BLOCK + 1), 50_000, SourceFailure("half-way")))
    sdk_client = BlobClient.from_connection_string(
        azurite.connection_string,
        azure_container,
        "users.csv",
        max_block_size=BLOCK,
        max_single_put_size=BLOCK,
    )
    sdk_client.upload_blob(payload(3 * BLOCK), overwrite=True)  # the SDK stages blocks after ours
    assert read_blob(blob_service, azure_container, "users.csv") == payload(3 * BLOCK)

    with pytest.raises(SourceFailure):  # and the other way round: the SDK's leftovers, then ours
        sdk_client.upload_blob(failing_source(payload(3 * BLOCK), 2 * BLOCK), overwrite=True)
    data = payload(4 * BLOCK + 7)
    destination.write(chunked(data, 100_000))
    assert read_blob(blob_service, azure_container, "users.csv") == data


class failing_source:
    """A readable stream that raises after ``limit`` bytes (what the SDK's upload_blob reads from)."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.data, self.limit, self.position = data, limit, 0

    def read(self, size: int = -1) -> bytes:
        if self.position >= self.limit:
            raise SourceFailure("the stream broke")
        size = len(self.data) - self.position if size < 0 else size
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


def test_azure_refuses_to_stage_over_an_append_blob(
    blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    """Blocks cannot be staged over an append blob: a clear error, and the append blob is untouched."""
    from airflow_provider_langdock.exceptions import LangdockError

    append_blob = blob_service.get_blob_client(azure_container, "users.csv")
    append_blob.create_append_blob()
    append_blob.append_block(b"appended\n")
    destination = AzureBlobDestination(azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK)
    with pytest.raises(LangdockError, match="append or page blob.*Delete it or choose another path"):
        destination.write(chunked(payload(2 * BLOCK), 100_000))
    assert read_blob(blob_service, azure_container, "users.csv") == b"appended\n"
    assert append_blob.get_blob_properties().blob_type == "AppendBlob"


def test_azure_lease_taken_mid_write_keeps_the_existing_blob(
    blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    """Another client leases the blob after two blocks were staged: the third Put Block is refused (412)."""
    from azure.core.exceptions import HttpResponseError

    existing, etag = previous_export(blob_service, azure_container, "users.csv")
    leases = []

    def lease_after_two_blocks() -> Iterator[bytes]:
        yield payload(2 * BLOCK)
        deadline = time.monotonic() + 30  # the second block is staged in the background
        while block_lists(blob_service, azure_container, "users.csv")[1] != [BLOCK, BLOCK]:
            assert time.monotonic() < deadline, "the first two blocks were not staged"
            time.sleep(0.01)
        leases.append(existing.acquire_lease(-1))
        yield payload(2 * BLOCK)

    destination = AzureBlobDestination(
        azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK, parts_in_flight=1
    )
    with pytest.raises(HttpResponseError) as raised:
        destination.write(lease_after_two_blocks())
    assert raised.value.error_code == "LeaseIdMissing"
    [lease] = leases
    lease.release()
    assert read_blob(blob_service, azure_container, "users.csv") == b"previous export\r\n"
    assert existing.get_blob_properties().etag == etag
    assert block_lists(blob_service, azure_container, "users.csv") == ([], [BLOCK, BLOCK])


def test_azure_container_deleted_mid_write_raises_the_storage_error(
    blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    def delete_container_after_two_blocks() -> Iterator[bytes]:
        yield payload(2 * BLOCK)
        blob_service.delete_container(azure_container)
        yield payload(2 * BLOCK)

    destination = AzureBlobDestination(azure_container, "users.csv", conn_id=wasb_conn, part_size=BLOCK)
    with pytest.raises(ResourceNotFoundError) as raised:
        destination.write(delete_container_after_two_blocks())
    assert raised.value.error_code == "ContainerNotFound"
    blob_service.create_container(azure_container)  # a container of that name again: empty
    assert all_names(blob_service, azure_container) == []


def test_azure_a_row_count_other_than_langdocks_commits_nothing(
    hook: LangdockHook, simulator: LangdockSimulator, blob_service: Any, azure_container: str, wasb_conn: str
) -> None:
    """The last part's file holds one row fewer than Langdock reported: verified after its last block."""
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    last = len(plan.parts) - 1
    result = plan.parts[last].result
    assert result is not None
    tampered = plan.with_result(last, dataclasses.replace(result, record_count=result.record_count + 1))
    existing, etag = previous_export(blob_service, azure_container, "existing.csv")
    small = 16 * 1024
    for key in ("users.csv", "existing.csv"):
        destination = destination_for(f"wasb://{azure_container}/{key}", wasb_conn, part_size=small)
        with pytest.raises(LangdockVerificationError, match=f"reported {result.record_count + 1}"):
            land_plan(hook, tampered, destination, chunk_size=4096)
        assert len(block_lists(blob_service, azure_container, key)[1]) > 1  # staged, never committed
    assert committed_names(blob_service, azure_container) == ["existing.csv"]
    assert read_blob(blob_service, azure_container, "existing.csv") == b"previous export\r\n"
    assert existing.get_blob_properties().etag == etag

    # the untampered plan lands, over the staged blocks of the failed write
    land_plan(hook, plan, destination_for(f"wasb://{azure_container}/users.csv", wasb_conn, part_size=small))
    assert_is_the_direct_export(read_blob(blob_service, azure_container, "users.csv"), simulator, start, end)


def test_azure_memory_stays_flat(blob_service: Any, azure_container: str, wasb_conn: str) -> None:
    peak = measure_transfer_peak(f"wasb://{azure_container}/big.csv", wasb_conn, DEFAULT_PART_SIZE)
    assert properties(blob_service, azure_container, "big.csv").size == 64 * MIB
    assert block_lists(blob_service, azure_container, "big.csv") == ([DEFAULT_PART_SIZE] * 8, [])
    # the blocks in flight, the one being read and the one being joined
    assert peak < (AzureBlobDestination.default_parts_in_flight + 2) * DEFAULT_PART_SIZE, (
        f"peak {peak / MIB:.1f} MiB"
    )


# --- through the operator (dag.test) ----------------------------------------------------------------------


def test_export_to_azure_lands_the_exact_file(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    blob_service: Any,
    azure_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"wasb://{azure_container}/langdock")
    states = dag_runner.run("langdock_test_export", run_conf={"data_type": "models"})
    assert states == {"export": "success", "record": "success"}
    recorded = dag_runner.recorded("langdock_test_export")
    start, end = interval(recorded)
    key = expected_key("models", start)
    expected = langdock_conn.csv_bytes("models", start, end)
    assert read_blob(blob_service, azure_container, key) == expected
    assert properties(blob_service, azure_container, key).content_settings.content_type == "text/csv"
    assert all_names(blob_service, azure_container) == [key]
    metadata = recorded["export"]["return_value"]
    assert metadata["destination"] == f"wasb://{azure_container}/{key}"
    assert metadata["bytes"] == len(expected)
    assert metadata["record_count"] == 100
    assert len(metadata["parts"]) == 1


def test_split_export_to_azure_lands_one_csv_in_blocks(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    blob_service: Any,
    azure_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """26,000 rows, cap 10,000: three parts, about 13 MB, landed as an 8 MiB block and the rest."""
    langdock_conn.rows_per_day, langdock_conn.row_cap = 13_000, 10_000
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"abfs://{azure_container}/langdock")
    start, end = LARGE_DAY0, LARGE_DAY0 + timedelta(days=2)

    state, recorded = run_export(dag_runner, start, end)

    assert state == "success"
    key = "langdock/langdock_test_large_export/users.csv"
    landed = read_blob(blob_service, azure_container, key)
    assert_is_the_direct_export(landed, langdock_conn, start, end)
    metadata = recorded["return_value"]
    assert metadata["destination"] == f"abfs://{azure_container}/{key}"
    assert metadata["bytes"] == len(landed) > DEFAULT_PART_SIZE
    assert metadata["record_count"] == 26_000
    assert len(metadata["parts"]) == 3
    assert len(export_requests(langdock_conn)) > 3
    assert block_lists(blob_service, azure_container, key) == (
        [DEFAULT_PART_SIZE, len(landed) - DEFAULT_PART_SIZE],
        [],
    )
    assert all_names(blob_service, azure_container) == [key]


def test_replace_false_refuses_an_existing_blob_before_exporting(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    blob_service: Any,
    azure_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"wasb://{azure_container}/langdock")
    assert dag_runner.run("langdock_test_export_no_replace")["export"] == "success"  # no blob yet: lands
    start, end = interval(dag_runner.recorded("langdock_test_export_no_replace"))
    key = expected_key("users", start)
    assert read_blob(blob_service, azure_container, key) == langdock_conn.csv_bytes("users", start, end)

    blob_service.get_blob_client(azure_container, key).upload_blob(b"keep me", overwrite=True)
    etag = properties(blob_service, azure_container, key).etag
    langdock_conn.clear_requests()
    assert dag_runner.run("langdock_test_export_no_replace")["export"] == "failed"
    assert langdock_conn.requests == []
    assert read_blob(blob_service, azure_container, key) == b"keep me"
    assert properties(blob_service, azure_container, key).etag == etag
    assert all_names(blob_service, azure_container) == [key]


def test_another_account_fails_the_task_before_any_request(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    blob_service: Any,
    azure_container: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = f"wasbs://{azure_container}@otheraccount.blob.core.windows.net/langdock"
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", prefix)
    states = dag_runner.run("langdock_test_export")
    assert states == {"export": "failed", "record": "success"}
    assert langdock_conn.requests == []
    assert all_names(blob_service, azure_container) == []
    assert dag_runner.recorded("langdock_test_export")["export"]["return_value"] is None


# --- URIs, accounts, lineage -------------------------------------------------------------------------------


WINDOWS = "core.windows.net"


@pytest.mark.parametrize(
    ("uri", "normalized", "fields"),
    [
        ("wasb://usage/a/users.csv", "wasb://usage/a/users.csv", ("wasb", "usage", "a/users.csv", None)),
        ("WASB://usage/users.csv", "wasb://usage/users.csv", ("wasb", "usage", "users.csv", None)),
        ("abfs://usage-2026/a/b.csv", "abfs://usage-2026/a/b.csv", ("abfs", "usage-2026", "a/b.csv", None)),
        ("wasb://$root/users.csv", "wasb://$root/users.csv", ("wasb", "$root", "users.csv", None)),
        ("wasb://usage/a #1?.csv", "wasb://usage/a #1?.csv", ("wasb", "usage", "a #1?.csv", None)),
        (
            "wasbs://usage@acct01.blob.core.windows.net/a/users.csv",
            "wasbs://usage@acct01.blob.core.windows.net/a/users.csv",
            ("wasbs", "usage", "a/users.csv", "acct01"),
        ),
        (
            "abfss://usage@acct01.dfs.core.windows.net/users.csv",
            "abfss://usage@acct01.dfs.core.windows.net/users.csv",
            ("abfss", "usage", "users.csv", "acct01"),
        ),
        (
            "wasbs://usage@Acct01.Blob.Core.Windows.Net/Users.csv",
            "wasbs://usage@acct01.blob.core.windows.net/Users.csv",
            ("wasbs", "usage", "Users.csv", "acct01"),
        ),
    ],
)
def test_destination_for_azure_forms(
    no_network: None, uri: str, normalized: str, fields: tuple[Any, ...]
) -> None:
    destination = destination_for(uri)
    assert isinstance(destination, AzureBlobDestination)
    parsed = (destination.uri_scheme, destination.bucket, destination.key, destination.account)
    assert parsed == fields
    assert destination.uri == normalized
    assert destination.endpoint_suffix == WINDOWS
    assert destination.conn_id == "wasb_default"
    assert destination.part_size == DEFAULT_PART_SIZE


def test_destination_for_azure_sovereign_clouds(no_network: None) -> None:
    china = destination_for("abfss://usage@acct01.dfs.core.chinacloudapi.cn/u.csv")
    government = destination_for("wasbs://usage@acct01.blob.core.usgovcloudapi.net/u.csv")
    assert isinstance(china, AzureBlobDestination)
    assert isinstance(government, AzureBlobDestination)
    assert (china.account, china.endpoint_suffix) == ("acct01", "core.chinacloudapi.cn")
    assert (government.account, government.endpoint_suffix) == ("acct01", "core.usgovcloudapi.net")
    assert china.openlineage_naming() == ("abfss://usage@acct01.dfs.core.chinacloudapi.cn", "u.csv")


def test_destination_for_azure_passes_conn_id_and_part_size(no_network: None) -> None:
    destination = destination_for(
        "abfss://usage@acct01.dfs.core.windows.net/u.csv", "my_wasb", part_size=BLOCK
    )
    assert isinstance(destination, AzureBlobDestination)
    assert (destination.conn_id, destination.part_size) == ("my_wasb", BLOCK)
    default = AzureBlobDestination("usage", "u.csv")
    assert (default.conn_id, default.part_size, default.uri) == (
        "wasb_default",
        DEFAULT_PART_SIZE,
        "wasb://usage/u.csv",
    )
    assert (default.account, default.uri_scheme) == (None, "wasb")
    with pytest.raises(ValueError, match="between 1 and"):
        destination_for("wasb://usage/u.csv", part_size=0)
    with pytest.raises(ValueError, match="4000 MiB"):
        AzureBlobDestination("usage", "u.csv", part_size=4000 * MIB + 1)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("wasb://", "container name is missing"),
        ("wasb:///users.csv", "container name is missing"),
        ("wasb:// usage/users.csv", "surrounding spaces"),
        ("wasb://usage", "blob path is missing"),
        ("wasb://usage/", "blob path is missing"),
        ("abfs://usage/exports/", "ends with '/'"),
        ("wasbs://usage@acct01.blob.core.windows.net", "blob path is missing"),
        ("wasb://Usage/users.csv", "'Usage' is not a valid container name"),
        ("wasb://ab/users.csv", "'ab' is not a valid container name"),
        ("wasb://a--b/users.csv", "'a--b' is not a valid container name"),
        ("wasb://-usage/users.csv", "'-usage' is not a valid container name"),
        ("wasb://usage-/users.csv", "'usage-' is not a valid container name"),
        ("wasb://us_age/users.csv", "'us_age' is not a valid container name"),
        (f"wasb://{'a' * 64}/users.csv", "is not a valid container name"),
        (f"wasb://usage/{'k' * 1025}", "longer than 1024 characters"),
        ("wasbs://usage@acct01.example.com/users.csv", "is not a storage account host"),
        ("wasbs://usage@acct01.blob.core.windows.net.evil.example/u.csv", "is not a storage account host"),
        ("wasbs://usage@acct01.file.core.windows.net/u.csv", "is not a storage account host"),
        ("abfss://usage@ac.dfs.core.windows.net/u.csv", "is not a storage account host"),
        ("abfss://usage@acct_01.dfs.core.windows.net/u.csv", "is not a storage account host"),
        ("wasbs://usage@acct01.blob.core.windows.net:443/u.csv", "is not a storage account host"),
        ("wasbs://usage@/users.csv", "is not a storage account host"),
        ("wasb://usage/users\n.csv", "control character U+000A"),
        ("abfs://us\x07age/users.csv", "control character U+0007"),
        ("wasbs://usage@acct01.blob.core.windows.net/u\x85.csv", "control character U+0085"),
        ("https://acct01.blob.core.windows.net/usage/users.csv", "'https' is not supported"),
    ],
)
def test_destination_for_refuses_bad_azure_uris(no_network: None, uri: str, reason: str) -> None:
    with pytest.raises(LangdockInputError, match="`destination` must be") as raised:
        destination_for(uri)
    message = str(raised.value)
    assert message.startswith(f"Invalid destination {uri!r}: ")
    assert reason in message
    for form in AZURE_FORMS:
        assert form in message


def test_another_account_is_refused_without_a_request(
    wasb_conn: str, blob_service: Any, azure_container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"wasbs://{azure_container}@otheraccount.blob.core.windows.net/users.csv"
    destination = destination_for(uri, wasb_conn)
    with monkeypatch.context() as offline:  # the connection's account is read from the client, locally
        offline.setattr("socket.socket.connect", _refuse_connect)
        with pytest.raises(LangdockInputError) as raised:
            destination.check()
    message = str(raised.value)
    for word in ("'otheraccount'", f"'{ACCOUNT_NAME}'", "'wasb_default'", "destination_conn_id", uri):
        assert word in message
    with pytest.raises(LangdockInputError, match="otheraccount"):
        destination.exists()
    with pytest.raises(LangdockInputError, match="otheraccount"):
        destination.write([b"a,b\r\n"])
    assert all_names(blob_service, azure_container) == []


def _refuse_connect(*args: object, **kwargs: object) -> None:
    raise AssertionError("check() opened a network connection")


@pytest.mark.parametrize(
    "uri",
    [
        "wasbs://{container}@devstoreaccount1.blob.core.windows.net/a/users.csv",
        "abfss://{container}@devstoreaccount1.dfs.core.windows.net/a/users.csv",
        "abfss://{container}@DevStoreAccount1.dfs.core.windows.net/a/users.csv",
    ],
)
def test_the_connections_account_named_in_the_uri_lands(
    blob_service: Any, azure_container: str, wasb_conn: str, uri: str
) -> None:
    destination = destination_for(uri.format(container=azure_container), wasb_conn, part_size=BLOCK)
    destination.check()
    assert not destination.exists()
    data = payload(2 * BLOCK + 1)
    assert destination.write(chunked(data, 70_000)) == len(data)
    assert destination.exists()
    assert read_blob(blob_service, azure_container, "a/users.csv") == data
    assert all_names(blob_service, azure_container) == ["a/users.csv"]


@pytest.mark.parametrize(
    ("uri", "namespace"),
    [
        ("wasb://usage/a/users.csv", f"wasbs://usage@{ACCOUNT_NAME}.dfs.core.windows.net"),
        ("abfs://usage/a/users.csv", f"abfss://usage@{ACCOUNT_NAME}.dfs.core.windows.net"),
        (
            f"wasbs://usage@{ACCOUNT_NAME}.blob.core.windows.net/a/users.csv",
            f"wasbs://usage@{ACCOUNT_NAME}.dfs.core.windows.net",
        ),
    ],
)
def test_lineage_names_the_connections_account(
    wasb_conn: str, no_network: None, uri: str, namespace: str
) -> None:
    destination = destination_for(uri, wasb_conn)
    assert destination.openlineage_naming() == (namespace, "a/users.csv")
    assert destination.lineage_asset() == {"uri": f"{namespace}/a/users.csv"}
    assert destination.console_url() == ""  # a portal link needs the account's resource id
    assert destination_console_url(destination) == ""
