"""One contender of the transfer benchmark, measured in a fresh process (started by transfer_memory.py).

    python benchmarks/contenders.py '<json spec>'

The spec names the storage (``s3``, ``gcs`` or ``azure``), the contender, the signed download URL, the
export period and the target (bucket or container, key or blob name, and the S3 endpoint, the GCS
emulator's URL or the Azure Storage connection string). The process imports everything and builds the
contender's objects, reads its RSS, resets the kernel's peak-RSS counter (VmHWM), runs the transfer and
writes the measurements as JSON to ``spec["result"]``. Connections come from the environment
(``AIRFLOW_CONN_*``, ``STORAGE_EMULATOR_HOST``), set by the orchestrator.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

KIB = 1024
SAMPLE_INTERVAL = 0.01
"""Seconds between RSS samples when VmHWM cannot be reset."""

Transfer = Callable[[], dict[str, Any]]
"""Runs the transfer; returns what the contender itself reports (e.g. bytes written)."""


@dataclass(frozen=True)
class Spec:
    """What one child process measures."""

    storage: str
    """``s3`` (moto's S3 server), ``gcs`` (gcp-storage-emulator) or ``azure`` (Azurite's Blob service)."""
    contender: str
    url: str
    data_type: str
    date_from: str
    date_to: str
    bucket: str
    """The S3 or GCS bucket, or the Azure container."""
    key: str
    """The S3 key, GCS object name or blob name."""
    endpoint: str
    """The S3 endpoint URL, the GCS emulator's URL (also in ``STORAGE_EMULATOR_HOST``), or the Azure
    Storage connection string (Azurite's development account)."""
    http_conn_id: str
    result: str


# -- memory ---------------------------------------------------------------------------------------


def status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status, e.g. ``VmRSS`` (current) or ``VmHWM`` (peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/self/clear_refs``); False if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """Fallback when VmHWM cannot be reset: samples RSS every 10 ms and keeps the maximum."""

    def __init__(self) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.peak_kib = status_kib("VmRSS")
        self._stop_event = threading.Event()
        self._page_kib = os.sysconf("SC_PAGE_SIZE") // KIB

    def run(self) -> None:
        """Sample /proc/self/statm until stopped."""
        with open("/proc/self/statm") as statm:
            while not self._stop_event.wait(SAMPLE_INTERVAL):
                statm.seek(0)
                resident_pages = int(statm.read().split()[1])
                self.peak_kib = max(self.peak_kib, resident_pages * self._page_kib)

    def finish(self) -> int:
        """Stop sampling; return the peak RSS in KiB (including the current value)."""
        self._stop_event.set()
        self.join()
        return max(self.peak_kib, status_kib("VmRSS"))


def measure(transfer: Transfer) -> dict[str, Any]:
    """Run ``transfer`` once; return RSS before, peak RSS during (KiB), wall seconds and its report."""
    gc.collect()
    sampler: RssSampler | None = None
    if reset_peak_rss():
        method = "VmHWM"
    else:
        method = "sampled"
        sampler = RssSampler()
        sampler.start()
    rss_before = status_kib("VmRSS")
    started = time.perf_counter()
    reported = transfer()
    wall = time.perf_counter() - started
    peak = sampler.finish() if sampler is not None else status_kib("VmHWM")
    return {
        "rss_before_kib": rss_before,
        "peak_rss_kib": max(peak, rss_before),
        "wall_seconds": wall,
        "rss_method": method,
        "reported": reported,
    }


# -- contenders: each imports its libraries and builds its objects, then returns the transfer -------


class XComRecorder:
    """The one task-instance method the operator calls, storing pushed values in a dict."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        """Record an XCom push."""
        self.pushed[key] = value


OURS_DESTINATIONS = {
    "s3": ("s3", ("airflow.providers.amazon.aws.hooks.s3",)),
    "gcs": ("gs", ("airflow.providers.google.cloud.hooks.gcs", "google.cloud.storage.fileio")),
    "azure": ("wasb", ("airflow.providers.microsoft.azure.hooks.wasb",)),
}
"""Per storage: the destination URI scheme and the modules the destination imports lazily."""


def load_airflow_plugins() -> None:
    """Load Airflow's plugins, as a task process does once, the first time a hook reports lineage.

    ``get_hook_lineage_collector()`` asks the plugins for hook lineage readers; loading them imports
    every installed provider's plugin (about a second here, once per process, whatever the file size).
    Ours and the Airflow operators' hooks (``S3Hook``, ``GCSHook``) report lineage; the bare baselines do
    not, so the operators' children pay it before the transfer, like their lazy imports.
    """
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    get_hook_lineage_collector()


def prepare_ours(spec: Spec, personal_data: str = "keep") -> Transfer:
    """``LangdockUsageExportOperator.execute``: the export request, then streaming to the storage."""
    scheme, lazy_modules = OURS_DESTINATIONS[spec.storage]
    # The destination imports its hook lazily; import it here so the transfer does not pay for it
    # (the other contenders import theirs before the transfer too).
    for module in lazy_modules:
        importlib.import_module(module)
    load_airflow_plugins()
    destination = f"{scheme}://{spec.bucket}/{spec.key}"

    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

    operator = LangdockUsageExportOperator(
        task_id="benchmark_ours",
        data_type=spec.data_type,
        date_from=spec.date_from,
        date_to=spec.date_to,
        destination=destination,
        personal_data=personal_data,
    )
    ti = XComRecorder()
    context: Any = {"ti": ti}

    def transfer() -> dict[str, Any]:
        metadata = operator.execute(context)
        return {
            "bytes": metadata["bytes"],
            "download_url": metadata["download_url"],
            "xcom_download_url": ti.pushed.get("download_url"),
        }

    return transfer


def prepare_http_to_s3(spec: Spec) -> Transfer:
    """``HttpToS3Operator.execute`` on an ``http`` connection to the simulator's download host."""
    from airflow.providers.amazon.aws.transfers.http_to_s3 import HttpToS3Operator

    load_airflow_plugins()

    url = urlsplit(spec.url)
    operator = HttpToS3Operator(
        task_id="benchmark_http_to_s3",
        http_conn_id=spec.http_conn_id,
        endpoint=f"{url.path}?{url.query}",
        method="GET",
        s3_bucket=spec.bucket,
        s3_key=spec.key,
        replace=True,
    )
    context: Any = {"ti": XComRecorder()}

    def transfer() -> dict[str, Any]:
        operator.execute(context)
        return {}

    return transfer


def prepare_boto3(spec: Spec) -> Transfer:
    """The baseline: ``requests.get(stream=True)`` and ``upload_fileobj(response.raw)``, default config."""
    import boto3
    import requests

    s3 = boto3.client("s3", endpoint_url=spec.endpoint)

    def transfer() -> dict[str, Any]:
        with requests.get(spec.url, stream=True, timeout=60) as response:
            response.raise_for_status()
            s3.upload_fileobj(response.raw, spec.bucket, spec.key)
        return {}

    return transfer


def prepare_http_to_gcs(spec: Spec) -> Transfer:
    """``HttpToGCSOperator.execute`` on an ``http`` connection to the simulator's download host."""
    from airflow.providers.google.cloud.transfers.http_to_gcs import HttpToGCSOperator

    load_airflow_plugins()

    url = urlsplit(spec.url)
    operator = HttpToGCSOperator(
        task_id="benchmark_http_to_gcs",
        http_conn_id=spec.http_conn_id,
        endpoint=f"{url.path}?{url.query}",
        method="GET",
        bucket_name=spec.bucket,
        object_name=spec.key,
    )
    context: Any = {"ti": XComRecorder()}

    def transfer() -> dict[str, Any]:
        operator.execute(context)
        return {}

    return transfer


def prepare_upload_from_file(spec: Spec, chunk_size: int | None = None) -> Transfer:
    """The GCS baseline: ``requests.get(stream=True)`` and ``blob.upload_from_file(response.raw)``.

    google-cloud-storage's defaults: a stream of unknown size goes up as a resumable upload in chunks of
    the default ``chunk_size`` (100 MiB) unless ``chunk_size`` is given, one at a time. The client is
    anonymous and reaches the emulator through ``STORAGE_EMULATOR_HOST``.
    """
    import requests
    from google.cloud import storage

    blob = storage.Client.create_anonymous_client().bucket(spec.bucket).blob(spec.key, chunk_size=chunk_size)

    def transfer() -> dict[str, Any]:
        with requests.get(spec.url, stream=True, timeout=60) as response:
            response.raise_for_status()
            blob.upload_from_file(response.raw)
        return {}

    return transfer


def prepare_upload_from_file_our_chunks(spec: Spec) -> Transfer:
    """The GCS baseline with ours' chunk size: what the chunk size alone costs, on equal terms."""
    from airflow_provider_langdock.destinations.gcs import GCSDestination

    return prepare_upload_from_file(spec, chunk_size=GCSDestination.default_part_size)


def prepare_upload_blob(spec: Spec) -> Transfer:
    """The Azure baseline: ``requests.get(stream=True)`` and ``BlobClient.upload_blob(response.raw)``.

    azure-storage-blob's defaults: a stream of unknown length is cut into 4 MiB blocks, sent one at a
    time (``max_concurrency=1``), then committed as a block list.
    """
    import requests
    from azure.storage.blob import BlobClient

    blob = BlobClient.from_connection_string(spec.endpoint, container_name=spec.bucket, blob_name=spec.key)

    def transfer() -> dict[str, Any]:
        with requests.get(spec.url, stream=True, timeout=60) as response:
            response.raise_for_status()
            blob.upload_blob(response.raw)
        return {}

    return transfer


CONTENDERS: dict[str, Callable[[Spec], Transfer]] = {
    "ours": prepare_ours,
    "ours_pseudonymize": lambda spec: prepare_ours(spec, personal_data="pseudonymize"),
    "ours_drop": lambda spec: prepare_ours(spec, personal_data="drop"),
    "http_to_s3": prepare_http_to_s3,
    "boto3": prepare_boto3,
    "http_to_gcs": prepare_http_to_gcs,
    "upload_from_file": prepare_upload_from_file,
    "upload_from_file_our_chunks": prepare_upload_from_file_our_chunks,
    "upload_blob": prepare_upload_blob,
}


def main(argv: list[str]) -> int:
    """Measure the contender described by the JSON spec in ``argv[1]``."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = Spec(**json.loads(argv[1]))
    transfer = CONTENDERS[spec.contender](spec)
    measurement = measure(transfer)
    Path(spec.result).write_text(json.dumps(measurement))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
