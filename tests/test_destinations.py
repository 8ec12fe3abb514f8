"""Streaming destinations against real local storage: moto's S3 server, gcp-storage-emulator, tmp dirs."""

from __future__ import annotations

import gc
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_langdock import destinations
from airflow_provider_langdock.destinations import (
    DEFAULT_PART_SIZE,
    DestinationType,
    GCSDestination,
    LocalDestination,
    S3Destination,
    destination_for,
)
from airflow_provider_langdock.exceptions import LangdockInputError

from .conftest import refuse_gcs_chunk, refuse_s3_part

MIB = 1024 * 1024
S3_PART = 5 * MIB  # the smallest part S3 accepts, to keep multi-part payloads small
GCS_CHUNK = 256 * 1024  # the smallest resumable chunk GCS accepts


class SourceFailure(RuntimeError):
    """Raised by a test iterator half-way through an export."""


def payload(size: int) -> bytes:
    """Deterministic, non-repeating-per-part test data of ``size`` bytes."""
    block = bytes((i * 7 + i // 251) % 256 for i in range(65_537))
    return (block * (size // len(block) + 1))[:size]


def chunked(data: bytes, chunk_size: int) -> Iterator[bytes]:
    """Yield ``data`` in pieces of ``chunk_size`` bytes, like a streamed HTTP download."""
    for start in range(0, len(data), chunk_size):
        yield data[start : start + chunk_size]


def failing_after(data: bytes, chunk_size: int, error: BaseException) -> Iterator[bytes]:
    """Yield all of ``data`` in chunks, then raise ``error`` instead of ending."""
    yield from chunked(data, chunk_size)
    raise error


# Export sizes around the part (S3) or chunk (GCS) size, as functions of that size.
SIZES: dict[str, Callable[[int], int]] = {
    "empty": lambda part: 0,
    "tiny": lambda part: 11,
    "just-under-one-part": lambda part: part - 1,
    "exactly-one-part": lambda part: part,
    "three-parts-plus-remainder": lambda part: 3 * part + 12_345,
}


# --- destination_for ---------------------------------------------------------------------------------


def test_destination_for_s3_defaults_to_aws_default() -> None:
    destination = destination_for("s3://my-bucket/exports/2026/users.csv")
    assert isinstance(destination, S3Destination)
    assert (destination.bucket, destination.key) == ("my-bucket", "exports/2026/users.csv")
    assert destination.conn_id == "aws_default"
    assert destination.part_size == DEFAULT_PART_SIZE
    assert destination.uri == "s3://my-bucket/exports/2026/users.csv"


def test_destination_for_gcs_defaults_to_google_cloud_default() -> None:
    destination = destination_for("gs://my-bucket/a/b.csv")
    assert isinstance(destination, GCSDestination)
    assert (destination.bucket, destination.key) == ("my-bucket", "a/b.csv")
    assert destination.conn_id == "google_cloud_default"
    assert destination.uri == "gs://my-bucket/a/b.csv"


def test_destination_for_passes_conn_id_and_part_size() -> None:
    s3 = destination_for("S3://b/k.csv", "my_aws", part_size=16 * MIB)
    gcs = destination_for("gs://b/k.csv", "my_gcp", part_size=GCS_CHUNK)
    assert isinstance(s3, S3Destination)
    assert (s3.conn_id, s3.part_size) == ("my_aws", 16 * MIB)
    assert isinstance(gcs, GCSDestination)
    assert (gcs.conn_id, gcs.part_size) == ("my_gcp", GCS_CHUNK)


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///data/usage/users.csv", "/data/usage/users.csv"),
        ("file://localhost/data/users.csv", "/data/users.csv"),
        ("file:///data/my%20file.csv", "/data/my file.csv"),
        ("/data/usage/users.csv", "/data/usage/users.csv"),
    ],
)
def test_destination_for_local_paths(uri: str, path: str) -> None:
    destination = destination_for(uri, "ignored_for_local")
    assert isinstance(destination, LocalDestination)
    assert destination.path == Path(path)
    assert destination.uri == Path(path).as_uri()


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "empty"),
        ("s3://", "bucket name is missing"),
        ("s3://bucket", "key is missing"),
        ("s3://bucket/", "key is missing"),
        ("s3:///key.csv", "bucket name is missing"),
        ("s3://bucket/folder/", "names a folder"),
        ("gs://bucket", "key is missing"),
        ("gs:///object.csv", "bucket name is missing"),
        ("relative/path.csv", "must be absolute"),
        ("./users.csv", "must be absolute"),
        ("file://server/share/users.csv", "no host"),
        ("file:users.csv", "must be absolute"),
        ("/data/exports/", "not a directory"),
        ("ftp://host/users.csv", "'ftp' is not supported"),
        ("https://bucket.s3.amazonaws.com/key.csv", "'https' is not supported"),
    ],
)
def test_destination_for_rejects_other_forms(uri: str, reason: str) -> None:
    with pytest.raises(ValueError, match="`destination` must be") as raised:
        destination_for(uri)
    assert isinstance(raised.value, LangdockInputError)
    message = str(raised.value)
    assert reason in message
    assert "s3://<bucket>/<key>" in message
    assert "gs://<bucket>/<object>" in message
    assert "file:///<absolute path>" in message
    assert "wasbs://<container>@<account>.blob.core.windows.net/<path>" in message  # never redacted


