"""Download and upload overlap: parts in flight on S3 (moto), Azure (Azurite) and GCS (gcp-storage-emulator).

No SDK is mocked. Where a test needs a part held in flight, a count of the calls running at once, or a
failure, it wraps the one call that sends a part (S3 ``upload_part``, Azure ``stage_block``, GCS's chunk
request at the HTTP adapter); the request itself always reaches the real server. Handshakes are events,
never sleeps; ``HANDSHAKE`` only bounds how long a broken implementation can make a test hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_langdock.destinations import (
    DEFAULT_PART_SIZE,
    MAX_PARTS_IN_FLIGHT,
    LocalDestination,
    ObjectStoreDestination,
    destination_for,
)
from airflow_provider_langdock.destinations.azure import AzureBlobDestination
from airflow_provider_langdock.destinations.gcs import GCSDestination
from airflow_provider_langdock.destinations.s3 import S3Destination
from airflow_provider_langdock.exceptions import LangdockInputError, LangdockVerificationError

from .test_destinations import chunked, payload

MIB = 1024 * 1024
HANDSHAKE = 30.0
"""Seconds a handshake may take before the test fails; a working pipeline needs milliseconds."""
T = TypeVar("T")


class StorageFault(RuntimeError):
    """Raised by a wrapped part call, as a storage error would be."""


def upload_threads() -> list[str]:
    """Names of the uploader threads still alive."""
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("langdock-upload")]


# --- part calls, observed ---------------------------------------------------------------------------------


@dataclass
class PartCalls:
    """The part calls of one write, seen from the uploader threads.

    ``before(number)`` runs first in the uploader thread and may wait or raise. ``log`` records
    ``start N`` / ``end N`` per part and ``abort`` for a request that discards the upload.
    """

    before: Callable[[int], None] = lambda number: None
    log: list[str] = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, number: int, send: Callable[[], T]) -> T:
        self.before(number)
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.log.append(f"start {number}")
        try:
            return send()
        finally:
            with self._lock:
                self.running -= 1
                self.log.append(f"end {number}")

    def aborted(self) -> None:
        with self._lock:
            self.log.append("abort")

    def started(self) -> list[int]:
        return sorted(int(entry.split()[1]) for entry in self.log if entry.startswith("start"))


# --- the three stores, behind one interface --------------------------------------------------------------


@dataclass
class Store:
    """One object store under test, with what the tests need to know about it."""

    name: str
    part_size: int
    make: Callable[[str, int], ObjectStoreDestination]
    """(key, parts_in_flight) -> a destination with this store's small parts."""
    landed: Callable[[str], bytes | None]
    """The committed object's bytes, or None."""
    names: Callable[[], list[str]]
    """Committed objects."""
    pending: Callable[[], list[str]]
    """What a failed write must not leave behind besides objects (S3: open multipart uploads)."""
    observe: Callable[[PartCalls], None]
    """Route this store's part calls (and abort requests) through ``PartCalls``."""
    parallel: bool = True


def s3_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.exceptions import ClientError

    client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("s3_bucket")
    conn_id = request.getfixturevalue("aws_conn")

    def landed(key: str) -> bytes | None:
        try:
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError:
            return None

    def observe(calls: PartCalls) -> None:
        original = S3Hook.get_conn

        def get_conn(self: S3Hook) -> Any:
            s3 = original(self)
            if not getattr(s3, "_observed", False):
                upload_part, abort = s3.upload_part, s3.abort_multipart_upload

                def observed_upload_part(**kwargs: Any) -> Any:
                    return calls.run(kwargs["PartNumber"], lambda: upload_part(**kwargs))

                def observed_abort(**kwargs: Any) -> Any:
                    calls.aborted()
                    return abort(**kwargs)

                s3.upload_part, s3.abort_multipart_upload, s3._observed = (
                    observed_upload_part,
                    observed_abort,
                    True,
                )
            return s3

        monkeypatch.setattr(S3Hook, "get_conn", get_conn)

    return Store(
        name="s3",
        part_size=5 * MIB,
        make=lambda key, parts: S3Destination(
            bucket, key, conn_id=conn_id, part_size=5 * MIB, parts_in_flight=parts
        ),
        landed=landed,
        names=lambda: [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])],
        pending=lambda: [
            item["Key"] for item in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        ],
        observe=observe,
    )


