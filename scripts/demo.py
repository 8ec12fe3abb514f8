"""One-command demo: run an example DAG for real against local stand-ins, then show what landed.

Starts the Langdock simulator and a local storage server (moto's S3 server, gcp-storage-emulator with
``--storage gcs``, or Azurite's Blob service with ``--storage azure``) on 127.0.0.1, points the
Airflow connections at them through environment variables, runs the example DAG with ``airflow dags
test`` in a private AIRFLOW_HOME (SQLite), prints each landed object (key, size, first rows), checks
that it holds every exported row, and stops everything it started. Nothing leaves the machine.

    python scripts/demo.py [--storage s3|gcs|azure] [--rows N]

Azurite is the npm package ``azurite``: ``make node_modules`` installs it into ./node_modules.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.testing.azurite import Azurite, AzuriteNotInstalledError, find_azurite_blob

REPO = Path(__file__).resolve().parent.parent
WORK_DIR = REPO / ".demo"
API_KEY = "demo-api-key"
BUCKET = "langdock-usage"


@dataclass(frozen=True)
class Scenario:
    dag_id: str
    variable: str


SCENARIOS = {
    "s3": Scenario("langdock_usage_daily_to_s3", "LANGDOCK_USAGE_BUCKET"),
    "gcs": Scenario("langdock_usage_monthly_to_gcs", "LANGDOCK_USAGE_GCS_BUCKET"),
    "azure": Scenario("langdock_usage_daily_to_azure", "LANGDOCK_USAGE_CONTAINER"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Storage(ABC):
    """A local storage server plus the Airflow connection that points at it."""

    @abstractmethod
    def running(self) -> AbstractContextManager[dict[str, str]]:
        """Start the server; yield the environment variables that point Airflow at it."""

    @abstractmethod
    def objects(self) -> Iterator[tuple[str, bytes]]:
        """Every object in the bucket, by URI."""


class MotoS3(Storage):
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)

    @contextmanager
    def running(self) -> Iterator[dict[str, str]]:
        import boto3

        self.server.start()
        host, port = self.server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {"aws_access_key_id": "demo", "aws_secret_access_key": "demo"}
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials)
        self.client.create_bucket(Bucket=BUCKET)
        connection = {
            "conn_type": "aws",
            "login": "demo",
            "password": "demo",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        env = {
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        try:
            yield env
        finally:
            self.server.stop()

    def objects(self) -> Iterator[tuple[str, bytes]]:
        listing = self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        for item in sorted(listing, key=lambda entry: entry["Key"]):
            body = self.client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            yield f"s3://{BUCKET}/{item['Key']}", body


class EmulatedGCS(Storage):
    @contextmanager
    def running(self) -> Iterator[dict[str, str]]:
        from gcp_storage_emulator.server import create_server
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        port = free_port()
        server = create_server("127.0.0.1", port, in_memory=True)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        os.environ["STORAGE_EMULATOR_HOST"] = endpoint
        self.client = storage.Client(project="demo", credentials=AnonymousCredentials())
        self.client.create_bucket(BUCKET)
        connection = {
            "conn_type": "google_cloud_platform",
            "extra": {"is_anonymous": True, "project": "demo"},
        }
        try:
            yield {
                "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(connection),
                "STORAGE_EMULATOR_HOST": endpoint,
            }
        finally:
            server.stop()

    def objects(self) -> Iterator[tuple[str, bytes]]:
        for blob in sorted(self.client.list_blobs(BUCKET), key=lambda entry: entry.name):
            yield f"gs://{BUCKET}/{blob.name}", blob.download_as_bytes()


class AzuriteBlob(Storage):
    def __init__(self) -> None:
        # This repository's Azurite (make node_modules) wherever the demo is started from; an explicit
        # $AZURITE_BLOB, or else one on PATH, as find_azurite_blob looks them up.
        bundled = REPO / "node_modules" / ".bin" / "azurite-blob"
        try:
            if not os.environ.get("AZURITE_BLOB") and os.access(bundled, os.X_OK):
                program = str(bundled)
            else:
                program = find_azurite_blob()
        except AzuriteNotInstalledError as error:
            raise SystemExit(str(error)) from None
        self.server = Azurite(program=program)

    @contextmanager
    def running(self) -> Iterator[dict[str, str]]:
        from azure.storage.blob import BlobServiceClient

        with self.server:
            service = BlobServiceClient.from_connection_string(self.server.connection_string)
            self.container = service.create_container(BUCKET)
            yield {"AIRFLOW_CONN_WASB_DEFAULT": json.dumps(self.server.connection())}

    def objects(self) -> Iterator[tuple[str, bytes]]:
        for blob in sorted(self.container.list_blobs(), key=lambda entry: entry.name):
            yield f"wasb://{BUCKET}/{blob.name}", self.container.download_blob(blob.name).readall()


STORAGES: dict[str, type[Storage]] = {"s3": MotoS3, "gcs": EmulatedGCS, "azure": AzuriteBlob}


def airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    """Run an ``airflow`` CLI command of this interpreter's environment; its output goes to ``log``."""
    with log.open("a") as output:
        completed = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    if completed.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise SystemExit(f"`airflow {' '.join(args)}` failed ({completed.returncode}); end of {log}:\n{tail}")