@pytest.mark.parametrize(
    ("uri", "character"),
    [
        ("/data/users\n.csv", "U+000A"),
        ("/data/us\x00ers.csv", "U+0000"),
        ("/data/\tusers.csv", "U+0009"),
        ("/data/users.csv\x7f", "U+007F"),
        ("/data/users\x85.csv", "U+0085"),
        ("file:///data/us\x1bers.csv", "U+001B"),
        ("s3://bucket/exports/users.csv\r\n", "U+000D"),
        ("s3://buck\x07et/users.csv", "U+0007"),
        ("gs://bucket/users\x9f.csv", "U+009F"),
        ("gs://bu\x1fcket/users.csv", "U+001F"),
    ],
)
def test_destination_for_refuses_control_characters(uri: str, character: str) -> None:
    with pytest.raises(LangdockInputError, match="`destination` must be") as raised:
        destination_for(uri)
    assert f"control character {character}" in str(raised.value)


@pytest.mark.parametrize(
    ("uri", "character"),
    [
        ("file:///tmp/a%0Ab.csv", "U+000A"),
        ("file:///tmp/a%00b.csv", "U+0000"),
        ("file://localhost/tmp/a%7Fb.csv", "U+007F"),
        ("file:///tmp/a%C2%85b.csv", "U+0085"),
    ],
)
def test_destination_for_refuses_percent_encoded_control_characters_in_file_uris(
    uri: str, character: str
) -> None:
    with pytest.raises(LangdockInputError, match="`destination` must be") as raised:
        destination_for(uri)
    assert f"control character {character} once percent-decoded" in str(raised.value)


def test_percent_encoded_control_characters_are_literal_in_object_keys() -> None:
    destination = destination_for("s3://bucket/a%0Ab.csv")
    assert isinstance(destination, S3Destination)
    assert destination.key == "a%0Ab.csv"


def test_part_size_limits() -> None:
    with pytest.raises(ValueError, match="between"):
        S3Destination("b", "k", part_size=5 * MIB - 1)
    with pytest.raises(ValueError, match="multiple of 262144"):
        GCSDestination("b", "k", part_size=GCS_CHUNK + 1)
    with pytest.raises(ValueError, match="multiple of 262144"):
        GCSDestination("b", "k", part_size=0)


