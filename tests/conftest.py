"""Shared test set-up: an isolated Airflow home, the Langdock simulator, local storage servers, DAG runs.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import tempfile

# Before anything imports airflow: a private AIRFLOW_HOME (SQLite inside it) for this test run.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="langdock-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test() on Airflow 3 loads DAGs from the configured folder (bundle), read once at import time.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(os.path.dirname(__file__), "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import inspect  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property-based tests: a bounded number of examples; with CI set, a fixed seed (derandomize).
# Both build on hypothesis' own "default" profile, not on whichever profile it loaded at import.
_hypothesis_base = settings.get_profile("default")
settings.register_profile("default", _hypothesis_base, max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    _hypothesis_base,
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

from airflow_provider_langdock.clock import Clock  # noqa: E402
from airflow_provider_langdock.testing import LangdockSimulator  # noqa: E402
from airflow_provider_langdock.testing.azurite import Azurite  # noqa: E402
from tests.clock import FakeClock  # noqa: E402
from tests.hostile import HostileServer  # noqa: E402

HOSTILE_KEY = "hostile-key-0123456789"

# -- Langdock simulator ------------------------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[LangdockSimulator]:
    """A running LangdockSimulator accepting the API key "test-key"; stopped after the test."""
    with LangdockSimulator(api_key="test-key") as running:
        yield running


@pytest.fixture
def langdock_conn(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> LangdockSimulator:
    """The simulator as the ``langdock_default`` connection, retrying without waiting between attempts."""
    set_langdock_default(monkeypatch, simulator.base_url, "test-key", max_retry_wait=0)
    return simulator


def set_langdock_default(monkeypatch: pytest.MonkeyPatch, host: str, password: str, **extra: Any) -> None:
    """Make ``langdock_default`` an env-var connection to ``host`` with ``password`` and ``extra``."""
    conn = {"conn_type": "langdock", "host": host, "password": password, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))


# -- time: a fake clock instead of real waits ----------------------------------------------------------


def install_clock(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """Make ``clock`` the default clock of Langdock hooks and triggers, those a DAG run makes too."""
    from airflow_provider_langdock.hooks.base import LangdockBaseHook
    from airflow_provider_langdock.triggers.usage_export import (
        LangdockUsageDataTrigger,
        LangdockUsageExportTrigger,
    )

    for owner in (LangdockBaseHook, LangdockUsageExportTrigger, LangdockUsageDataTrigger):
        monkeypatch.setattr(owner, "clock", clock)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A FakeClock that the test's Langdock hooks and triggers wait on: waits are recorded, not slept."""
    clock = FakeClock()
    install_clock(monkeypatch, clock)
    return clock


@pytest.fixture
def recorded_waits(fake_clock: FakeClock) -> list[float]:
    """Retry and download waits, recorded instead of slept, so retry tests run fast."""
    return fake_clock.slept


@pytest.fixture
def virtual_clock(simulator: LangdockSimulator, fake_clock: FakeClock) -> FakeClock:
    """The fake clock, which the simulator's fault storms (``inject_for``) also last on."""
    simulator.clock = fake_clock
    return fake_clock


# -- storage servers: moto's S3 server and gcp-storage-emulator, with the Airflow connections -----------

STORAGE_TEST_PROJECT = "langdock-test"


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1 (random port) for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_conn(moto_s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws_default`` as an env-var connection to moto; dummy AWS_* settings so nothing leaves loopback."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3_endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    return "aws_default"


@pytest.fixture
def s3_client(aws_conn: str, moto_s3_endpoint: str) -> Any:
    """A plain boto3 client on moto, for arranging and inspecting buckets in tests."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A fresh, empty bucket on moto."""
    name = f"langdock-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def gcs_emulator_endpoint() -> Iterator[str]:
    """URL of an in-memory gcp-storage-emulator on 127.0.0.1 for the whole session."""
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)  # one INFO line per request
    host, port = "127.0.0.1", _free_loopback_port()
    server = create_server(host, port, in_memory=True)
    server.start()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def gcp_conn(gcs_emulator_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``google_cloud_default`` with anonymous credentials; STORAGE_EMULATOR_HOST routes the client."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator_endpoint)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    connection = {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": STORAGE_TEST_PROJECT},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))
    return "google_cloud_default"


