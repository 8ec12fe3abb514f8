"""Nothing heavy at parse time: DAG files that use the operator and the sensor load no HTTP, cloud or
async library, and none of the provider's task-time modules.

Airflow parses every DAG file again and again, so what these imports load is paid on each parse. The
hook (``requests``), the downloads, the transfer and the storage SDKs load when a task runs. Each check
runs in a fresh interpreter and counts only what appears beyond Airflow's own import (``airflow.sdk``
on Airflow 3, ``airflow`` on Airflow 2, which itself loads ``requests``): what Airflow loads anyway is
not ours to avoid. Timings are left to ``benchmarks/``; here only the module list is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_DIR

#: Libraries a DAG file must not pay for (each with its submodules), unless Airflow loads them itself.
HEAVY = (
    "requests",
    "urllib3",
    "chardet",
    "charset_normalizer",
    "aiohttp",
    "boto3",
    "botocore",
    "google.cloud",
    "azure",
)
#: The provider's own task-time modules: with them out, ``requests`` stays out even where Airflow 2
#: has already loaded it (so the check means something there too).
TASK_TIME_ONLY = (
    "airflow_provider_langdock.hooks.langdock",
    "airflow_provider_langdock.hooks.langdock_async",
    "airflow_provider_langdock.download",
    "airflow_provider_langdock.transfer",
    "airflow_provider_langdock.lineage",
    "airflow_provider_langdock.triggers",
)

# Run as ``python -c PROBE MODE TARGET``. MODE "import": import the operator and the sensor after the
# baseline. MODE "dagbag": parse the DAG files in TARGET after a DagBag has parsed PLAIN_DAG (Airflow's
# own parsing machinery and BaseOperator are then part of the baseline).
PROBE = textwrap.dedent(
    """
    import json, sys
    mode, target = sys.argv[1], sys.argv[2]
    try:
        import airflow.sdk  # Airflow 3
        baseline = "airflow.sdk"
    except ImportError:  # Airflow 2
        import airflow
        baseline = "airflow"
    if mode == "dagbag":
        try:
            from airflow.dag_processing.dagbag import DagBag
        except ImportError:  # Airflow 2
            from airflow.models.dagbag import DagBag
        plain = DagBag(dag_folder=sys.argv[3])
        assert not plain.import_errors and plain.dag_ids, plain.import_errors
        baseline += " + a parsed plain DAG"
    before = set(sys.modules)
    if mode == "import":
        import airflow_provider_langdock.operators.usage_export
        import airflow_provider_langdock.sensors.usage_export
        report = {}
    else:
        dagbag = DagBag(dag_folder=target)
        report = {
            "import_errors": {str(path): str(error) for path, error in dagbag.import_errors.items()},
            "dag_ids": sorted(dagbag.dag_ids),
        }
    new = sorted(set(sys.modules) - before)
    print(json.dumps({**report, "baseline": baseline, "baseline_modules": len(before), "new": new}))
    """
)

PLAIN_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG, BaseOperator

with DAG("plain", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    BaseOperator(task_id="noop")
"""

# Every parse-time check: literal destinations of each type, deferrable tasks, a sensor timeout.
LANGDOCK_DAG = """
from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

with DAG("langdock_parse_cost", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    wait = LangdockUsageExportSensor(task_id="wait", data_type="users", timeout=timedelta(hours=6))
    wait_deferred = LangdockUsageExportSensor(
        task_id="wait_deferred", data_type="models", group_by="source", timeout=3600, deferrable=True
    )
    destinations = {
        "s3": "s3://bucket/langdock/users.csv",
        "gcs": "gs://bucket/langdock/users.csv",
        "azure": "wasb://container@account.blob.core.windows.net/langdock/users.csv",
        "local": "file:///tmp/langdock/users.csv",
        "templated": "s3://{{ var.value.bucket }}/{{ ds }}/users.csv",
    }
    for name, destination in destinations.items():
        export = LangdockUsageExportOperator(
            task_id=f"export_{name}", data_type="users", group_by="model", destination=destination
        )
        [wait, wait_deferred] >> export
    LangdockUsageExportOperator(
        task_id="export_deferred", data_type="agents", deferrable=True, retry_window=timedelta(minutes=5)
    )
"""


def run_probe(*args: str) -> dict[str, Any]:
    """Run :data:`PROBE` in a fresh interpreter (this test run's Airflow home) and return its report."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=300, cwd=REPO_DIR
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def loaded(new: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules of ``new`` that are one of ``prefixes`` or inside one of them."""
    return [name for name in new if any(name == p or name.startswith(p + ".") for p in prefixes)]


def test_importing_the_operator_and_sensor_loads_nothing_heavy(record_property: Any) -> None:
    report = run_probe("import", "-")
    new = report["new"]
    assert loaded(new, HEAVY) == []
    assert loaded(new, TASK_TIME_ONLY) == []
    record_property("new_modules", len(new))
    print(f"after {report['baseline']} ({report['baseline_modules']} modules): {len(new)} new modules")


def test_parsing_a_dag_file_with_the_operator_and_sensor_loads_nothing_heavy(
    tmp_path: Path, record_property: Any
) -> None:
    """The DAG processor's view: DagBag parses a DAG file using both, every parse-time check included."""
    plain, dags = tmp_path / "plain", tmp_path / "dags"
    plain.mkdir()
    dags.mkdir()
    (plain / "plain_dag.py").write_text(PLAIN_DAG)
    (dags / "langdock_dag.py").write_text(LANGDOCK_DAG)
    report = run_probe("dagbag", str(dags), str(plain))
    assert report["import_errors"] == {}
    assert report["dag_ids"] == ["langdock_parse_cost"]
    new = report["new"]
    assert loaded(new, HEAVY) == []
    assert loaded(new, TASK_TIME_ONLY) == []
    record_property("new_modules", len(new))
    print(f"after {report['baseline']} ({report['baseline_modules']} modules): {len(new)} new modules")


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    """The probe does notice: a DAG file that imports the sync hook brings in ``requests``' modules."""
    plain, dags = tmp_path / "plain", tmp_path / "dags"
    plain.mkdir()
    dags.mkdir()
    (plain / "plain_dag.py").write_text(PLAIN_DAG)
    hook_dag = LANGDOCK_DAG.replace("langdock_parse_cost", "hook")
    (dags / "hook_dag.py").write_text("import airflow_provider_langdock.hooks.langdock\n" + hook_dag)
    report = run_probe("dagbag", str(dags), str(plain))
    assert report["dag_ids"] == ["hook"]
    assert "airflow_provider_langdock.hooks.langdock" in loaded(report["new"], TASK_TIME_ONLY)


@pytest.mark.parametrize("heavy", ["requests", "urllib3.util", "google.cloud.storage", "azure.core"])
def test_a_heavy_module_is_recognised(heavy: str) -> None:
    assert loaded([heavy, "airflow_provider_langdock.destinations.azure", "googleapis"], HEAVY) == [heavy]