def test_module_import_and_parsing_load_no_storage_libraries() -> None:
    """Only a transfer may load boto3/google/azure; importing and parsing must not.

    The probe compares against the modules present at interpreter start, because a ``*-nspkg.pth``
    file of google-cloud-aiplatform registers an empty ``google.cloud`` namespace before any import.
    """
    probe = textwrap.dedent(
        """
        import json, sys
        at_start = set(sys.modules)
        from airflow_provider_langdock.destinations import destination_for
        for uri in ("s3://b/k.csv", "gs://b/k.csv", "wasb://usage/k.csv", "file:///tmp/k.csv", "/tmp/k.csv",
                    "abfss://usage@acct.dfs.core.windows.net/k.csv"):
            destination_for(uri)
        heavy = ("boto3", "botocore", "s3transfer", "google", "azure", "airflow.providers.amazon",
                 "airflow.providers.google", "airflow.providers.microsoft")
        new = set(sys.modules) - at_start
        print(json.dumps({
            "new_heavy": sorted(n for n in new if any(n == h or n.startswith(h + ".") for h in heavy)),
            "google.cloud.storage": "google.cloud.storage" in sys.modules,
            "destinations_loaded": "airflow_provider_langdock.destinations.s3" in sys.modules,
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"new_heavy": [], "google.cloud.storage": False, "destinations_loaded": True}


# --- the registry --------------------------------------------------------------------------------------

PLACEHOLDERS = {
    "<bucket>": "usage-lake",
    "<container>": "usage-lake",
    "<account>": "lakeaccount",
    "<key>": "langdock/users.csv",
    "<object>": "langdock/users.csv",
    "<blob path>": "langdock/users.csv",
    "<path>": "langdock/users.csv",
    "<absolute path>": "data/users.csv",
}


def filled(form: str) -> str:
    """A documented form with sample values in its placeholders."""
    if "://" not in form:
        return "/data/users.csv"  # "an absolute local path"
    for placeholder, value in PLACEHOLDERS.items():
        form = form.replace(placeholder, value)
    return form


@pytest.mark.parametrize(
    "kind", destinations.destination_types(), ids=lambda kind: kind.name.split()[0].lower()
)
def test_every_documented_form_parses_to_its_type(kind: DestinationType) -> None:
    module_of_kind = next(
        module
        for name, module in sys.modules.items()
        if name.startswith("airflow_provider_langdock.destinations.")
        and getattr(module, "DESTINATION_TYPE", None) is kind
    )
    for form in kind.forms:
        destination = destination_for(filled(form))
        assert type(destination).__module__ == module_of_kind.__name__, form
        assert "<" not in destination.uri


def test_every_type_names_an_extra_of_the_package() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for kind in destinations.destination_types():
        if kind.extra:
            assert kind.extra in extras, kind.name
            assert set(extras[kind.extra]) <= set(extras["dev"]), f"the tests need the {kind.extra} extra"


def test_docs_table_is_the_registry() -> None:
    page = (Path(__file__).parents[1] / "docs" / "destinations.md").read_text()
    start, end = "<!-- destinations-table:start -->\n", "\n<!-- destinations-table:end -->"
    table = page.split(start, 1)[1].split(end, 1)[0]
    assert table == destinations.destinations_table(), (
        "Regenerate the table in docs/destinations.md with: python -c 'from airflow_provider_langdock."
        "destinations import destinations_table; print(destinations_table())'"
    )


@pytest.fixture
def extra_destination_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder added to the package's search path, for destination modules written by a test."""
    monkeypatch.setattr(destinations, "__path__", [*destinations.__path__, str(tmp_path)])
    destinations.destination_types.cache_clear()
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("airflow_provider_langdock.destinations.")]:
        if getattr(sys.modules[name], "__file__", "").startswith(str(tmp_path)):
            del sys.modules[name]
    destinations.destination_types.cache_clear()


MEMORY_DESTINATION = """
from airflow_provider_langdock.destinations.base import Destination, DestinationType, split_bucket_and_key

STORE: dict[str, bytes] = {}


class MemoryDestination(Destination):
    def __init__(self, bucket: str, key: str, conn_id: str) -> None:
        self.bucket, self.key, self.conn_id = bucket, key, conn_id
        self.uri = f"mem://{bucket}/{key}"

    def exists(self) -> bool:
        return self.uri in STORE

    def write(self, chunks, *, content_type="text/csv"):
        STORE[self.uri] = b"".join(chunks)
        return len(STORE[self.uri])


def _parse(scheme, rest, conn_id, part_size):
    return MemoryDestination(*split_bucket_and_key(rest), conn_id=conn_id or "memory_default")


DESTINATION_TYPE = DestinationType(
    name="Memory", forms=("mem://<bucket>/<key>",), schemes=("mem",), parse=_parse,
    default_conn_id="memory_default", order=40,
)
"""


def test_a_new_destination_is_one_module(extra_destination_module: Path) -> None:
    """Dropping one module into the package makes a destination: parsing, errors and docs know it."""
    (extra_destination_module / "memory.py").write_text(MEMORY_DESTINATION)

    destination = destination_for("mem://lake/users.csv")
    assert destination.write([b"a,b\n", b"1,2\n"]) == 8
    assert destination.exists()
    assert "'mem://<bucket>/<key>'" in destinations.allowed_forms()
    assert "| Memory | `mem://<bucket>/<key>` | `memory_default` |" in destinations.destinations_table()
    with pytest.raises(LangdockInputError, match="mem://<bucket>/<key>"):
        destination_for("mem://lake/")


