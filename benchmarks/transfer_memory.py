"""Benchmark: peak memory and wall time of streaming a Langdock export (64 MiB and 1 GiB) to S3, GCS and
Azure, and the parse cost of importing the operator and the sensor.

The same export file moves from the Langdock simulator to local storage servers, in these ways:

S3 (moto's S3 server):

* ours: ``LangdockUsageExportOperator(..., destination="s3://...").execute(context)``: the export
  request, then the streaming multipart upload;
* ``HttpToS3Operator`` of apache-airflow-providers-amazon, with an ``http`` connection to the
  simulator's download host and the signed URL's path and query as the endpoint;
* the baseline: ``requests.get(url, stream=True)`` and boto3's ``upload_fileobj(response.raw)``;
* ours with ``personal_data="pseudonymize"`` and ``personal_data="drop"``: the cost of rewriting the
  personal columns on the way (their landed files are checked against the export file rewritten here).

Google Cloud Storage (gcp-storage-emulator, in memory):

* ours: ``LangdockUsageExportOperator(..., destination="gs://...").execute(context)``: the export
  request, then a resumable upload fed chunk by chunk as the download streams;
* ``HttpToGCSOperator`` of apache-airflow-providers-google, on the same ``http`` connection;
* the baseline: ``requests.get(url, stream=True)`` and google-cloud-storage's
  ``blob.upload_from_file(response.raw)`` with its defaults (a resumable upload in 100 MiB chunks);
* the same with ours' chunk size, which shows what the chunk size alone costs on the emulator.

Azure Blob Storage (Azurite's Blob service, npm ``azurite`` from ``node_modules``):

* ours: ``LangdockUsageExportOperator(..., destination="wasb://...").execute(context)``: the export
  request, then 8 MiB blocks staged as the download streams and the block list committed last;
* the baseline: ``requests.get(url, stream=True)`` and azure-storage-blob's
  ``BlobClient.upload_blob(response.raw)`` with its defaults (4 MiB blocks, ``max_concurrency=1``).

Each export size is exported once and every contender, of every storage, gets the same file at the same
signed URL (the simulator answers a repeated export request with the file it already made). moto, the
GCS emulator and Azurite each run in their own process, one of each for the whole run; the simulator
runs in this one; every contender runs in a fresh child process (``benchmarks/contenders.py``) that reads
its RSS before the transfer and its peak RSS (VmHWM, reset just before) after it. Each landed object or
blob is read back, checked (size and SHA-256) against the export file and deleted. Before the measured
transfers, every contender moves a small export once, checked but not measured (the warm-up round, left
out with ``--quick``); the children keep their bytecode caches in the run's temporary directory
(``PYTHONPYCACHEPREFIX``), so they do not compile their imports anew even where
``PYTHONDONTWRITEBYTECODE`` is set.

After the transfers, the parse cost (``benchmarks/parse_cost.py``): fresh ``python -c "import
airflow.sdk"`` processes with and without importing our operator and sensor, median wall time and
module count, and the heavy modules our imports load.

    python benchmarks/transfer_memory.py [--sizes 64MiB,1GiB] [--repeat 3] [--quick]
        [--storage s3,gcs,azure] [--parse-runs 15] [--budget-mib 100]
        [--contenders ours,http_to_s3,boto3,http_to_gcs,upload_from_file,
                      upload_from_file_our_chunks,upload_blob]

``--storage`` defaults to every storage this machine can start: GCS needs apache-airflow-providers-google,
google-cloud-storage and gcp-storage-emulator; Azure needs azure-storage-blob,
apache-airflow-providers-microsoft-azure and ``azurite-blob`` (``make node_modules``). A storage that
cannot start is left out with a note; naming one is an error.

Prints one Markdown table per storage (median wall time and range, largest peak RSS of the repeats), the
parse-cost table and the targets with whether each holds, and writes them to benchmarks/results/latest.md.
Exits 1 when a contender fails or lands wrong bytes, and 3 when ours needs more than ``--budget-mib`` MiB
above its RSS before the transfer, on any storage (0 disables that check). Missed targets do not change
the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
import parse_cost
import requests

from airflow_provider_langdock.destinations._object_store import ObjectStoreDestination
from airflow_provider_langdock.destinations.azure import AzureBlobDestination
from airflow_provider_langdock.destinations.gcs import GCSDestination
from airflow_provider_langdock.destinations.s3 import S3Destination
from airflow_provider_langdock.personal_data import PersonalData, PersonalDataFilter
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.testing.azurite import Azurite, AzuriteNotInstalledError, find_azurite_blob

HERE = Path(__file__).resolve().parent
CHILD = HERE / "contenders.py"
DEFAULT_OUTPUT = HERE / "results" / "latest.md"
QUICK_OUTPUT = HERE / "results" / "quick.md"

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
DEFAULT_SIZES = "64MiB,1GiB"
QUICK_SIZES = "12MiB"
DEFAULT_REPEAT = 3
DEFAULT_BUDGET_MIB = 100
EXIT_FAILED = 1
EXIT_OVER_BUDGET = 3

API_KEY = "benchmark-key"
BUCKET = "langdock-benchmark"
"""The S3 and GCS bucket, and the Azure container (a valid name for all three)."""
GCP_PROJECT = "langdock-benchmark"
DATA_TYPE = "users"
HTTP_CONN_ID = "langdock_downloads"
URL_TTL_SECONDS = 6 * 3600.0
SAMPLE_ROWS = 20_000
CHILD_TIMEOUT_SECONDS = 1800
LOOPBACK = "127.0.0.1"

CONTENDERS = {
    "ours": "LangdockUsageExportOperator (ours)",
    "ours_pseudonymize": 'ours, `personal_data="pseudonymize"`',
    "ours_drop": 'ours, `personal_data="drop"`',
    "http_to_s3": "HttpToS3Operator",
    "boto3": "bare boto3 `upload_fileobj`",
    "http_to_gcs": "HttpToGCSOperator",
    "upload_from_file": "bare `blob.upload_from_file`",
    "upload_from_file_our_chunks": "bare `blob.upload_from_file`, ours' chunk size",
    "upload_blob": "bare `BlobClient.upload_blob`",
}
PERSONAL_DATA_CONTENDERS: dict[str, PersonalData] = {"ours_pseudonymize": "pseudonymize", "ours_drop": "drop"}
"""Ours with ``personal_data`` other than ``keep``: they land the file rewritten."""
PSEUDONYMIZATION_KEY = "benchmark-pseudonymization-key-0123456789"
TARGET_SIZE = GIB
TARGET_WALL_RATIO = 1.0
TARGET_DELTA_MIB = 64.0
TARGET_STORAGES = ("s3", "gcs")
"""Targets: at TARGET_SIZE on these storages, ours' median wall time at most TARGET_WALL_RATIO times the
baseline's in the same run, and its peak RSS above RSS before at most TARGET_DELTA_MIB."""