def azure_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobClient

    service, container = request.getfixturevalue("blob_service"), request.getfixturevalue("azure_container")
    conn_id = request.getfixturevalue("wasb_conn")

    def landed(key: str) -> bytes | None:
        try:
            return bytes(service.get_blob_client(container, key).download_blob().readall())
        except ResourceNotFoundError:
            return None

    def observe(calls: PartCalls) -> None:
        stage_block = BlobClient.stage_block

        def observed(self: BlobClient, block_id: str, data: Any, *args: Any, **kwargs: Any) -> Any:
            number = int(block_id.rsplit("-", 1)[1]) + 1
            return calls.run(number, lambda: stage_block(self, block_id, data, *args, **kwargs))

        monkeypatch.setattr(BlobClient, "stage_block", observed)

    block = 256 * 1024
    return Store(
        name="azure",
        part_size=block,
        make=lambda key, parts: AzureBlobDestination(
            container, key, conn_id=conn_id, part_size=block, parts_in_flight=parts
        ),
        landed=landed,
        names=lambda: [blob.name for blob in service.get_container_client(container).list_blobs()],
        pending=list,  # staged blocks belong to no blob; Azure discards them
        observe=observe,
    )


def gcs_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    import requests
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    client, bucket = request.getfixturevalue("gcs_client"), request.getfixturevalue("gcs_bucket")
    conn_id = request.getfixturevalue("gcp_conn")
    chunk = 256 * 1024

    def landed(key: str) -> bytes | None:
        blob = client.bucket(bucket).get_blob(key)
        return None if blob is None else bytes(blob.download_as_bytes())

    def observe(calls: PartCalls) -> None:
        class Observed(requests.adapters.HTTPAdapter):
            """Chunk requests (``Content-Range: bytes a-b/*``) go through ``calls``; DELETEs are aborts."""

            def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
                if request.method == "DELETE" and "upload_id=" in (request.url or ""):
                    calls.aborted()
                found = re.fullmatch(r"bytes (\d+)-\d+/\*", str(request.headers.get("Content-Range", "")))
                if request.method == "PUT" and found:
                    number = int(found[1]) // chunk + 1
                    return calls.run(number, lambda: super(Observed, self).send(request, *args, **kwargs))
                return super().send(request, *args, **kwargs)

        original = GCSHook.get_conn

        def get_conn(self: GCSHook) -> Any:
            storage = original(self)
            storage._http.mount("http://127.0.0.1", Observed())
            return storage

        monkeypatch.setattr(GCSHook, "get_conn", get_conn)

    return Store(
        name="gcs",
        part_size=chunk,
        make=lambda key, parts: GCSDestination(
            bucket, key, conn_id=conn_id, part_size=chunk, parts_in_flight=parts
        ),
        landed=landed,
        names=lambda: [blob.name for blob in client.list_blobs(bucket)],
        pending=list,  # an unfinalised resumable session is never an object
        observe=observe,
        parallel=False,
    )


STORES = {"s3": s3_store, "azure": azure_store, "gcs": gcs_store}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    return STORES[request.param](request, monkeypatch)


@pytest.fixture(params=["s3", "azure"])
def parallel_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    return STORES[request.param](request, monkeypatch)


def assert_nothing_left(store: Store) -> None:
    assert store.names() == []
    assert store.pending() == []
    assert upload_threads() == []


