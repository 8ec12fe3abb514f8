"""The example DAGs parse cleanly, do no I/O at parse time, and run end to end (the README demo)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO_DIR, load_dagbag

EXAMPLES = REPO_DIR / "example_dags"


@pytest.mark.usefixtures("no_network")
def test_example_dags_parse_without_errors_or_io(airflow_db: str) -> None:
    dagbag = load_dagbag(EXAMPLES)
    assert dagbag.import_errors == {}
    daily = dagbag.get_dag("langdock_usage_daily_to_s3")
    monthly = dagbag.get_dag("langdock_usage_monthly_to_gcs")
    assert {task.task_id for task in daily.tasks} == {
        "wait_for_usage",
        "export_users",
        "export_agents",
        "export_projects",
        "export_models",
        "export_api_keys",
    }
    assert daily.get_task("wait_for_usage").downstream_task_ids == {
        task.task_id for task in daily.tasks if task.task_id.startswith("export_")
    }
    assert all(task.retries >= 1 for task in daily.tasks + monthly.tasks)
    assert {task.task_id for task in monthly.tasks} == {"export_models_by_source", "export_users_by_model"}


@pytest.mark.parametrize("storage", ["s3", "gcs"])
def test_demo_runs_an_example_dag_end_to_end(storage: str) -> None:
    """``make demo``: the example DAG against the simulator and a local storage server."""
    demo = subprocess.run(
        [sys.executable, str(REPO_DIR / "scripts" / "demo.py"), "--storage", storage, "--rows", "300"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    expected = 5 if storage == "s3" else 2
    assert f"{expected} object(s) landed in {storage}, each with all 300 exported rows." in demo.stdout
    assert "period_start,period_end,org_id" in demo.stdout