@pytest.fixture
def gcs_client(gcp_conn: str) -> Any:
    """The storage client GCSHook builds from the connection, for arranging and inspecting buckets."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    return GCSHook(gcp_conn_id=gcp_conn).get_conn()


@pytest.fixture
def gcs_bucket(gcs_client: Any) -> str:
    """A fresh, empty bucket on the emulator."""
    name = f"langdock-{uuid.uuid4().hex[:16]}"
    gcs_client.create_bucket(name)
    return name


def refuse_s3_part(monkeypatch: pytest.MonkeyPatch, number: int) -> list[int]:
    """S3 UploadPart ``number`` reaches moto numbered 10001, which moto refuses (400 InvalidArgument).

    Returns the part numbers sent, in order.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    sent: list[int] = []

    def renumber(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["PartNumber"])
        if params["PartNumber"] == number:
            params["PartNumber"] = 10_001

    original_get_conn = S3Hook.get_conn

    def get_conn_with_fault(self: S3Hook) -> Any:
        client = original_get_conn(self)
        client.meta.events.register(
            "before-parameter-build.s3.UploadPart", renumber, unique_id="langdock-refuse-part"
        )
        return client

    monkeypatch.setattr(S3Hook, "get_conn", get_conn_with_fault)
    return sent


def refuse_gcs_chunk(monkeypatch: pytest.MonkeyPatch, number: int) -> list[str]:
    """GCS upload chunk ``number`` reaches the emulator one byte off, which it refuses (400).

    The fault is a requests transport adapter mounted on the session of GCSHook's client; returns
    the ``Content-Range`` of each chunk sent.
    """
    import requests
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    sent: list[str] = []

    class OneChunkOffByOne(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            content_range = request.headers.get("Content-Range", "")
            if request.method == "PUT" and content_range.startswith("bytes ") and "-" in content_range:
                sent.append(content_range)
                if len(sent) == number:
                    first, rest = content_range[len("bytes ") :].split("-", 1)
                    request.headers["Content-Range"] = f"bytes {int(first) + 1}-{rest}"
            return super().send(request, *args, **kwargs)

    original_get_conn = GCSHook.get_conn

    def get_conn_with_fault(self: GCSHook) -> Any:
        client = original_get_conn(self)
        client._http.mount("http://127.0.0.1", OneChunkOffByOne())
        return client

    monkeypatch.setattr(GCSHook, "get_conn", get_conn_with_fault)
    return sent


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite's Blob service (npm ``azurite``, in memory) on 127.0.0.1 for the whole session."""
    with Azurite() as server:
        yield server


@pytest.fixture
def wasb_conn(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    """``wasb_default`` with Azurite's development connection string."""
    monkeypatch.setenv("AIRFLOW_CONN_WASB_DEFAULT", json.dumps(azurite.connection()))
    return "wasb_default"


@pytest.fixture
def blob_service(azurite: Azurite) -> Any:
    """A plain ``BlobServiceClient`` on Azurite, for arranging and inspecting containers in tests."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def azure_container(blob_service: Any, wasb_conn: str) -> str:
    """A fresh, empty container on Azurite."""
    name = f"langdock-{uuid.uuid4().hex[:16]}"
    blob_service.create_container(name)
    return name


# -- real DAG runs: a migrated SQLite metadata DB and dag.test() -----------------------------------------

TESTS_DIR = Path(__file__).parent
REPO_DIR = TESTS_DIR.parent


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate this run's SQLite metadata DB once."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600
    )
    return _AIRFLOW_HOME


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any network connection (or name lookup) fails the test: for parse-time checks of DAG files."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a DAG file opened a network connection at parse time")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def load_dagbag(dags_folder: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=str(dags_folder))


class DagRunner:
    """Runs a DAG of a folder with dag.test() and reports task states and recorded XComs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, record_dir: Path) -> None:
        self.monkeypatch = monkeypatch
        self.record_dir = record_dir
        monkeypatch.setenv("LANGDOCK_TEST_RECORD_DIR", str(record_dir))

    def run(
        self, dag_id: str, logical_date: Any = None, run_conf: dict[str, Any] | None = None
    ) -> dict[str, str]:
        dagbag = load_dagbag(TESTS_DIR / "dags")
        assert not dagbag.import_errors, dagbag.import_errors
        dag = dagbag.get_dag(dag_id)
        kwargs: dict[str, Any] = {"run_conf": run_conf}
        if logical_date is not None:
            # Airflow 2 calls it execution_date
            name = (
                "logical_date"
                if "logical_date" in inspect.signature(dag.test).parameters
                else "execution_date"
            )
            kwargs[name] = logical_date
        dag_run = dag.test(**kwargs)
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}

    def recorded(self, dag_id: str) -> dict[str, Any]:
        return json.loads((self.record_dir / f"{dag_id}.json").read_text())


@pytest.fixture
def dag_runner(airflow_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DagRunner:
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    return DagRunner(monkeypatch, record_dir)


# -- a hostile HTTP server (independent of the simulator) --------------------------------------------


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A scripted, misbehaving HTTP server on 127.0.0.1; see tests/hostile.py."""
    with HostileServer() as server:
        yield server


@pytest.fixture
def hostile_conn(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> HostileServer:
    """The hostile server as ``langdock_default`` (key HOSTILE_KEY), one attempt per request."""
    set_langdock_default(monkeypatch, hostile.base_url, HOSTILE_KEY, max_retry_wait=0, max_attempts=1)
    return hostile