def test_two_types_cannot_serve_one_scheme(extra_destination_module: Path) -> None:
    (extra_destination_module / "other_s3.py").write_text(
        MEMORY_DESTINATION.replace('schemes=("mem",)', 'schemes=("s3",)')
    )
    with pytest.raises(RuntimeError, match="overlap"):
        destinations.destination_types()


# --- local ---------------------------------------------------------------------------------------------


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".part"))


@pytest.mark.parametrize("size", SIZES)
def test_local_writes_byte_for_byte(tmp_path: Path, size: str) -> None:
    data = payload(SIZES[size](MIB))
    target = tmp_path / "nested" / "dirs" / "users.csv"
    destination = destination_for(f"file://{target}")
    assert not destination.exists()

    assert destination.write(chunked(data, 64 * 1024 + 3)) == len(data)

    assert destination.exists()
    assert target.read_bytes() == data
    assert leftovers(target.parent) == []


def test_local_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "users.csv"
    target.write_bytes(b"old contents")
    assert LocalDestination(target).write([b"new,", b"contents\n"]) == 13
    assert target.read_bytes() == b"new,contents\n"


def test_local_failure_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.csv"
    existing = tmp_path / "existing.csv"
    existing.write_bytes(b"previous export")
    for target in (fresh, existing):
        error = SourceFailure("connection reset half-way")
        with pytest.raises(SourceFailure) as raised:
            LocalDestination(target).write(failing_after(payload(3 * MIB), MIB, error))
        assert raised.value is error
    assert not fresh.exists()
    assert existing.read_bytes() == b"previous export"
    assert leftovers(tmp_path) == []


def test_local_rejects_text_chunks(tmp_path: Path) -> None:
    target = tmp_path / "users.csv"
    with pytest.raises(TypeError, match="expects bytes chunks, got str"):
        LocalDestination(target).write([b"a,b\n", "c,d\n"])  # type: ignore[list-item]
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_local_memory_stays_flat(tmp_path: Path) -> None:
    block = payload(MIB)
    tracemalloc.start()
    try:
        written = LocalDestination(tmp_path / "big.csv").write(block for _ in range(64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == 64 * MIB == (tmp_path / "big.csv").stat().st_size
    assert peak < 4 * MIB


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_027() -> Iterator[int]:
    """Run the test under umask 0o027 (a common server setting), restoring the previous one."""
    previous = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(previous)


def test_local_new_file_gets_the_umask_mode(tmp_path: Path, umask_027: int) -> None:
    target = tmp_path / "users.csv"
    LocalDestination(target).write([b"a,b\n"])
    assert mode_of(target) == 0o666 & ~umask_027 == 0o640


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o664, 0o400])
def test_local_overwrite_keeps_the_file_mode(tmp_path: Path, umask_027: int, mode: int) -> None:
    """The old mode is kept exactly, neither widened to nor narrowed by the umask."""
    target = tmp_path / "users.csv"
    target.write_bytes(b"old export with e-mail addresses")
    target.chmod(mode)
    seen_modes: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b"user,email\n"
        # The temporary file already has the final mode while the data is being written.
        seen_modes.extend(mode_of(path) for path in tmp_path.iterdir() if path.name.endswith(".part"))
        yield b"ann,ann@example.com\n"

    LocalDestination(target).write(chunks())

    assert seen_modes == [mode]
    assert mode_of(target) == mode
    assert target.read_bytes() == b"user,email\nann,ann@example.com\n"


