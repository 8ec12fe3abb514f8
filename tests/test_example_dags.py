"""The example DAGs parse cleanly, do no I/O at parse time, and run end to end (the README demo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import REPO_DIR, load_dagbag

pytestmark = pytest.mark.slow  # whole programs: left out by make test-fast

EXAMPLES = REPO_DIR / "example_dags"


@pytest.mark.usefixtures("no_network")
def test_example_dags_parse_without_errors_or_io(airflow_db: str) -> None:
    dagbag = load_dagbag(EXAMPLES)
    assert dagbag.import_errors == {}
    daily = dagbag.get_dag("langdock_usage_daily_to_s3")
    monthly = dagbag.get_dag("langdock_usage_monthly_to_gcs")
    azure = dagbag.get_dag("langdock_usage_daily_to_azure")
    for dag in (daily, azure):
        assert {task.task_id for task in dag.tasks} == {
            "wait_for_usage",
            "export_users",
            "export_agents",
            "export_projects",
            "export_models",
            "export_api_keys",
        }
        assert dag.get_task("wait_for_usage").downstream_task_ids == {
            task.task_id for task in dag.tasks if task.task_id.startswith("export_")
        }
    assert all(task.retries >= 1 for task in daily.tasks + monthly.tasks + azure.tasks)
    assert {task.task_id for task in monthly.tasks} == {"export_models_by_source", "export_users_by_model"}
    export_users = azure.get_task("export_users")
    assert export_users.destination.startswith("wasb://{{ var.value.get('langdock_usage_container'")
    assert export_users.destination.endswith("/langdock/users/dt={{ data_interval_start | ds }}/users.csv")
    assert export_users.destination_conn_id == "wasb_default"


def test_example_dags_load_no_storage_library_at_parse_time() -> None:
    """boto3, google-cloud-storage, the Azure SDK and the providers' hooks load only when a task runs."""
    probe = textwrap.dedent(
        """
        import json, sys
        at_start = set(sys.modules)  # a *-nspkg.pth may register namespaces (google) before any import
        try:
            from airflow.dag_processing.dagbag import DagBag
        except ImportError:  # Airflow 2
            from airflow.models.dagbag import DagBag
        dagbag = DagBag(dag_folder=sys.argv[1])
        heavy = ("boto3", "botocore", "s3transfer", "google.cloud.storage", "azure",
                 "airflow.providers.amazon.aws.hooks", "airflow.providers.google.cloud.hooks",
                 "airflow.providers.microsoft.azure.hooks")
        new = set(sys.modules) - at_start
        print(json.dumps({
            "import_errors": {str(path): str(error) for path, error in dagbag.import_errors.items()},
            "dag_ids": sorted(dagbag.dag_ids),
            "heavy": sorted(n for n in new if any(n == h or n.startswith(h + ".") for h in heavy)),
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(EXAMPLES)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["import_errors"] == {}
    assert "langdock_usage_daily_to_azure" in report["dag_ids"]
    assert report["heavy"] == []


@pytest.mark.parametrize("storage", ["s3", "gcs", "azure"])
def test_demo_runs_an_example_dag_end_to_end(storage: str) -> None:
    """``make demo``: the example DAG against the simulator and a local storage server."""
    demo = subprocess.run(
        [sys.executable, str(REPO_DIR / "scripts" / "demo.py"), "--storage", storage, "--rows", "300"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    expected = {"s3": 5, "gcs": 2, "azure": 5}[storage]
    assert f"{expected} object(s) landed in {storage}, each with all 300 exported rows." in demo.stdout
    assert "period_start,period_end,org_id" in demo.stdout


def test_demo_says_how_to_install_azurite_when_it_is_missing(tmp_path: Path) -> None:
    """``--storage azure`` without ``azurite-blob`` fails at once with the install hint."""
    empty = tmp_path / "bin"
    empty.mkdir()
    demo = subprocess.run(
        [sys.executable, str(REPO_DIR / "scripts" / "demo.py"), "--storage", "azure"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "AZURITE_BLOB": str(tmp_path / "missing"), "PATH": str(empty)},
    )
    assert demo.returncode == 1, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "azurite-blob was not found" in demo.stderr
    assert "make node_modules" in demo.stderr
