"""Many workspaces: workspaces x data types with dynamic task mapping, one pool per workspace.

Two simulated workspaces (each its own API key and org) as the connections ``langdock_ws_a`` and
``langdock_ws_b``, three data types, moto S3 and real runs with ``dag.test()`` of the DAGs in
``tests/dags/langdock_workspace_dags.py``; then the example DAG itself, parsed, and run with
``airflow dags test`` against three simulated workspaces.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.testing.generator import workspace as simulated_workspace

from .conftest import REPO_DIR, TESTS_DIR, DagRunner, load_dagbag
from .test_assets import recorded_events

EXAMPLE = REPO_DIR / "example_dags" / "example_langdock_workspaces.py"
EXAMPLE_DAG_ID = "langdock_usage_workspaces_to_s3"

# Each simulated workspace has its own key, org (seed) and row count, so every XCom and every landed
# file shows which workspace it came from.
WORKSPACES = {
    "ws_a": {"api_key": "key-of-workspace-a", "seed": 11, "row_count": 120},
    "ws_b": {"api_key": "key-of-workspace-b", "seed": 22, "row_count": 75},
}
# As in the test DAGs: (data_type, group_by) by map index.
EXPORTS = [("users", "model"), ("models", "source"), ("projects", None)]


def start_workspaces(
    workspaces: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, LangdockSimulator]:
    """Start a simulator per workspace and make it the connection ``langdock_<workspace>`` (env var)."""
    simulators: dict[str, LangdockSimulator] = {}
    for name, settings in workspaces.items():
        simulators[name] = simulator = LangdockSimulator(**settings).start()
        connection = {
            "conn_type": "langdock",
            "host": simulator.base_url,
            "password": settings["api_key"],
            "extra": {"max_retry_wait": 0},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_LANGDOCK_{name.upper()}", json.dumps(connection))
    return simulators


@pytest.fixture
def workspaces(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, LangdockSimulator]]:
    """The two simulated workspaces of ``WORKSPACES``, as ``langdock_ws_a`` and ``langdock_ws_b``."""
    simulators: dict[str, LangdockSimulator] = {}
    try:
        simulators = start_workspaces(WORKSPACES, monkeypatch)
        yield simulators
    finally:
        for simulator in simulators.values():
            simulator.stop()


@pytest.fixture
def pools(airflow_db: str) -> dict[str, str]:
    """The pools of the test DAGs, created as a deployment would (dag.test() itself does not need them)."""
    from airflow.models.pool import Pool

    names = {name: f"langdock_{name}" for name in WORKSPACES}
    for pool in [*names.values(), "langdock_shared"]:
        Pool.create_or_update_pool(pool, slots=2, description=f"Langdock {pool}", include_deferred=True)
    return names


def run(dag_runner: DagRunner, dag_id: str) -> list[Any]:
    """Run the DAG with dag.test() (as DagRunner.run does); every task instance, mapped ones one by one.

    On Airflow 2.11 the DAG is written to the metadata DB first, as the DAG processor would (Airflow
    3's dag.test() does it itself): an asset alias in outlets must be known there.
    """
    dagbag = load_dagbag(TESTS_DIR / "dags")
    assert not dagbag.import_errors, dagbag.import_errors
    if not AIRFLOW_V_3_0_PLUS:
        dagbag.sync_to_db()
    dag_run = dagbag.get_dag(dag_id).test()
    return sorted(dag_run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index))


def interval(recorded: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = recorded["data_interval"]
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def date_range(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": f"{start:%Y-%m-%dT%H:%M:%S}.000Z", "to": f"{end:%Y-%m-%dT%H:%M:%S}.000Z"}


def org_of(workspace: str) -> str:
    return simulated_workspace(WORKSPACES[workspace]["seed"]).org_id


def objects(s3_client: Any, bucket: str) -> dict[str, bytes]:
    listing = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing
    }


# -- one mapped task per workspace, each in its own pool ---------------------------------------------------


def test_every_workspace_and_data_type_lands_from_its_own_workspace(
    dag_runner: DagRunner,
    workspaces: dict[str, LangdockSimulator],
    pools: dict[str, str],
    aws_conn: str,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    tis = run(dag_runner, "langdock_test_workspaces")

    # Every mapped instance ran in its workspace's pool, labelled by its data type.
    mapped = [(ti.task_id, ti.map_index, ti.state, ti.pool, ti.rendered_map_index) for ti in tis]
    assert mapped == [
        ("record", -1, "success", "default_pool", None),
        *(
            (f"{name}.{task}", index, "success", pools[name], data_type)
            for name in WORKSPACES
            for task in ("export", "wait")
            for index, (data_type, _) in enumerate(EXPORTS)
        ),
    ]

    recorded = dag_runner.recorded("langdock_test_workspaces")
    start, end = interval(recorded)
    landed = objects(s3_client, s3_bucket)
    expected_keys = set()
    for name, simulator in workspaces.items():
        rows = WORKSPACES[name]["row_count"]
        for index, (data_type, group_by) in enumerate(EXPORTS):
            # The sensor instance of this map index saw this data type of this workspace.
            waited = recorded[f"{name}.wait"][index]["return_value"]
            assert waited["data_type"] == data_type
            assert waited["record_count"] == rows
            assert waited["file_path"].startswith(f"{data_type}-usage/{org_of(name)}/")

            # The export instance landed exactly this workspace's file, at its own templated key.
            pushed = recorded[f"{name}.export"][index]
            metadata = pushed["return_value"]
            key = f"langdock/langdock_{name}/{data_type}/dt={start:%Y-%m-%d}/{data_type}.csv"
            expected = simulator.csv_bytes(data_type, start, end, group_by)
            assert metadata["destination"] == f"s3://{s3_bucket}/{key}"
            assert metadata["data_type"] == data_type
            assert metadata["record_count"] == rows
            assert metadata["date_range"] == date_range(start, end)
            assert metadata["file_path"].startswith(f"{data_type}-usage/{org_of(name)}/")
            assert metadata["download_url"].startswith(simulator.download_base_url)
            assert pushed["download_url"] == metadata["download_url"]
            assert metadata["bytes"] == len(expected)
            assert landed[key] == expected
            expected_keys.add(key)

        # Each workspace was asked with its own key only: three sensor pokes, three exports.
        api = [request for request in simulator.requests if request.server == "api"]
        assert len(api) == 2 * len(EXPORTS)
        assert {request.headers["Authorization"] for request in api} == {
            f"Bearer {WORKSPACES[name]['api_key']}"
        }
        exports = sorted(
            (request.path, request.json.get("group_by")) for request in api if "group_by" in request.json
        )
        assert exports == [("/export/models", "source"), ("/export/users", "model")]
    assert set(landed) == expected_keys


def test_a_pool_cannot_be_mapped() -> None:
    """Why one mapped task per workspace: a mapped task has one pool, from partial(), for every instance.

    Airflow 2.11 refuses ``.expand(pool=[...])``; Airflow 3 accepts it, yet the scheduler puts every
    instance in the task's pool (``default_pool``), not in the mapped ones.
    """
    import pendulum
    from airflow.providers.common.compat.sdk import DAG
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

    with DAG("langdock_mapped_pool", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        partial = LangdockUsageExportOperator.partial(task_id="export")
        pools = [f"langdock_{name}" for name in WORKSPACES]
        if not AIRFLOW_V_3_0_PLUS:
            with pytest.raises(TypeError, match="unmappable or already specified argument: pool"):
                partial.expand(data_type=["users"], pool=pools)
            partial.expand(data_type=["users"])  # a partial never expanded warns when collected
            return
        mapped = partial.expand(data_type=["users"], pool=pools)
    assert mapped.pool == "default_pool"


# -- the whole cross product in one mapped task (one shared pool) ------------------------------------------


def test_cross_product_in_one_mapped_task(
    dag_runner: DagRunner,
    workspaces: dict[str, LangdockSimulator],
    pools: dict[str, str],
    aws_conn: str,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    tis = run(dag_runner, "langdock_test_workspaces_cross")
    count = len(WORKSPACES) * len(EXPORTS)
    assert [(ti.task_id, ti.map_index, ti.state, ti.pool) for ti in tis if ti.task_id != "record"] == [
        (task_id, index, "success", "langdock_shared")
        for task_id in ("export", "wait")
        for index in range(count)
    ]

    recorded = dag_runner.recorded("langdock_test_workspaces_cross")
    start, end = interval(recorded)
    landed = objects(s3_client, s3_bucket)
    pairs = set()
    emitted = recorded_events(s3_bucket, "langdock_test_workspaces_cross")
    events = {event.uri: event.extra for event in emitted}
    for index in range(count):
        waited = recorded["wait"][index]["return_value"]
        metadata = recorded["export"][index]["return_value"]
        # {{ task.langdock_conn_id }} rendered to this instance's connection: the key names the workspace.
        prefix = f"s3://{s3_bucket}/langdock/langdock_"
        assert metadata["destination"].startswith(prefix)
        name, data_type = metadata["destination"][len(prefix) :].split("/")[:2]
        assert metadata["data_type"] == data_type
        assert metadata["record_count"] == WORKSPACES[name]["row_count"]
        assert metadata["file_path"].startswith(f"{data_type}-usage/{org_of(name)}/")
        key = f"langdock/langdock_{name}/{data_type}/dt={start:%Y-%m-%d}/{data_type}.csv"
        assert landed[key] == workspaces[name].csv_bytes(data_type, start, end)
        # The sensor is mapped the same way: its instance of this index waited for the same pair.
        assert waited["data_type"] == data_type
        assert waited["file_path"].startswith(f"{data_type}-usage/{org_of(name)}/")
        # Each instance's alias event names its own file and describes its own export.
        event = events[metadata["destination"]]
        assert (event["data_type"], event["record_count"]) == (data_type, metadata["record_count"])
        assert (event["bytes"], event["destination"]) == (metadata["bytes"], metadata["destination"])
        pairs.add((name, data_type))
    assert pairs == {(name, data_type) for name in WORKSPACES for data_type, _ in EXPORTS}
    assert len(landed) == count
    assert len(events) == count


# -- the example DAG ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_network")
def test_example_parses_without_io_into_one_pool_per_workspace(airflow_db: str) -> None:
    dagbag = load_dagbag(EXAMPLE)
    assert dagbag.import_errors == {}
    dag = dagbag.dags[EXAMPLE_DAG_ID]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    names = ("marketing", "engineering", "sales")
    assert {task.task_id for task in dag.tasks} == {
        f"{name}.{task_id}" for name in names for task_id in ("wait_for_usage", "export")
    }
    for name in names:
        wait, export = dag.get_task(f"{name}.wait_for_usage"), dag.get_task(f"{name}.export")
        assert wait.pool == export.pool == f"langdock_{name}"
        assert wait.langdock_conn_id == export.partial_kwargs["langdock_conn_id"] == f"langdock_{name}"
        assert export.upstream_task_ids == {wait.task_id}
        assert export.partial_kwargs["skip_on_no_data"] is True
        assert export.partial_kwargs["destination"].startswith(
            "s3://{{ var.value.get('langdock_usage_bucket', 'langdock-usage') }}"
            f"/langdock/{name}/{{{{ task.data_type }}}}/"
        )
        # Every data type (assistants is the older name of agents), one mapped instance each.
        data_types = [kwargs["data_type"] for kwargs in export.expand_input.value]
        assert sorted(data_types) == ["agents", "api_keys", "models", "projects", "users", "workflows"]
        assert all(task.retries >= 1 for task in (wait, export))


def test_example_dag_runs_for_every_workspace(
    aws_conn: str,
    s3_bucket: str,
    s3_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``airflow dags test`` of the example itself: three workspaces, pools from ``airflow pools import``."""
    settings = {
        "marketing": {"api_key": "key-marketing", "seed": 1, "row_count": 40},
        "engineering": {"api_key": "key-engineering", "seed": 2, "row_count": 55},
        # Only this workspace has workflows enabled: its workflows land, the others' skip.
        "sales": {"api_key": "key-sales", "seed": 3, "row_count": 30, "disabled_data_types": ()},
    }
    home = tmp_path / "airflow-home"
    home.mkdir()
    pools_file = tmp_path / "pools.json"
    pools_file.write_text(
        json.dumps(
            {
                f"langdock_{name}": {"slots": 4, "description": f"Langdock {name}", "include_deferred": True}
                for name in settings
            }
        )
    )
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLE.parent))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_USAGE_BUCKET", s3_bucket)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=1), today
    simulators = start_workspaces(settings, monkeypatch)
    try:
        for command in (
            ["db", "migrate"],
            ["pools", "import", str(pools_file)],
            ["dags", "test", EXAMPLE_DAG_ID, today.date().isoformat()],
        ):
            completed = subprocess.run(
                [sys.executable, "-m", "airflow", *command], capture_output=True, text=True, timeout=300
            )
            assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    finally:
        for simulator in simulators.values():
            simulator.stop()

    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, map_index, state, pool, rendered_map_index FROM task_instance WHERE dag_id = ?",
            (EXAMPLE_DAG_ID,),
        ).fetchall()
    data_types = ["users", "agents", "projects", "models", "api_keys", "workflows"]
    skipped = {(name, "workflows") for name in ("marketing", "engineering")}
    assert sorted(rows) == sorted(
        [(f"{name}.wait_for_usage", -1, "success", f"langdock_{name}", None) for name in settings]
        + [
            (
                f"{name}.export",
                index,
                "skipped" if (name, data_type) in skipped else "success",
                f"langdock_{name}",
                data_type,
            )
            for name in settings
            for index, data_type in enumerate(data_types)
        ]
    )

    group_by = {"users": "model", "agents": "model", "models": "source", "api_keys": "model"}
    expected = {
        f"langdock/{name}/{data_type}/dt={start:%Y-%m-%d}/{data_type}.csv": simulator.csv_bytes(
            data_type, start, end, group_by.get(data_type)
        )
        for name, simulator in simulators.items()
        for data_type in data_types
        if (name, data_type) not in skipped
    }
    assert objects(s3_client, s3_bucket) == expected