@dataclass(frozen=True)
class Storage:
    """A kind of target: its contenders in table order and the baseline the ratios refer to."""

    title: str
    contenders: tuple[str, ...]
    baseline: str
    packages: tuple[str, ...]
    short: str
    """The name in the verdict lines."""


STORAGES = {
    "s3": Storage(
        "S3 (moto's S3 server)",
        ("ours", "ours_pseudonymize", "ours_drop", "http_to_s3", "boto3"),
        "boto3",
        (
            "apache-airflow-providers-amazon",
            "apache-airflow-providers-http",
            "boto3",
            "botocore",
            "s3transfer",
            "moto",
        ),
        "S3",
    ),
    "gcs": Storage(
        "Google Cloud Storage (gcp-storage-emulator)",
        ("ours", "http_to_gcs", "upload_from_file", "upload_from_file_our_chunks"),
        "upload_from_file",
        ("apache-airflow-providers-google", "google-cloud-storage", "google-auth", "gcp-storage-emulator"),
        "GCS",
    ),
    "azure": Storage(
        "Azure Blob Storage (Azurite's Blob service)",
        ("ours", "upload_blob"),
        "upload_blob",
        ("apache-airflow-providers-microsoft-azure", "azure-storage-blob", "azure-core"),
        "Azure",
    ),
}
PACKAGES = ("airflow-provider-langdock", "apache-airflow", "requests", "urllib3")
"""Versions in the report, before those of the storages that ran."""


@dataclass(frozen=True)
class Export:
    """One export file on the simulator, shared by every contender."""

    size: int
    rows: int
    url: str
    sha256: str
    date_from: datetime
    date_to: datetime
    #: Size and SHA-256 of the file landed with personal data pseudonymized or dropped.
    rewritten: dict[str, tuple[int, str]] = field(default_factory=dict)

    def expected(self, contender: str) -> tuple[int, str]:
        """Size and SHA-256 of what ``contender`` must land."""
        mode = PERSONAL_DATA_CONTENDERS.get(contender)
        return self.rewritten[mode] if mode else (self.size, self.sha256)


def export_once(simulator: LangdockSimulator, rows: int, day: int) -> Export:
    """Export ``rows`` users rows for the UTC day ``day`` days before today; hash the file, and the file
    as it lands with personal data pseudonymized and dropped (rewritten here, in this process)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    date_from, date_to = today - timedelta(days=day), today - timedelta(days=day - 1)
    simulator.row_count = rows
    body = {
        "from": {"date": date_from.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "timezone": "UTC"},
        "to": {"date": date_to.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "timezone": "UTC"},
    }
    response = requests.post(
        f"{simulator.base_url}/export/{DATA_TYPE}",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=600,
    )
    response.raise_for_status()
    url = response.json()["data"]["downloadUrl"]
    with requests.get(url, stream=True, timeout=60) as download:
        download.raise_for_status()
        size, sha256 = digest_of(download.iter_content(MIB))
    rewritten = {}
    for mode in PERSONAL_DATA_CONTENDERS.values():
        with requests.get(url, stream=True, timeout=60) as download:
            download.raise_for_status()
            rewriter = PersonalDataFilter(DATA_TYPE, mode, PSEUDONYMIZATION_KEY)
            rewritten[mode] = digest_of(rewriter.rewrite(header_first(download.iter_content(MIB))))
    return Export(size, rows, url, sha256, date_from, date_to, rewritten)


def digest_of(chunks: Iterator[bytes]) -> tuple[int, str]:
    """Size and SHA-256 of a byte stream."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def header_first(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks with the header line as a piece of its own, as the operator's stream hands them on."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\n" in pending:
            end = pending.index(b"\n") + 1
            yield pending[:end]
            yield pending[end:]
            break
    else:
        yield pending
    yield from chunks


def sample_export(simulator: LangdockSimulator) -> Export:
    """A small export (SAMPLE_ROWS rows): its bytes per row size the others; the warm-up round moves it."""
    return export_once(simulator, SAMPLE_ROWS, day=1)