def test_local_failed_overwrite_keeps_the_old_file_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "users.csv"
    target.write_bytes(b"previous export")
    target.chmod(0o600)
    with pytest.raises(SourceFailure):
        LocalDestination(target).write(failing_after(b"new", 1, SourceFailure("broke")))
    assert (target.read_bytes(), mode_of(target)) == (b"previous export", 0o600)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "stem",
    [
        pytest.param("a" * 251, id="ascii"),
        pytest.param("ü" * 125 + "x", id="two-byte"),
        pytest.param("x" + "€" * 83 + "y", id="three-byte"),
        pytest.param("xy" + "😀" * 62 + "z", id="four-byte"),
    ],
)
def test_local_names_of_255_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str) -> None:
    """The temporary name is bounded in bytes and cut between characters, never inside one."""
    name = stem + ".csv"
    assert len(name.encode("utf-8")) == 255
    temp_names: list[str] = []
    replace = os.replace

    def spy(source: Any, target: Any) -> None:
        temp_names.append(Path(source).name)
        replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / name

    assert LocalDestination(target).write([b"a,b\n"]) == 4
    assert LocalDestination(target).write([b"c,d\n"]) == 4  # and again, over the existing file

    assert target.read_bytes() == b"c,d\n"
    assert [path.name for path in tmp_path.iterdir()] == [name]
    for temp_name in temp_names:
        encoded = temp_name.encode("utf-8")  # strict: a split character would be a lone surrogate
        assert len(encoded) <= 160
        assert temp_name.startswith("." + name[:20])
        assert temp_name.endswith(".part")
        assert name.startswith(temp_name[1:].rsplit(".", 2)[0])


def test_local_failure_removes_the_directories_it_created(tmp_path: Path) -> None:
    existing = tmp_path / "exports"
    existing.mkdir()
    target = existing / "2026" / "05" / "users.csv"
    with pytest.raises(SourceFailure):
        LocalDestination(target).write(failing_after(payload(MIB), 64 * 1024, SourceFailure("broke")))
    assert not (existing / "2026").exists()
    assert existing.is_dir()
    assert list(existing.iterdir()) == []