def show(uri: str, body: bytes, rows: int = 3) -> None:
    lines = body.decode("utf-8", errors="replace").splitlines()
    print(f"\n{uri}  ({len(body):,} bytes, {data_rows(body):,} rows)")
    for line in lines[: rows + 1]:
        print(f"    {line[:160]}{'...' if len(line) > 160 else ''}")


def data_rows(body: bytes) -> int:
    """Data rows of a CSV file (quoted fields may hold newlines)."""
    return sum(1 for _ in csv.reader(io.StringIO(body.decode("utf-8")))) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storage", choices=sorted(SCENARIOS), default="s3")
    parser.add_argument("--rows", type=int, default=500, help="rows per export file (default 500)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    scenario = SCENARIOS[args.storage]
    storage = STORAGES[args.storage]()  # fails before anything is touched if its server is missing

    shutil.rmtree(WORK_DIR / args.storage, ignore_errors=True)
    home = WORK_DIR / args.storage / "airflow-home"
    home.mkdir(parents=True)
    log = WORK_DIR / args.storage / "airflow.log"

    with (
        LangdockSimulator(api_key=API_KEY, row_count=args.rows) as simulator,
        storage.running() as storage_env,
    ):
        print(f"Langdock simulator: {simulator.base_url} (downloads at {simulator.download_base_url})")
        langdock = {"conn_type": "langdock", "host": simulator.base_url, "password": API_KEY}
        env = {
            **os.environ,
            **storage_env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW_CONN_LANGDOCK_DEFAULT": json.dumps(langdock),
            f"AIRFLOW_VAR_{scenario.variable}": BUCKET,
        }
        started = time.monotonic()
        print(f"Preparing Airflow in {home} ...")
        airflow(["db", "migrate"], env, log)
        print(f"Running `airflow dags test {scenario.dag_id}` (log: {log}) ...")
        airflow(["dags", "test", scenario.dag_id], env, log)
        print(f"DAG run finished in {time.monotonic() - started:.0f} s. What landed:")

        landed = list(storage.objects())
        if not landed:
            raise SystemExit(f"Nothing landed: see {log}.")
        for uri, body in landed:
            show(uri, body)
        incomplete = [uri for uri, body in landed if data_rows(body) != args.rows]
        if incomplete:
            raise SystemExit(f"These objects do not hold the {args.rows} exported rows: {incomplete}")
        print(f"\n{len(landed)} object(s) landed in {args.storage}, each with all {args.rows} exported rows.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