# -- moto's S3 server in its own process ------------------------------------------------------------


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server_process(
    name: str, command: list[str], ready_url: str, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run ``command`` until the block ends; enter once ``ready_url`` answers any HTTP response."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(ready_url, timeout=1)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within 60 s; see {log_path}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def moto_server(log_path: Path) -> Iterator[str]:
    """Run ``python -m moto.server`` on 127.0.0.1 (free port) until the block ends; yield its URL."""
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    # Objects stay in moto's memory instead of spilling to temporary files (less disk noise).
    with server_process(
        "moto_server",
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        f"{endpoint}/moto-api/",
        log_path,
        env={**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(4 * GIB)},
    ):
        yield endpoint


@contextlib.contextmanager
def gcs_emulator(log_path: Path) -> Iterator[str]:
    """Run gcp-storage-emulator in memory on 127.0.0.1 (free port) until the block ends; yield its URL."""
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--in-memory", "--quiet"]
    with server_process(
        "gcp-storage-emulator",
        [*command, "--host", LOOPBACK, "--port", str(port)],
        f"{endpoint}/storage/v1/b?project={GCP_PROJECT}",
        log_path,
    ):
        yield endpoint


def s3_client(endpoint: str) -> Any:
    """A boto3 client on the local S3 server (credentials and region come from the environment)."""
    return boto3.client("s3", endpoint_url=endpoint)


def landed_object(client: Any, key: str) -> tuple[int, str]:
    """Size and SHA-256 of an object, read back as a stream."""
    size = int(client.head_object(Bucket=BUCKET, Key=key)["ContentLength"])
    digest = hashlib.sha256()
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
    for chunk in body.iter_chunks(MIB):
        digest.update(chunk)
    return size, digest.hexdigest()


# -- Azurite: availability and version ---------------------------------------------------------------


def azurite_program() -> str:
    """``azurite-blob``: ``$AZURITE_BLOB``, else this checkout's ``node_modules``, else the usual search."""
    pinned = HERE.parent / "node_modules" / ".bin" / "azurite-blob"
    if not os.environ.get("AZURITE_BLOB") and os.access(pinned, os.X_OK):
        return str(pinned)
    return find_azurite_blob()


def missing_package(*packages: str) -> str | None:
    """Why the first of ``packages`` that is not installed is needed, or None when all are."""
    for package in packages:
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            return f"{package} is not installed (pip install -e '.[dev]')"
    return None


def azure_unavailable() -> str | None:
    """Why the Azure contenders cannot run on this machine, or None when they can."""
    missing = missing_package("azure-storage-blob", "apache-airflow-providers-microsoft-azure")
    if missing is not None:
        return missing
    try:
        azurite_program()
    except AzuriteNotInstalledError as error:
        return str(error)
    return None


def gcs_unavailable() -> str | None:
    """Why the GCS contenders cannot run on this machine, or None when they can."""
    return missing_package("google-cloud-storage", "apache-airflow-providers-google", "gcp-storage-emulator")


UNAVAILABLE = {"s3": lambda: None, "gcs": gcs_unavailable, "azure": azure_unavailable}
"""Per storage: why it cannot run here, or None."""


def azurite_version(program: str) -> str:
    """``Azurite 3.35.0 (Node v20.20.2)``, as far as the programs tell."""
    versions = []
    for command in ([program, "--version"], ["node", "--version"]):
        try:
            versions.append(
                subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
            )
        except (OSError, subprocess.SubprocessError):
            versions.append("unknown")
    return f"Azurite {versions[0]} (Node {versions[1]})"


# -- where contenders write, and how it is checked -------------------------------------------------------


class Target(Protocol):
    """A bucket (container) on a running storage server, seen from this process."""

    endpoint: str
    """Passed to the children: the S3 endpoint URL, the GCS emulator's URL or the Azure Storage connection
    string."""

    def take(self, key: str) -> tuple[int, str] | None:
        """Size and SHA-256 of what landed under ``key``, which is then deleted; None if nothing did."""


class S3Target:
    """The benchmark bucket on moto's S3 server."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client = s3_client(endpoint)
        self.client.create_bucket(Bucket=BUCKET)

    def take(self, key: str) -> tuple[int, str] | None:
        """Read the object back; delete it (moto keeps objects in memory until deleted)."""
        from botocore.exceptions import ClientError

        try:
            landed = landed_object(self.client, key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise
        self.client.delete_object(Bucket=BUCKET, Key=key)
        return landed


class GCSTarget:
    """The benchmark bucket on gcp-storage-emulator, through an anonymous google-cloud-storage client."""

    def __init__(self, endpoint: str) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        self.endpoint = endpoint
        client = storage.Client(
            project=GCP_PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )
        self.bucket = client.create_bucket(BUCKET)

    def take(self, key: str) -> tuple[int, str] | None:
        """Read the object back; delete it (the emulator runs in memory)."""
        blob = self.bucket.get_blob(key)
        if blob is None:
            return None
        digest = hashlib.sha256()
        with blob.open("rb", chunk_size=8 * MIB) as reader:
            while chunk := reader.read(MIB):
                digest.update(chunk)
        blob.delete()
        return int(blob.size), digest.hexdigest()


class AzureTarget:
    """The benchmark container on Azurite, through azure-storage-blob."""

    def __init__(self, azurite: Azurite) -> None:
        from azure.storage.blob import BlobServiceClient

        self.endpoint = azurite.connection_string
        self.container = BlobServiceClient.from_connection_string(self.endpoint).get_container_client(BUCKET)
        self.container.create_container()

    def take(self, key: str) -> tuple[int, str] | None:
        """Read the blob back; delete it (Azurite runs in memory)."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.container.get_blob_client(key)
        try:
            size = int(blob.get_blob_properties().size)
        except ResourceNotFoundError:
            return None
        digest = hashlib.sha256()
        for chunk in blob.download_blob().chunks():
            digest.update(chunk)
        blob.delete_blob()
        return size, digest.hexdigest()


# -- contenders in child processes ------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One measured transfer of one contender."""

    wall_seconds: float
    rss_before_kib: int
    peak_rss_kib: int
    rss_method: str
    landed_bytes: int
    problems: tuple[str, ...]

    @property
    def delta_mib(self) -> float:
        """Peak RSS above the RSS before the transfer, in MiB."""
        return (self.peak_rss_kib - self.rss_before_kib) / KIB


@dataclass(frozen=True)
class Row:
    """A contender's runs on one storage at one export size: the median wall time and the largest peak."""

    storage: str
    contender: str
    export: Export
    runs: tuple[Run, ...]

    @property
    def walls(self) -> list[float]:
        """Wall seconds of every run."""
        return [run.wall_seconds for run in self.runs]

    @property
    def wall_seconds(self) -> float:
        """Median wall time."""
        return statistics.median(self.walls)

    @property
    def worst(self) -> Run:
        """The run with the largest peak - before (the memory figures reported)."""
        return max(self.runs, key=lambda run: run.delta_mib)

    @property
    def delta_mib(self) -> float:
        """The largest peak RSS above the RSS before the transfer, in MiB."""
        return self.worst.delta_mib

    @property
    def verified(self) -> bool:
        """Every run landed exactly the export file."""
        return not any(run.problems for run in self.runs)

    @property
    def note(self) -> str:
        """What went wrong, if anything."""
        return "; ".join(sorted({problem for run in self.runs for problem in run.problems}))


def environment(
    simulator: LangdockSimulator,
    s3_endpoint: str | None,
    gcs_endpoint: str | None,
    azurite: Azurite | None,
    work_dir: Path,
) -> dict[str, str]:
    """Connections and settings for the child processes (everything on 127.0.0.1).

    Bytecode caches: the children write and read them under ``work_dir/pycache`` (``PYTHONPYCACHEPREFIX``),
    also where ``PYTHONDONTWRITEBYTECODE`` is set or the site-packages hold none, so a child does not spend
    its transfer compiling the modules it imports lazily; the source trees are left alone.
    """
    download = urlsplit(simulator.download_base_url)
    connections: dict[str, dict[str, Any]] = {
        "AIRFLOW_CONN_LANGDOCK_DEFAULT": {
            "conn_type": "langdock",
            "host": simulator.base_url,
            "password": API_KEY,
            "extra": {"pseudonymization_key": PSEUDONYMIZATION_KEY},
        },
        f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": {
            "conn_type": "http",
            "host": download.hostname,
            "port": download.port,
            "schema": download.scheme,
        },
    }
    if s3_endpoint is not None:
        connections["AIRFLOW_CONN_AWS_DEFAULT"] = {
            "conn_type": "aws",
            "login": "benchmark",
            "password": "benchmark",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
        }
    settings: dict[str, str] = {}
    if gcs_endpoint is not None:
        connections["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = {
            "conn_type": "google_cloud_platform",
            "extra": {"is_anonymous": True, "project": GCP_PROJECT},
        }
        settings["STORAGE_EMULATOR_HOST"] = gcs_endpoint  # routes every google-cloud-storage client
    if azurite is not None:
        connections["AIRFLOW_CONN_WASB_DEFAULT"] = azurite.connection()
    dropped = {"GOOGLE_APPLICATION_CREDENTIALS", "PYTHONDONTWRITEBYTECODE"}
    inherited = {name: value for name, value in os.environ.items() if name not in dropped}
    return {
        **inherited,
        **settings,
        **{name: json.dumps(value) for name, value in connections.items()},
        "AIRFLOW_HOME": str(work_dir / "airflow-home"),
        "PYTHONPYCACHEPREFIX": str(work_dir / "pycache"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def check_landed(
    export: Export,
    key: str,
    landed: tuple[int, str] | None,
    reported: dict[str, Any],
    contender: str = "ours",
) -> tuple[str, ...]:
    """What is wrong with a transfer: nothing or other bytes landed, or the contender reported other
    bytes or another export file; empty when it landed exactly the file it should (the export file, or
    the export file rewritten for ``personal_data``)."""
    problems = []
    expected_size, expected_sha256 = export.expected(contender)
    if landed is None:
        problems.append(f"nothing landed at {key}")
    elif landed != (expected_size, expected_sha256):
        size, sha256 = landed
        problems.append(
            f"landed {size} bytes (SHA-256 {sha256[:12]}), expected {expected_size} ({expected_sha256[:12]})"
        )
    if "bytes" in reported and reported["bytes"] != expected_size:
        problems.append(f"reported {reported['bytes']} bytes written")
    if reported.get("download_url") is not None and reported["download_url"] != export.url:
        problems.append("exported a different file than the shared one")
    return tuple(problems)


def run_contender(
    storage: str,
    contender: str,
    export: Export,
    name: str,
    target: Target,
    env: dict[str, str],
    work_dir: Path,
) -> Run:
    """Measure one transfer of a contender in a fresh process and verify what it landed."""
    key = f"benchmark/{storage}/{contender}/{name}.csv"
    result_path = work_dir / f"{storage}-{contender}-{name}.json"
    log_path = work_dir / f"{storage}-{contender}-{name}.log"
    spec = {
        "storage": storage,
        "contender": contender,
        "url": export.url,
        "data_type": DATA_TYPE,
        "date_from": export.date_from.isoformat(),
        "date_to": export.date_to.isoformat(),
        "bucket": BUCKET,
        "key": key,
        "endpoint": target.endpoint,
        "http_conn_id": HTTP_CONN_ID,
        "result": str(result_path),
    }
    print(f"  {storage}: {CONTENDERS[contender]}, {name} ...", end=" ", flush=True)
    with log_path.open("wb") as log:
        completed = subprocess.run(
            [sys.executable, str(CHILD), json.dumps(spec)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=CHILD_TIMEOUT_SECONDS,
        )
    if completed.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(
            f"{storage} {contender} ({name}) failed ({completed.returncode}); end of its log:\n{tail}"
        )
    measured = json.loads(result_path.read_text())
    landed = target.take(key)
    size = landed[0] if landed is not None else 0
    problems = check_landed(export, key, landed, measured["reported"], contender)
    run = Run(
        wall_seconds=measured["wall_seconds"],
        rss_before_kib=measured["rss_before_kib"],
        peak_rss_kib=measured["peak_rss_kib"],
        rss_method=measured["rss_method"],
        landed_bytes=size,
        problems=problems,
    )
    print(f"{run.wall_seconds:.1f} s, peak - before {run.delta_mib:.1f} MiB", *problems)
    return run


# -- report -----------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``64MiB``, ``1GiB``, ``512KiB`` or a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 64MiB or 1GiB)")
    units = {"kib": KIB, "mib": MIB, "gib": GIB, "b": 1}
    return int(float(match.group(1)) * units[(match.group(2) or "B").lower()])


def size_label(size: int) -> str:
    """``64MiB`` / ``1GiB`` style label of a requested size."""
    if size % GIB == 0:
        return f"{size // GIB}GiB"
    if size % MIB == 0:
        return f"{size // MIB}MiB"
    return f"{size}B"


def human_size(size: int) -> str:
    """An actual file size, e.g. ``64.0 MiB`` or ``1.00 GiB``."""
    return f"{size / GIB:.2f} GiB" if size >= GIB else f"{size / MIB:.1f} MiB"


def ratio(value: float, reference: Row | None) -> str:
    """``value`` as a multiple of the reference row's peak - before (``-`` without a usable reference)."""
    if reference is None or reference.delta_mib < 1:
        return "-"
    return f"{value / reference.delta_mib:.2f}x"


def wall_ratio(row: Row, reference: Row | None) -> str:
    """The row's median wall time as a multiple of the reference row's (``-`` without a reference)."""
    if reference is None or reference.wall_seconds <= 0:
        return "-"
    return f"{row.wall_seconds / reference.wall_seconds:.2f}x"


def provider_source() -> str:
    """Where the provider was imported from and, inside a git checkout, its commit (read-only git calls)."""
    import airflow_provider_langdock

    package_dir = Path(airflow_provider_langdock.__file__).resolve().parent
    git = ["git", "--no-optional-locks", "-C", str(package_dir)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"provider imported from {package_dir}"
    state = " with uncommitted changes" if changes else ""
    return f"provider imported from {package_dir} (git {commit}{state})"


def load_text(load: tuple[float, float, float] | None) -> str:
    """``1.73 0.80 0.89`` (as ``uptime`` shows it), or ``unknown``."""
    return "unknown" if load is None else " ".join(f"{value:.2f}" for value in load)


def machine_info(
    storages: list[str],
    services: list[str],
    load_before: tuple[float, float, float] | None,
    load_after: tuple[float, float, float] | None,
) -> list[str]:
    """Cores, CPU, memory, OS, load, Python, library and storage-server versions."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
        memory = f", {total_kib / MIB:.1f} GiB RAM"
    versions = []
    for package in PACKAGES + tuple(
        package for storage in storages for package in STORAGES[storage].packages
    ):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    cores = len(os.sched_getaffinity(0))
    return [
        f"Machine: {cores} cores ({cpu}){memory}, {platform.system()} {platform.release()}; load average "
        f"(1, 5, 15 min) at the start {load_text(load_before)}, at the end {load_text(load_after)}.",
        f"Python {platform.python_version()}; "
        + ", ".join(versions + services)
        + "; "
        + provider_source()
        + ".",
    ]


def _upload_shape(destination: type[ObjectStoreDestination]) -> str:
    """E.g. "8 MiB parts, up to 2 in flight": the destination's defaults, as the operator uses them."""
    return (
        f"{destination.default_part_size // MIB} MiB {destination.part_noun}s, up to "
        f"{destination.default_parts_in_flight} in flight"
    )


PLUGINS_NOTE = (
    "The operators' children load Airflow's plugins before the transfer (`get_hook_lineage_collector()`, "
    "about a second once per process, whatever the file size), as a task process does the first time a "
    "hook reports lineage; ours and the Airflow operators' hooks report it, the bare baselines do not."
)

CONTENDER_NOTES = {
    "s3": "S3: ours is `LangdockUsageExportOperator.execute()` (export request, then a streaming multipart "
    f"upload, {_upload_shape(S3Destination)}; the S3 client is created inside). HttpToS3Operator: "
    "`execute()` (S3 client created inside). Bare boto3: `requests.get(stream=True)` + "
    "`upload_fileobj(response.raw)`, default TransferConfig (8 MiB parts, 10 threads), client built "
    'before the transfer. Ours with `personal_data="pseudonymize"` or `"drop"`: the same, with the '
    "users export's personal columns (`user_id`, `name`, `email`) rewritten on the way; what they land is "
    "checked against the export file rewritten in the benchmark's own process.",
    "gcs": "GCS: ours is `LangdockUsageExportOperator.execute()` to `gs://` (export request, then a "
    f"resumable upload of unknown size, {_upload_shape(GCSDestination)}, sent in order by one thread as "
    "the download streams, finalised last; `GCSHook`'s client is created inside). HttpToGCSOperator: "
    "`execute()` (`response.content`, then `GCSHook.upload(data=...)`; client created inside). Bare "
    "`blob.upload_from_file`: `requests.get(stream=True)` + `upload_from_file(response.raw)` with "
    "google-cloud-storage's defaults (a stream of unknown size goes up as a resumable upload in 100 MiB "
    "chunks), anonymous client built before the transfer; the same with ours' chunk size "
    f"(`chunk_size={GCSDestination.default_part_size // MIB} MiB`) shows what the chunk size alone costs "
    "on the emulator. All reach the emulator through `STORAGE_EMULATOR_HOST`.",
    "azure": "Azure: ours is `LangdockUsageExportOperator.execute()` to `wasb://` (export request, then "
    f"blocks staged with `stage_block`, {_upload_shape(AzureBlobDestination)}, `commit_block_list` "
    "last; `WasbHook`'s BlobServiceClient is created inside). Bare `BlobClient.upload_blob`: "
    "`requests.get(stream=True)` + `upload_blob(response.raw)` with azure-storage-blob's defaults (a "
    "stream of unknown length goes in 4 MiB blocks, `max_concurrency=1`), client built before the "
    "transfer.",
}


def render_table(storage: str, rows: list[Row], repeats: int) -> list[str]:
    """One storage's table: every contender at every size, with ratios to ours and to its baseline."""
    baseline = STORAGES[storage].baseline
    wall_header = f"Wall s (median of {repeats}, range)" if repeats > 1 else "Wall s"
    lines = [
        f"| Contender | Export | {wall_header} | Wall vs {CONTENDERS[baseline]} | MiB/s "
        "| RSS before MiB | Peak RSS MiB | Peak - before MiB | Peak - before vs ours "
        f"| Peak - before vs {CONTENDERS[baseline]} | Landed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    by_size: dict[int, dict[str, Row]] = {}
    for row in rows:
        by_size.setdefault(row.export.size, {})[row.contender] = row
    order = list(STORAGES[storage].contenders)
    for size in sorted(by_size):
        for row in sorted(by_size[size].values(), key=lambda row: order.index(row.contender)):
            wall = f"{row.wall_seconds:.1f}"
            if len(row.runs) > 1:
                wall += f" ({min(row.walls):.1f}-{max(row.walls):.1f})"
            worst = row.worst
            landed = f"{worst.landed_bytes:,} B, SHA-256 ok" if row.verified else f"WRONG: {row.note}"
            lines.append(
                f"| {CONTENDERS[row.contender]} | {human_size(size)} | {wall} "
                f"| {wall_ratio(row, by_size[size].get(baseline))} "
                f"| {size / MIB / row.wall_seconds:.0f} | {worst.rss_before_kib / KIB:.0f} "
                f"| {worst.peak_rss_kib / KIB:.0f} | {row.delta_mib:.1f} "
                f"| {ratio(row.delta_mib, by_size[size].get('ours'))} "
                f"| {ratio(row.delta_mib, by_size[size].get(baseline))} | {landed} |"
            )
    largest = by_size[max(by_size)]
    if "ours" in largest and largest["ours"].delta_mib >= 1:
        others = [
            f"{CONTENDERS[name]} {largest[name].delta_mib / largest['ours'].delta_mib:.1f}x"
            for name in order
            if name != "ours" and name in largest
        ]
        if others:
            lines += [
                "",
                f"At {human_size(max(by_size))}, transfer memory (peak - before) relative to ours: "
                + ", ".join(others)
                + ".",
            ]
    personal = [name for name in PERSONAL_DATA_CONTENDERS if name in largest]
    if "ours" in largest and personal:
        walls = [
            f"{CONTENDERS[name]} {largest[name].wall_seconds / largest['ours'].wall_seconds:.2f}x"
            for name in personal
        ]
        lines.append(
            f'At {human_size(max(by_size))}, wall time relative to ours (`personal_data="keep"`): '
            + ", ".join(walls)
            + "."
        )
    return lines


def holds(ok: bool) -> str:
    """The Holds cell."""
    return "yes" if ok else "**no**"


def render_targets(rows: list[Row], parse: parse_cost.ParseCost | None) -> list[str]:
    """The targets table: each target, what this run measured, and whether it holds."""
    lines = ["| Target | Measured | Holds |", "|---|---|---|"]
    size_text = human_size(TARGET_SIZE).replace(".00 ", " ")  # "1 GiB"
    notes = []
    for storage in TARGET_STORAGES:
        mine = [row for row in rows if row.storage == storage]
        baseline = STORAGES[storage].baseline
        short = STORAGES[storage].short
        wall_target = (
            f"{short} {size_text}: ours' median wall time at most {TARGET_WALL_RATIO:.1f}x "
            f"{CONTENDERS[baseline]}'s"
        )
        memory_target = (
            f"{short} {size_text}: ours' peak RSS above RSS before at most {TARGET_DELTA_MIB:g} MiB"
        )
        largest = max((row.export.size for row in mine), default=None)
        at_size = {row.contender: row for row in mine if row.export.size == largest}
        if "ours" not in at_size:
            lines += [f"| {wall_target} | not run | - |", f"| {memory_target} | not run | - |"]
            continue
        assert largest is not None
        ours = at_size["ours"]
        if abs(largest - TARGET_SIZE) > TARGET_SIZE // 100:
            notes.append(storage)
        where = f"at {human_size(largest)}: "
        reference = at_size.get(baseline)
        if reference is None:
            lines.append(f"| {wall_target} | {where}{CONTENDERS[baseline]} not run | - |")
        else:
            wall = ours.wall_seconds / reference.wall_seconds
            lines.append(
                f"| {wall_target} | {where}{ours.wall_seconds:.1f} s vs {reference.wall_seconds:.1f} s, "
                f"{wall:.2f}x | {holds(wall <= TARGET_WALL_RATIO)} |"
            )
        memory_ok = ours.delta_mib <= TARGET_DELTA_MIB
        lines.append(f"| {memory_target} | {where}{ours.delta_mib:.1f} MiB | {holds(memory_ok)} |")
    if parse is not None:
        for target, measured, ok, remark in parse_cost.target_rows(parse):
            lines.append(f"| {target} | {measured} | {holds(ok)}{f' ({remark})' if remark else ''} |")
    else:
        lines.append("| Parse cost | not run | - |")
    if notes:
        lines += [
            "",
            f"The transfer targets are set at {size_text}; this run's largest export is "
            "another size, so those rows only indicate where ours stands.",
        ]
    return lines


def render(
    rows: list[Row],
    budget_mib: float,
    started: datetime,
    bytes_per_row: float,
    services: list[str],
    parse: parse_cost.ParseCost | None,
    load_before: tuple[float, float, float] | None,
    load_after: tuple[float, float, float] | None,
    *,
    warm_up: bool,
    warm_up_problems: list[str],
) -> str:
    """The Markdown report: a table per storage, the parse cost, the targets, how it was measured and the
    machine."""
    lines: list[str] = []
    storages = [storage for storage in STORAGES if any(row.storage == storage for row in rows)]
    repeats = max((len(row.runs) for row in rows), default=0)
    for storage in storages:
        if lines:
            lines.append("")
        lines += [f"**{STORAGES[storage].title}**", ""]
        lines += render_table(storage, [row for row in rows if row.storage == storage], repeats)
    if parse is not None:
        if lines:
            lines.append("")
        lines += [
            f"**Parse cost: `import {parse.baseline_import}` without and with our operator and sensor**",
            "",
        ]
        lines += parse_cost.render(parse)
    if warm_up_problems:
        lines += ["", "Warm-up round WRONG: " + "; ".join(warm_up_problems) + "."]
    lines += ["", "**Targets**", ""]
    lines += render_targets(rows, parse)
    lines.append("")
    ours = [row for row in rows if row.contender == "ours"]
    if ours:
        flat = ", ".join(
            f"{row.storage} {row.delta_mib:.1f} MiB at {human_size(row.export.size)}"
            for row in sorted(ours, key=lambda row: (storages.index(row.storage), row.export.size))
        )
        lines.append(f"Ours, peak RSS above RSS before the transfer: {flat}.")
        if budget_mib > 0:
            verdict = "within" if all(row.delta_mib <= budget_mib for row in ours) else "OVER"
            lines.append(f"Budget: {budget_mib:g} MiB above RSS before the transfer: {verdict}.")
        lines.append("")
    methods = sorted({run.rss_method for row in rows for run in row.runs})
    method_text = {
        "VmHWM": "VmHWM from /proc/self/status, reset to the current RSS just before the transfer "
        "by writing 5 to /proc/self/clear_refs",
        "sampled": "the maximum of VmRSS sampled every 10 ms (VmHWM could not be reset)",
    }
    notes = []
    if rows:
        servers = " and ".join(STORAGES[storage].title for storage in storages)
        notes += [
            f"Run {started:%Y-%m-%d %H:%M} UTC: {DATA_TYPE} exports of the Langdock simulator "
            f"(~{bytes_per_row:.0f} bytes per row) to {servers}, each server in its own process, every "
            f"transfer in a fresh process, {repeats} transfer{'s' if repeats > 1 else ''} per contender, "
            "storage and size"
            + (", interleaved in rotating order" if repeats > 1 else "")
            + (
                ", after an unmeasured warm-up round (every contender moves a small export once)."
                if warm_up
                else " (no warm-up round)."
            )
            + " The children keep their bytecode caches in the run's temporary directory "
            "(`PYTHONPYCACHEPREFIX`), written as they import.",
            "RSS before: VmRSS after imports and object construction. "
            f"Peak RSS: {'; '.join(method_text[method] for method in methods)}. "
            "The memory columns come from the run with the largest peak - before; the wall-time ratio "
            "is that of the medians.",
            *(CONTENDER_NOTES[storage] for storage in storages),
            PLUGINS_NOTE,
        ]
    else:
        notes.append(f"Run {started:%Y-%m-%d %H:%M} UTC: no transfers.")
    if parse is not None:
        notes.append(parse_cost.describe(parse))
    notes += machine_info(storages, services, load_before, load_after)
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default=None, help=f"comma-separated export sizes (default {DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: size {QUICK_SIZES}, one transfer per contender, {parse_cost.QUICK_RUNS} parse-cost "
        "run(s) per program, no warm-up runs",
    )
    parser.add_argument(
        "--storage",
        default=None,
        help=f"comma-separated subset of {','.join(STORAGES)}, or none for the parse cost alone "
        "(default: every one this machine can start)",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated subset of {','.join(CONTENDERS)} (default: all); each storage runs those "
        "of its own",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"transfers per contender and size (default {DEFAULT_REPEAT}, with --quick 1); "
        "the table shows the median wall time and the largest peak",
    )
    parser.add_argument(
        "--parse-runs",
        type=int,
        default=None,
        help=f"parse-cost runs per program (default {parse_cost.DEFAULT_RUNS}, with --quick "
        f"{parse_cost.QUICK_RUNS}); 0 leaves the parse cost out",
    )
    parser.add_argument(
        "--budget-mib",
        type=float,
        default=DEFAULT_BUDGET_MIB,
        help="fail (exit 3) when ours exceeds RSS before + this many MiB; 0 disables the check",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"Markdown report (default {DEFAULT_OUTPUT.relative_to(HERE.parent)}, "
        f"with --quick {QUICK_OUTPUT.relative_to(HERE.parent)})",
    )
    return parser


def choose_storages(parser: argparse.ArgumentParser, requested: str | None) -> list[str]:
    """The storages to run: those named (each must be able to start), or every one that can."""
    if requested is None:
        storages = []
        for storage in STORAGES:
            reason = UNAVAILABLE[storage]()
            if reason is None:
                storages.append(storage)
            else:
                print(f"Leaving out {STORAGES[storage].short}: {reason}")
        return storages
    if requested.strip() == "none":
        return []
    storages = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = sorted(set(storages) - set(STORAGES))
    if unknown or not storages:
        parser.error(f"unknown storages {unknown}; choose from {', '.join(STORAGES)}, or none")
    for storage in storages:
        if (reason := UNAVAILABLE[storage]()) is not None:
            parser.error(f"--storage {storage} cannot run: {reason}")
    return [storage for storage in STORAGES if storage in storages]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sizes = sorted(
            {
                parse_size(text)
                for text in (args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)).split(",")
            }
        )
    except ValueError as error:
        parser.error(str(error))
    contenders = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = sorted(set(contenders) - set(CONTENDERS))
    if unknown or not contenders:
        parser.error(f"unknown contenders {unknown}; choose from {', '.join(CONTENDERS)}")
    storages = choose_storages(parser, args.storage)
    # (storage, contender) pairs in table order; a storage without a chosen contender is left out.
    pairs = [
        (storage, contender)
        for storage in storages
        for contender in STORAGES[storage].contenders
        if contender in contenders
    ]
    parse_runs: int = (
        args.parse_runs
        if args.parse_runs is not None
        else (parse_cost.QUICK_RUNS if args.quick else parse_cost.DEFAULT_RUNS)
    )
    if parse_runs < 0:
        parser.error("--parse-runs must be 0 or more")
    if storages and not pairs:
        parser.error(f"none of the contenders {', '.join(contenders)} runs on {', '.join(storages)}")
    if not pairs and parse_runs == 0:
        parser.error("nothing to run: no storage and --parse-runs 0")
    output: Path = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    repeats: int = args.repeat or (1 if args.quick else DEFAULT_REPEAT)
    if repeats < 1:
        parser.error("--repeat must be at least 1")
    started = datetime.now(UTC)
    load_before = parse_cost.load_average()
    # Loopback only, even if the environment configures a proxy.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = f"{LOOPBACK},localhost"

    work_dir = Path(tempfile.mkdtemp(prefix="langdock-benchmark-"))
    rows: list[Row] = []
    services: list[str] = []
    warm_up_problems: list[str] = []
    per_row = 0.0
    try:
        if pairs:
            rows, per_row = run_transfers(
                pairs,
                sizes,
                repeats,
                work_dir,
                warm_up=not args.quick,
                services=services,
                warm_up_problems=warm_up_problems,
            )
        parse = None
        if parse_runs > 0:  # after the storage servers stopped; sharing the children's bytecode cache
            plural = "s" if parse_runs > 1 else ""
            print(f"Parse cost: {parse_runs} run{plural} each, with and without our imports")
            parse = parse_cost.measure(parse_runs, warm_up=not args.quick, pycache=work_dir / "pycache")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    report = render(
        rows,
        args.budget_mib,
        started,
        per_row,
        services,
        parse,
        load_before,
        parse_cost.load_average(),
        warm_up=bool(pairs) and not args.quick,
        warm_up_problems=warm_up_problems,
    )
    print()
    print(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    print(f"Written to {output}")
    if warm_up_problems or not all(row.verified for row in rows):
        return EXIT_FAILED
    if args.budget_mib > 0 and any(
        row.delta_mib > args.budget_mib
        for row in rows
        if row.contender in ("ours", *PERSONAL_DATA_CONTENDERS)
    ):
        return EXIT_OVER_BUDGET
    return 0


def run_transfers(
    pairs: list[tuple[str, str]],
    sizes: list[int],
    repeats: int,
    work_dir: Path,
    *,
    warm_up: bool,
    services: list[str],
    warm_up_problems: list[str],
) -> tuple[list[Row], float]:
    """Start the simulator and the storage servers, run every pair at every size; return the rows and the
    export's bytes per row. With ``warm_up``, every pair first moves a small export once, unmeasured.
    Appends the storage servers' versions to ``services`` and what went wrong in the warm-up to
    ``warm_up_problems``."""
    rows: list[Row] = []
    needed = {storage for storage, _ in pairs}
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as background:
        simulator = stack.enter_context(
            LangdockSimulator(api_key=API_KEY, url_ttl=URL_TTL_SECONDS, reuse_exports=True)
        )
        s3_endpoint = gcs_endpoint = azurite = None
        if "azure" in needed:
            program = azurite_program()
            version = background.submit(azurite_version, program)  # while the servers start
        if "s3" in needed:
            s3_endpoint = stack.enter_context(moto_server(work_dir / "moto.log"))
        if "gcs" in needed:
            gcs_endpoint = stack.enter_context(gcs_emulator(work_dir / "gcs-emulator.log"))
        if "azure" in needed:
            azurite = stack.enter_context(Azurite(program=program))
            services.append(version.result())
        env = environment(simulator, s3_endpoint, gcs_endpoint, azurite, work_dir)
        os.environ.update(
            {name: env[name] for name in env if name.startswith("AWS_") or name == "STORAGE_EMULATOR_HOST"}
        )
        targets: dict[str, Target] = {}
        if s3_endpoint is not None:
            targets["s3"] = S3Target(s3_endpoint)
        if gcs_endpoint is not None:
            targets["gcs"] = GCSTarget(gcs_endpoint)
        if azurite is not None:
            targets["azure"] = AzureTarget(azurite)
        sample = sample_export(simulator)
        per_row = sample.size / sample.rows
        row_counts = [max(1, round(size / per_row)) for size in sizes]
        simulator.row_cap = max(*row_counts, sample.rows)
        if warm_up:  # fills the bytecode cache; checked like the others, not measured
            print(f"Warm-up: every contender moves {sample.rows:,} rows ({human_size(sample.size)}) once")
            for storage, contender in pairs:
                simulator.row_count = sample.rows
                run = run_contender(storage, contender, sample, "warm-up", targets[storage], env, work_dir)
                if run.problems:
                    warm_up_problems.append(f"{storage} {contender}: {'; '.join(run.problems)}")
        for index, (size, rows_wanted) in enumerate(zip(sizes, row_counts, strict=True)):
            label = size_label(size)
            export = export_once(simulator, rows_wanted, day=index + 2)
            print(f"{label}: {rows_wanted:,} rows, {export.size:,} bytes ({human_size(export.size)})")
            runs: dict[tuple[str, str], list[Run]] = {pair: [] for pair in pairs}
            for repeat in range(repeats):  # interleaved and rotated, so drift hits all alike
                shift = repeat % len(pairs)
                for storage, contender in pairs[shift:] + pairs[:shift]:
                    simulator.row_count = export.rows  # so ours' export request gets the same file
                    name = f"{label}-run{repeat + 1}"
                    runs[storage, contender].append(
                        run_contender(storage, contender, export, name, targets[storage], env, work_dir)
                    )
            rows += [
                Row(storage, contender, export, tuple(runs[storage, contender]))
                for storage, contender in pairs
            ]
    return rows, per_row


if __name__ == "__main__":
    sys.exit(main())