def test_local_failure_keeps_created_directories_that_are_not_empty(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "2026" / "users.csv"

    def chunks() -> Iterator[bytes]:
        yield b"a,b\n"
        (tmp_path / "exports" / "other.csv").write_bytes(b"someone else's file")
        raise SourceFailure("broke")

    with pytest.raises(SourceFailure):
        LocalDestination(target).write(chunks())
    assert not (tmp_path / "exports" / "2026").exists()
    assert [path.name for path in (tmp_path / "exports").iterdir()] == ["other.csv"]


def test_local_failure_never_removes_pre_existing_directories(tmp_path: Path) -> None:
    target = tmp_path / "empty" / "users.csv"
    target.parent.mkdir()
    with pytest.raises(TypeError):
        LocalDestination(target).write(["text"])  # type: ignore[list-item]
    assert target.parent.is_dir()
    assert list(target.parent.iterdir()) == []


def test_local_success_keeps_the_directories_it_created(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "2026" / "users.csv"
    LocalDestination(target).write([b"a,b\n"])
    assert target.read_bytes() == b"a,b\n"
    assert [path.name for path in target.parent.iterdir()] == ["users.csv"]


# Memory of S3/GCS transfers is measured in a child process: the in-process servers of this test
# session keep every uploaded byte in memory, which tracemalloc would otherwise count as ours.
MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from airflow_provider_langdock.destinations import destination_for

    uri, conn_id, part_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    destination = destination_for(uri, conn_id, part_size=part_size)
    destination.exists()  # warm-up: provider hooks, connection and client libraries are loaded
    block = bytes(range(256)) * 4096  # 1 MiB, yielded 64 times
    tracemalloc.start()
    written = destination.write(block for _ in range(64))
    print(json.dumps({"written": written, "peak": tracemalloc.get_traced_memory()[1]}))
    """
)


def measure_transfer_peak(uri: str, conn_id: str, part_size: int) -> int:
    """Stream 64 MiB to ``uri`` in a child process; return its tracemalloc peak in bytes."""
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, uri, conn_id, str(part_size)],
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


# --- S3 ------------------------------------------------------------------------------------------------


def pending_uploads(s3_client: Any, bucket: str) -> list[Any]:
    return list(s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.mark.parametrize("size", SIZES)
def test_s3_writes_byte_for_byte(s3_client: Any, s3_bucket: str, aws_conn: str, size: str) -> None:
    data = payload(SIZES[size](S3_PART))
    destination = destination_for(f"s3://{s3_bucket}/exports/users.csv", aws_conn, part_size=S3_PART)
    assert not destination.exists()

    assert destination.write(chunked(data, MIB + 7)) == len(data)

    assert destination.exists()
    stored = s3_client.get_object(Bucket=s3_bucket, Key="exports/users.csv")
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "text/csv"
    # A multipart object's ETag ends in "-<parts>"; anything below one part is a single put_object.
    expected_parts = -(-len(data) // S3_PART) if len(data) >= S3_PART else None
    etag = stored["ETag"].strip('"')
    assert etag.endswith(f"-{expected_parts}") if expected_parts else "-" not in etag
    assert pending_uploads(s3_client, s3_bucket) == []


def test_s3_content_type_is_configurable(s3_client: Any, s3_bucket: str, aws_conn: str) -> None:
    destination = S3Destination(s3_bucket, "users.csv.gz", conn_id=aws_conn, part_size=S3_PART)
    destination.write(chunked(payload(S3_PART + 1), MIB), content_type="application/gzip")
    assert s3_client.head_object(Bucket=s3_bucket, Key="users.csv.gz")["ContentType"] == "application/gzip"


def test_s3_source_failure_aborts_the_upload(s3_client: Any, s3_bucket: str, aws_conn: str) -> None:
    destination = S3Destination(s3_bucket, "users.csv", conn_id=aws_conn, part_size=S3_PART)
    error = SourceFailure("stream broke after three parts")
    with pytest.raises(SourceFailure) as raised:
        destination.write(failing_after(payload(3 * S3_PART + 100), MIB, error))
    assert raised.value is error
    assert not destination.exists()
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert pending_uploads(s3_client, s3_bucket) == []


def test_s3_source_failure_before_the_first_part_stores_nothing(
    s3_client: Any, s3_bucket: str, aws_conn: str
) -> None:
    destination = S3Destination(s3_bucket, "users.csv", conn_id=aws_conn, part_size=S3_PART)
    with pytest.raises(SourceFailure):
        destination.write(failing_after(b"a,b\n1,2\n", 4, SourceFailure("early")))
    assert not destination.exists()
    assert pending_uploads(s3_client, s3_bucket) == []


def test_s3_storage_error_on_a_later_part_aborts_the_upload(
    s3_client: Any, s3_bucket: str, aws_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third UploadPart reaches moto numbered 10001, which moto itself rejects (400 InvalidArgument)."""
    from botocore.exceptions import ClientError

    seen_parts = refuse_s3_part(monkeypatch, 3)
    # One part in flight: part 4 waits for part 3's slot, so nothing after the failing part is sent.
    destination = S3Destination(
        s3_bucket, "users.csv", conn_id=aws_conn, part_size=S3_PART, parts_in_flight=1
    )
    with pytest.raises(ClientError) as raised:
        destination.write(chunked(payload(5 * S3_PART), MIB))
    assert raised.value.response["Error"]["Code"] == "InvalidArgument"
    assert seen_parts == [1, 2, 3]
    assert not destination.exists()
    assert pending_uploads(s3_client, s3_bucket) == []


def test_s3_memory_stays_flat(s3_client: Any, s3_bucket: str, aws_conn: str) -> None:
    peak = measure_transfer_peak(f"s3://{s3_bucket}/big.csv", aws_conn, DEFAULT_PART_SIZE)
    assert s3_client.head_object(Bucket=s3_bucket, Key="big.csv")["ContentLength"] == 64 * MIB
    # the parts in flight, the one being read and the one being joined
    assert peak < (S3Destination.default_parts_in_flight + 2) * DEFAULT_PART_SIZE, (
        f"peak {peak / MIB:.1f} MiB"
    )


# --- GCS -----------------------------------------------------------------------------------------------


def bucket_names(gcs_client: Any, bucket: str) -> list[str]:
    return [blob.name for blob in gcs_client.list_blobs(bucket)]


@pytest.mark.parametrize("size", SIZES)
def test_gcs_writes_byte_for_byte(gcs_client: Any, gcs_bucket: str, gcp_conn: str, size: str) -> None:
    data = payload(SIZES[size](GCS_CHUNK))
    destination = destination_for(f"gs://{gcs_bucket}/exports/users.csv", gcp_conn, part_size=GCS_CHUNK)
    assert not destination.exists()

    assert destination.write(chunked(data, 100_003)) == len(data)

    assert destination.exists()
    blob = gcs_client.bucket(gcs_bucket).get_blob("exports/users.csv")
    assert blob.size == len(data)
    assert blob.content_type == "text/csv"
    assert blob.download_as_bytes() == data


def test_gcs_content_type_is_configurable(gcs_client: Any, gcs_bucket: str, gcp_conn: str) -> None:
    destination = GCSDestination(gcs_bucket, "users.csv.gz", conn_id=gcp_conn, part_size=GCS_CHUNK)
    destination.write([b"\x1f\x8b", b"rest"], content_type="application/gzip")
    assert gcs_client.bucket(gcs_bucket).get_blob("users.csv.gz").content_type == "application/gzip"


def test_gcs_source_failure_cancels_without_finalising(
    gcs_client: Any, gcs_bucket: str, gcp_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gcp_storage_emulator")  # the emulator logs each request line
    destination = GCSDestination(gcs_bucket, "users.csv", conn_id=gcp_conn, part_size=GCS_CHUNK)
    error = SourceFailure("stream broke after three chunks")
    with pytest.raises(SourceFailure) as raised:
        destination.write(failing_after(payload(3 * GCS_CHUNK + 100), 50_000, error))
    assert raised.value is error
    gc.collect()
    assert not destination.exists()
    assert bucket_names(gcs_client, gcs_bucket) == []
    # The session was cancelled at its own URL (the emulator answers 501, real GCS 499).
    requests = [record.getMessage() for record in caplog.records if "HTTP/1.1" in record.getMessage()]
    uploads = [line for line in requests if "upload_id=" in line]
    # chunks 1 and 2 were sent before chunk 3 was queued; chunk 3 is dropped unless it was on its way
    assert [line.split()[0] for line in uploads] in (['"PUT'] * n + ['"DELETE'] for n in (2, 3))


def test_gcs_storage_error_on_a_later_chunk_leaves_nothing(
    gcs_client: Any, gcs_bucket: str, gcp_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third chunk reaches the emulator with a wrong Content-Range start, which it rejects (400)."""
    sent_chunks = refuse_gcs_chunk(monkeypatch, 3)
    destination = GCSDestination(gcs_bucket, "users.csv", conn_id=gcp_conn, part_size=GCS_CHUNK)
    with pytest.raises(Exception, match="400") as raised:
        destination.write(chunked(payload(5 * GCS_CHUNK + 10), 100_000))
    assert not isinstance(raised.value, SourceFailure)
    assert len(sent_chunks) == 3
    gc.collect()
    assert not destination.exists()
    assert bucket_names(gcs_client, gcs_bucket) == []


def test_gcs_writer_never_finalises_without_commit(gcs_client: Any, gcs_bucket: str) -> None:
    """Dropping the writer (garbage collection) or leaving a ``with`` block does not commit.

    A plain google-cloud-storage BlobWriter would finalise the partial object in both cases.
    """
    from airflow_provider_langdock.destinations._gcs_writer import CommitOnlyBlobWriter

    bucket = gcs_client.bucket(gcs_bucket)
    dropped = CommitOnlyBlobWriter(bucket.blob("dropped.csv"), chunk_size=GCS_CHUNK, content_type="text/csv")
    dropped.write(payload(2 * GCS_CHUNK + 5))
    del dropped
    gc.collect()

    with CommitOnlyBlobWriter(bucket.blob("block.csv"), chunk_size=GCS_CHUNK, content_type="text/csv") as w:
        w.write(payload(GCS_CHUNK + 5))

    committed = CommitOnlyBlobWriter(bucket.blob("kept.csv"), chunk_size=GCS_CHUNK, content_type="text/csv")
    committed.write(b"a,b\n")
    committed.commit()
    assert committed.closed
    with pytest.raises(ValueError, match="already committed"):
        committed.commit()

    assert bucket_names(gcs_client, gcs_bucket) == ["kept.csv"]


def test_gcs_memory_stays_flat(gcs_client: Any, gcs_bucket: str, gcp_conn: str) -> None:
    peak = measure_transfer_peak(f"gs://{gcs_bucket}/big.csv", gcp_conn, DEFAULT_PART_SIZE)
    assert gcs_client.bucket(gcs_bucket).get_blob("big.csv").size == 64 * MIB
    assert peak < (GCSDestination.default_parts_in_flight + 2) * DEFAULT_PART_SIZE, (
        f"peak {peak / MIB:.1f} MiB"
    )
