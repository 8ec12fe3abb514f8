"""Benchmark: peak memory and wall time of streaming a Langdock export (about 1 GiB) to S3 and Azure.

The same export file moves from the Langdock simulator to local storage servers, in these ways:

S3 (moto's S3 server):

* ours: ``LangdockUsageExportOperator(..., destination="s3://...").execute(context)``: the export
  request, then the streaming multipart upload;
* ``HttpToS3Operator`` of apache-airflow-providers-amazon, with an ``http`` connection to the
  simulator's download host and the signed URL's path and query as the endpoint;
* the baseline: ``requests.get(url, stream=True)`` and boto3's ``upload_fileobj(response.raw)``.

Azure Blob Storage (Azurite's Blob service, npm ``azurite`` from ``node_modules``):

* ours: ``LangdockUsageExportOperator(..., destination="wasb://...").execute(context)``: the export
  request, then 8 MiB blocks staged as the download streams and the block list committed last;
* the baseline: ``requests.get(url, stream=True)`` and azure-storage-blob's
  ``BlobClient.upload_blob(response.raw)`` with its defaults (4 MiB blocks, ``max_concurrency=1``).

Each export size is exported once and every contender, of every storage, gets the same file at the same
signed URL (the simulator answers a repeated export request with the file it already made). moto and
Azurite each run in their own process, one of each for the whole run; the simulator runs in this one;
every contender runs in a fresh child process (``benchmarks/contenders.py``) that reads its RSS before
the transfer and its peak RSS (VmHWM, reset just before) after it. Each landed object or blob is read
back, checked (size and SHA-256) against the export file and deleted.

    python benchmarks/transfer_memory.py [--sizes 64MiB,1GiB] [--repeat 3] [--quick] [--storage s3,azure]
                                         [--contenders ours,http_to_s3,boto3,upload_blob] [--budget-mib 100]

``--storage`` defaults to every storage this machine can start: Azure needs azure-storage-blob,
apache-airflow-providers-microsoft-azure and ``azurite-blob`` (``make node_modules``); without them the
Azure table is left out with a note. Naming a storage that cannot start is an error.

Prints one Markdown table per storage (median wall time, largest peak RSS of the repeats) and writes them
to benchmarks/results/latest.md. Exits 1 when a contender fails or lands wrong bytes, and 3 when ours
needs more than ``--budget-mib`` MiB above its RSS before the transfer, on any storage (0 disables that
check).
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
import requests

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
QUICK_SIZES = "4MiB,12MiB"
DEFAULT_REPEAT = 3
DEFAULT_BUDGET_MIB = 100
EXIT_FAILED = 1
EXIT_OVER_BUDGET = 3

API_KEY = "benchmark-key"
BUCKET = "langdock-benchmark"
"""The S3 bucket, and the Azure container (a valid name for both)."""
DATA_TYPE = "users"
HTTP_CONN_ID = "langdock_downloads"
URL_TTL_SECONDS = 6 * 3600.0
SAMPLE_ROWS = 20_000
CHILD_TIMEOUT_SECONDS = 1800
LOOPBACK = "127.0.0.1"

CONTENDERS = {
    "ours": "LangdockUsageExportOperator (ours)",
    "http_to_s3": "HttpToS3Operator",
    "boto3": "bare boto3 `upload_fileobj`",
    "upload_blob": "bare `BlobClient.upload_blob`",
}


@dataclass(frozen=True)
class Storage:
    """A kind of target: its contenders in table order and the baseline the ratios refer to."""

    title: str
    contenders: tuple[str, ...]
    baseline: str
    packages: tuple[str, ...]


STORAGES = {
    "s3": Storage(
        "S3 (moto's S3 server)",
        ("ours", "http_to_s3", "boto3"),
        "boto3",
        (
            "apache-airflow-providers-amazon",
            "apache-airflow-providers-http",
            "boto3",
            "botocore",
            "s3transfer",
            "moto",
        ),
    ),
    "azure": Storage(
        "Azure Blob Storage (Azurite's Blob service)",
        ("ours", "upload_blob"),
        "upload_blob",
        ("apache-airflow-providers-microsoft-azure", "azure-storage-blob", "azure-core"),
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


def export_once(simulator: LangdockSimulator, rows: int, day: int) -> Export:
    """Export ``rows`` users rows for the UTC day ``day`` days before today; hash the file."""
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
    digest = hashlib.sha256()
    size = 0
    with requests.get(url, stream=True, timeout=60) as download:
        download.raise_for_status()
        for chunk in download.iter_content(MIB):
            digest.update(chunk)
            size += len(chunk)
    return Export(size, rows, url, digest.hexdigest(), date_from, date_to)


def bytes_per_row(simulator: LangdockSimulator) -> float:
    """Average CSV bytes per users row, from a sample export."""
    sample = export_once(simulator, SAMPLE_ROWS, day=1)
    return sample.size / SAMPLE_ROWS


# -- moto's S3 server in its own process ------------------------------------------------------------


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def moto_server(log_path: Path) -> Iterator[str]:
    """Run ``python -m moto.server`` on 127.0.0.1 (free port) until the block ends; yield its URL."""
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    # Objects stay in moto's memory instead of spilling to temporary files (less disk noise).
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            env={**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(4 * GIB)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start within 60 s; see {log_path}")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


def azure_unavailable() -> str | None:
    """Why the Azure contenders cannot run on this machine, or None when they can."""
    for package in ("azure-storage-blob", "apache-airflow-providers-microsoft-azure"):
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            return f"{package} is not installed (pip install -e '.[dev]')"
    try:
        azurite_program()
    except AzuriteNotInstalledError as error:
        return str(error)
    return None


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
    """Passed to the children: the S3 endpoint URL or the Azure Storage connection string."""

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
    simulator: LangdockSimulator, s3_endpoint: str | None, azurite: Azurite | None, airflow_home: Path
) -> dict[str, str]:
    """Connections and settings for the child processes (everything on 127.0.0.1)."""
    download = urlsplit(simulator.download_base_url)
    connections: dict[str, dict[str, Any]] = {
        "AIRFLOW_CONN_LANGDOCK_DEFAULT": {
            "conn_type": "langdock",
            "host": simulator.base_url,
            "password": API_KEY,
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
    if azurite is not None:
        connections["AIRFLOW_CONN_WASB_DEFAULT"] = azurite.connection()
    return {
        **os.environ,
        **{name: json.dumps(value) for name, value in connections.items()},
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


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
    size, sha256 = landed or (0, "")
    problems = []
    if landed is None:
        problems.append(f"nothing landed at {key}")
    elif (size, sha256) != (export.size, export.sha256):
        problems.append(f"landed {size} bytes (SHA-256 {sha256[:12]}), expected {export.size}")
    reported = measured["reported"]
    if "bytes" in reported and reported["bytes"] != export.size:
        problems.append(f"reported {reported['bytes']} bytes written")
    if "download_url" in reported and reported["download_url"] != export.url:
        problems.append("exported a different file than the shared one")
    run = Run(
        wall_seconds=measured["wall_seconds"],
        rss_before_kib=measured["rss_before_kib"],
        peak_rss_kib=measured["peak_rss_kib"],
        rss_method=measured["rss_method"],
        landed_bytes=size,
        problems=tuple(problems),
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


def machine_info(storages: list[str], services: list[str]) -> list[str]:
    """Cores, CPU, memory, OS, Python, library and storage-server versions."""
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
    load = ""
    with contextlib.suppress(OSError):
        load = ", load average at the end {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return [
        f"Machine: {cores} cores ({cpu}){memory}, {platform.system()} {platform.release()}{load}.",
        f"Python {platform.python_version()}; "
        + ", ".join(versions + services)
        + "; "
        + provider_source()
        + ".",
    ]


CONTENDER_NOTES = {
    "s3": "S3: ours is `LangdockUsageExportOperator.execute()` (export request, then streaming multipart "
    "upload of 8 MiB parts, one at a time; the S3 client is created inside). HttpToS3Operator: `execute()` "
    "(S3 client created inside). Bare boto3: `requests.get(stream=True)` + `upload_fileobj(response.raw)`, "
    "default TransferConfig, client built before the transfer.",
    "azure": "Azure: ours is `LangdockUsageExportOperator.execute()` to `wasb://` (export request, then "
    "8 MiB blocks staged one at a time with `stage_block`, `commit_block_list` last; `WasbHook`'s "
    "BlobServiceClient is created inside). Bare `BlobClient.upload_blob`: `requests.get(stream=True)` + "
    "`upload_blob(response.raw)` with azure-storage-blob's defaults (a stream of unknown length goes in "
    "4 MiB blocks, `max_concurrency=1`), client built before the transfer.",
}


def render_table(storage: str, rows: list[Row], repeats: int) -> list[str]:
    """One storage's table: every contender at every size, with ratios to ours and to its baseline."""
    baseline = STORAGES[storage].baseline
    wall_header = f"Wall s (median of {repeats}, range)" if repeats > 1 else "Wall s"
    lines = [
        f"| Contender | Export | {wall_header} | MiB/s | RSS before MiB | Peak RSS MiB | Peak - before MiB "
        f"| Peak - before vs ours | Peak - before vs {CONTENDERS[baseline]} | Landed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
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
    return lines


def render(
    rows: list[Row], budget_mib: float, started: datetime, bytes_per_row: float, services: list[str]
) -> str:
    """The Markdown report: a table per storage, the verdict, how it was measured and the machine."""
    repeats = max(len(row.runs) for row in rows)
    storages = [storage for storage in STORAGES if any(row.storage == storage for row in rows)]
    lines: list[str] = []
    for storage in storages:
        if lines:
            lines.append("")
        lines += [f"**{STORAGES[storage].title}**", ""]
        lines += render_table(storage, [row for row in rows if row.storage == storage], repeats)
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
    methods = sorted({run.rss_method for row in rows for run in row.runs})
    method_text = {
        "VmHWM": "VmHWM from /proc/self/status, reset to the current RSS just before the transfer "
        "by writing 5 to /proc/self/clear_refs",
        "sampled": "the maximum of VmRSS sampled every 10 ms (VmHWM could not be reset)",
    }
    servers = " and ".join(STORAGES[storage].title for storage in storages)
    lines += [
        "",
        f"- Run {started:%Y-%m-%d %H:%M} UTC: {DATA_TYPE} exports of the Langdock simulator "
        f"(~{bytes_per_row:.0f} bytes per row) to {servers}, each server in its own process, every "
        f"transfer in a fresh process, {repeats} transfer{'s' if repeats > 1 else ''} per contender, "
        "storage and size" + (", interleaved in rotating order." if repeats > 1 else "."),
        "- RSS before: VmRSS after imports and object construction. "
        f"Peak RSS: {'; '.join(method_text[method] for method in methods)}. "
        "The memory columns come from the run with the largest peak - before.",
        *(f"- {CONTENDER_NOTES[storage]}" for storage in storages),
        *(f"- {line}" for line in machine_info(storages, services)),
    ]
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
    parser.add_argument("--quick", action="store_true", help=f"smoke run: sizes {QUICK_SIZES}")
    parser.add_argument(
        "--storage",
        default=None,
        help=f"comma-separated subset of {','.join(STORAGES)} (default: every one this machine can start)",
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
        storages = list(STORAGES)
        reason = azure_unavailable()
        if reason is not None:
            print(f"Leaving out Azure: {reason}")
            storages.remove("azure")
        return storages
    storages = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = sorted(set(storages) - set(STORAGES))
    if unknown or not storages:
        parser.error(f"unknown storages {unknown}; choose from {', '.join(STORAGES)}")
    if "azure" in storages and (reason := azure_unavailable()) is not None:
        parser.error(f"--storage azure cannot run: {reason}")
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
    if not pairs:
        parser.error(f"none of the contenders {', '.join(contenders)} runs on {', '.join(storages)}")
    output: Path = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    repeats: int = args.repeat or (1 if args.quick else DEFAULT_REPEAT)
    if repeats < 1:
        parser.error("--repeat must be at least 1")
    started = datetime.now(UTC)
    # Loopback only, even if the environment configures a proxy.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = f"{LOOPBACK},localhost"

    work_dir = Path(tempfile.mkdtemp(prefix="langdock-benchmark-"))
    rows: list[Row] = []
    services: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            simulator = stack.enter_context(
                LangdockSimulator(api_key=API_KEY, url_ttl=URL_TTL_SECONDS, reuse_exports=True)
            )
            s3_endpoint = azurite = None
            if any(storage == "s3" for storage, _ in pairs):
                s3_endpoint = stack.enter_context(moto_server(work_dir / "moto.log"))
            if any(storage == "azure" for storage, _ in pairs):
                program = azurite_program()
                services.append(azurite_version(program))
                azurite = stack.enter_context(Azurite(program=program))
            env = environment(simulator, s3_endpoint, azurite, work_dir / "airflow-home")
            os.environ.update({name: env[name] for name in env if name.startswith("AWS_")})
            targets: dict[str, Target] = {}
            if s3_endpoint is not None:
                targets["s3"] = S3Target(s3_endpoint)
            if azurite is not None:
                targets["azure"] = AzureTarget(azurite)
            per_row = bytes_per_row(simulator)
            row_counts = [max(1, round(size / per_row)) for size in sizes]
            simulator.row_cap = max(row_counts)
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
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    report = render(rows, args.budget_mib, started, per_row, services)
    print()
    print(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    print(f"Written to {output}")
    if not all(row.verified for row in rows):
        return EXIT_FAILED
    if args.budget_mib > 0 and any(
        row.delta_mib > args.budget_mib for row in rows if row.contender == "ours"
    ):
        return EXIT_OVER_BUDGET
    return 0


if __name__ == "__main__":
    sys.exit(main())