def sha256(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()


# --- landing ------------------------------------------------------------------------------------------------


def test_lands_byte_for_byte_with_parts_in_flight(store: Store) -> None:
    """Parts sent by several uploaders land in order: the object equals the stream, checksum and bytes."""
    calls = PartCalls()
    store.observe(calls)
    data = payload(6 * store.part_size + 12_345)
    threads_before = threading.active_count()

    written = store.make("exports/users.csv", 4).write(chunked(data, store.part_size // 3 + 7))

    assert written == len(data)
    landed = store.landed("exports/users.csv")
    assert sha256(landed) == sha256(data)
    assert landed == data
    # seven parts; on GCS the seventh, short one is the final request, which is not a chunk request
    assert calls.started() == list(range(1, 8 if store.parallel else 7))
    assert calls.running == 0
    assert store.pending() == []
    assert upload_threads() == []
    assert threading.active_count() <= threads_before + (1 if store.name == "s3" else 0)  # moto's handler
    if not store.parallel:
        assert calls.most_at_once == 1  # a resumable upload's chunks never overlap


def test_uploads_run_at_once(parallel_store: Store) -> None:
    """Parts 1 and 2 meet at a barrier inside their upload calls: both are in flight together."""
    both_in_flight = threading.Barrier(2, timeout=HANDSHAKE)

    def meet(number: int) -> None:
        if number <= 2:
            both_in_flight.wait()

    calls = PartCalls(before=meet)
    parallel_store.observe(calls)
    data = payload(5 * parallel_store.part_size + 1)

    parallel_store.make("users.csv", 3).write(chunked(data, 64 * 1024))

    assert parallel_store.landed("users.csv") == data
    assert calls.most_at_once >= 2


def test_the_reader_goes_on_while_a_part_is_in_flight(store: Store) -> None:
    """Part 1's upload is held until the reader has read all of part 2: with one part in flight."""
    read_part_two = threading.Event()

    def hold_part_one(number: int) -> None:
        if number == 1:
            assert read_part_two.wait(HANDSHAKE), "the reader waited for the upload of part 1"

    store.observe(PartCalls(before=hold_part_one))
    data = payload(3 * store.part_size + 5)

    def source() -> Iterator[bytes]:
        for start, chunk in zip(range(0, len(data), 4096), chunked(data, 4096), strict=True):
            if start + len(chunk) >= 2 * store.part_size:
                read_part_two.set()
            yield chunk

    store.make("users.csv", 1).write(source())

    assert store.landed("users.csv") == data
    assert upload_threads() == []


def test_s3_parts_carry_their_crc32(
    s3_client: Any, s3_bucket: str, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each part is sent with its CRC32 (as botocore computes it), and the completion lists them all."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.httpchecksum import Crc32Checksum

    sent: dict[int, tuple[str, str]] = {}
    completed: list[dict[str, Any]] = []
    original = S3Hook.get_conn

    def get_conn(self: S3Hook) -> Any:
        client = original(self)
        upload_part, complete = client.upload_part, client.complete_multipart_upload

        def recorded_upload_part(**kwargs: Any) -> Any:
            expected = Crc32Checksum()
            expected.update(kwargs["Body"].getvalue())
            sent[kwargs["PartNumber"]] = (kwargs["ChecksumCRC32"], expected.b64digest())
            return upload_part(**kwargs)

        def recorded_complete(**kwargs: Any) -> Any:
            completed.extend(kwargs["MultipartUpload"]["Parts"])
            return complete(**kwargs)

        client.upload_part, client.complete_multipart_upload = recorded_upload_part, recorded_complete
        return client

    monkeypatch.setattr(S3Hook, "get_conn", get_conn)
    data = payload(3 * 5 * MIB + 1)
    S3Destination(s3_bucket, "users.csv", conn_id=aws_conn, part_size=5 * MIB).write(chunked(data, MIB))

    assert sorted(sent) == [1, 2, 3, 4]
    assert all(ours == botocores for ours, botocores in sent.values())
    assert [(part["PartNumber"], part.get("ChecksumCRC32")) for part in completed] == [
        (number, sent[number][0]) for number in (1, 2, 3, 4)
    ]
    assert s3_client.get_object(Bucket=s3_bucket, Key="users.csv")["Body"].read() == data


# --- failures ---------------------------------------------------------------------------------------------


def test_an_upload_error_aborts_and_stops_the_reader(store: Store) -> None:
    """Part 3 fails: the error propagates as it is, the reader stops soon, nothing lands, no thread stays."""
    fault = StorageFault("part 3 refused")
    third_failed = threading.Event()

    def fail_third(number: int) -> None:
        if number == 3:
            third_failed.set()
            raise fault
        if number > 3:  # later parts wait, so they cannot finish (and free slots) before part 3 fails
            assert third_failed.wait(HANDSHAKE)

    calls = PartCalls(before=fail_third)
    store.observe(calls)
    part = store.part_size
    pulled = 0

    def source() -> Iterator[bytes]:
        nonlocal pulled
        for chunk in chunked(payload(40 * part), part // 4):
            pulled += len(chunk)
            yield chunk

    with pytest.raises(StorageFault) as raised:
        store.make("users.csv", 2).write(source())

    assert raised.value is fault
    assert pulled <= 8 * part, f"the reader went on for {pulled / part:.1f} parts after the failure"
    assert store.landed("users.csv") is None
    assert calls.running == 0
    assert_nothing_left(store)


@pytest.mark.parametrize("error", [LangdockVerificationError("row count differs"), KeyboardInterrupt()])
def test_a_reader_error_with_parts_in_flight_leaves_nothing(store: Store, error: BaseException) -> None:
    """The stream fails while three parts are held in flight: they finish first, then the upload is
    discarded, and the reader's own error (even a KeyboardInterrupt) propagates."""
    reader_failed = threading.Event()

    def hold(number: int) -> None:
        assert reader_failed.wait(HANDSHAKE)

    calls = PartCalls(before=hold)
    store.observe(calls)
    data = payload(3 * store.part_size + 100)

    def source() -> Iterator[bytes]:
        yield from chunked(data, 50_000)
        reader_failed.set()
        raise error

    with pytest.raises(type(error)) as raised:
        store.make("users.csv", 3).write(source())

    assert raised.value is error
    assert calls.running == 0  # the parts in flight had finished when write raised
    if store.name != "azure":  # Azure's abort sends nothing
        assert calls.log[-1] == "abort", calls.log
    assert store.landed("users.csv") is None
    assert_nothing_left(store)


def test_an_existing_object_is_kept_when_a_part_fails(store: Store) -> None:
    first = payload(2 * store.part_size + 3)
    store.make("users.csv", 2).write(chunked(first, 100_000))

    def fail_second(number: int) -> None:
        if number == 2:
            raise StorageFault("part 2 refused")

    store.observe(PartCalls(before=fail_second))
    with pytest.raises(StorageFault):
        store.make("users.csv", 3).write(chunked(payload(5 * store.part_size)[::-1], 100_000))

    assert store.landed("users.csv") == first
    assert upload_threads() == []


def test_too_many_parts_is_refused_and_aborted(
    parallel_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = parallel_store.make("users.csv", 2)
    monkeypatch.setattr(type(destination), "max_parts", 2)
    with pytest.raises(ValueError, match=r"would need more than 2 (part|block)s; raise part_size"):
        destination.write(chunked(payload(3 * parallel_store.part_size), 100_000))
    assert parallel_store.landed("users.csv") is None
    assert_nothing_left(parallel_store)


# --- memory -----------------------------------------------------------------------------------------------

# In a child process: the in-process servers of this session keep every uploaded byte in memory, which
# tracemalloc would otherwise count as ours.
MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from airflow_provider_langdock.destinations import destination_for

    uri, conn_id, part_size, parts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    destination = destination_for(uri, conn_id, part_size=part_size, parts_in_flight=parts)
    destination.exists()  # warm-up: provider hooks, connection and client libraries are loaded
    block = bytes(range(256)) * 4096  # 1 MiB, yielded 64 times
    tracemalloc.start()
    written = destination.write(block for _ in range(64))
    print(json.dumps({"written": written, "peak": tracemalloc.get_traced_memory()[1]}))
    """
)


def transfer_peak(uri: str, conn_id: str, part_size: int, parts_in_flight: int) -> int:
    """Stream 64 MiB to ``uri`` in a child process; return its tracemalloc peak in bytes."""
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, uri, conn_id, str(part_size), str(parts_in_flight)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["written"] == 64 * MIB
    return int(report["peak"])


@pytest.mark.parametrize(
    ("scheme", "parts_in_flight"), [("s3", 3), ("wasb", 3), ("gs", 2)], ids=["s3", "azure", "gcs"]
)
def test_memory_stays_within_the_parts_in_flight(
    request: pytest.FixtureRequest, scheme: str, parts_in_flight: int
) -> None:
    """Peak below (parts_in_flight + 2) parts: those in flight, the one being read, one being joined."""
    container, conn_id = {
        "s3": ("s3_bucket", "aws_conn"),
        "wasb": ("azure_container", "wasb_conn"),
        "gs": ("gcs_bucket", "gcp_conn"),
    }[scheme]
    uri = f"{scheme}://{request.getfixturevalue(container)}/big.csv"
    peak = transfer_peak(uri, request.getfixturevalue(conn_id), DEFAULT_PART_SIZE, parts_in_flight)
    assert peak < (parts_in_flight + 2) * DEFAULT_PART_SIZE, f"peak {peak / MIB:.1f} MiB"


# --- parameters -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("s3://b/k.csv", S3Destination),
        ("gs://b/k.csv", GCSDestination),
        ("wasb://usage/k.csv", AzureBlobDestination),
    ],
)
def test_parts_in_flight_defaults_and_override(uri: str, kind: type[ObjectStoreDestination]) -> None:
    default = destination_for(uri)
    assert isinstance(default, kind)
    assert (default.part_size, default.parts_in_flight) == (
        kind.default_part_size,
        kind.default_parts_in_flight,
    )
    chosen = destination_for(uri, part_size=6 * MIB, parts_in_flight=MAX_PARTS_IN_FLIGHT)
    assert isinstance(chosen, kind)
    assert (chosen.part_size, chosen.parts_in_flight) == (6 * MIB, MAX_PARTS_IN_FLIGHT)
    assert kind("b", "k", parts_in_flight=1).parts_in_flight == 1


def test_parts_in_flight_is_unused_for_local_paths(tmp_path: Any) -> None:
    assert isinstance(destination_for(str(tmp_path / "users.csv"), parts_in_flight=2), LocalDestination)


@pytest.mark.parametrize("value", [0, -1, MAX_PARTS_IN_FLIGHT + 1, True, 2.0, "2"])
def test_parts_in_flight_out_of_range_is_refused(value: Any) -> None:
    message = (
        rf"parts_in_flight must be an integer from 1 to {MAX_PARTS_IN_FLIGHT}, got {re.escape(repr(value))}"
    )
    for uri in ("s3://b/k.csv", "gs://b/k.csv", "wasb://usage/k.csv", "/tmp/k.csv"):
        with pytest.raises(ValueError, match=message):
            destination_for(uri, parts_in_flight=value)
    with pytest.raises(ValueError, match=message):
        S3Destination("b", "k", parts_in_flight=value)
    destination = AzureBlobDestination("usage", "k")
    with pytest.raises(ValueError, match=message):
        destination.parts_in_flight = value


def test_operator_passes_part_size_and_parts_in_flight_to_the_destination() -> None:
    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

    operator = LangdockUsageExportOperator(
        task_id="t",
        data_type="users",
        destination="s3://b/k.csv",
        part_size=6 * MIB,
        parts_in_flight=MAX_PARTS_IN_FLIGHT,
    )
    target = operator._target()
    assert isinstance(target, S3Destination)
    assert (target.part_size, target.parts_in_flight) == (6 * MIB, MAX_PARTS_IN_FLIGHT)
    default = LangdockUsageExportOperator(
        task_id="d", data_type="users", destination="s3://b/k.csv"
    )._target()
    assert isinstance(default, S3Destination)
    assert default.parts_in_flight == S3Destination.default_parts_in_flight


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"parts_in_flight": 0}, "parts_in_flight must be an integer from 1 to"),
        ({"part_size": 2.5}, r"part_size \(bytes\) must be a whole number"),
        ({"part_size": MIB}, "part_size must be between 5242880 \\(5 MiB\\)"),
        ({"part_size": 100, "destination": "gs://b/k.csv"}, "multiple of 262144 bytes"),
    ],
)
def test_operator_refuses_bad_part_settings_when_the_dag_is_parsed(
    arguments: dict[str, Any], message: str
) -> None:
    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

    arguments = {"destination": "s3://b/k.csv", **arguments}
    with pytest.raises((ValueError, LangdockInputError), match=message):
        LangdockUsageExportOperator(task_id="t", data_type="users", **arguments)


# --- the GCS writer's buffer --------------------------------------------------------------------------------

BufferStep = tuple[str, int]


@given(
    st.lists(
        st.tuples(st.sampled_from(["write", "read", "read_all", "seek_back", "flush"]), st.integers(0, 40)),
        max_size=60,
    )
)
def test_piece_buffer_behaves_like_sliding_buffer(steps: list[BufferStep]) -> None:
    """The zero-copy buffer answers every call as google-cloud-storage's SlidingBuffer does."""
    from google.cloud.storage.fileio import SlidingBuffer

    from airflow_provider_langdock.destinations._gcs_writer import PieceBuffer

    ours, theirs = PieceBuffer(), SlidingBuffer()
    written = 0
    for step, number in steps:
        if step == "write":
            data = payload(written + number)[written:]
            written += number
            assert ours.write(data) == theirs.write(data)
        elif step in ("read", "read_all"):
            size = -1 if step == "read_all" else number
            assert ours.read(size) == theirs.read(size)
        elif step == "seek_back":
            outcomes = []
            for buffer in (ours, theirs):
                try:
                    outcomes.append(buffer.seek(buffer.tell() - number))
                except ValueError:
                    outcomes.append("refused")
            assert outcomes[0] == outcomes[1]
        else:
            ours.flush()
            theirs.flush()
        assert (ours.tell(), len(ours)) == (theirs.tell(), len(theirs))


def test_piece_buffer_hands_a_whole_chunk_over_without_a_copy() -> None:
    from airflow_provider_langdock.destinations._gcs_writer import PieceBuffer

    chunk = payload(256 * 1024)
    buffer = PieceBuffer()
    buffer.write(chunk)
    assert buffer.read(len(chunk)) is chunk
    buffer.flush()
    assert len(buffer) == 0
    buffer.close()
    assert buffer.closed
    with pytest.raises(ValueError, match="closed"):
        buffer.write(b"x")
