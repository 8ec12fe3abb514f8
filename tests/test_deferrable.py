"""The deferrable operator and sensor in real DAG runs (dag.test runs their triggers in-process).

DAGs: ``tests/dags/langdock_deferrable_dags.py``. Each pipeline exists in a deferrable and a sync
variant, and both must land the same bytes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import AirflowSkipException

from airflow_provider_langdock import __version__
from airflow_provider_langdock.clock import Clock
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockError,
    LangdockNoDataError,
    LangdockSensorTimeoutError,
    LangdockTimeoutError,
)
from airflow_provider_langdock.hooks.base import LangdockBaseHook
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.triggers.events import error_event

from .clock import FakeClock
from .conftest import REPO_DIR, DagRunner, install_clock, load_dagbag

AIOHTTP_AGENT = f"airflow-provider-langdock/{__version__} aiohttp/"


@pytest.fixture
def retry_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The hooks' retry waits are recorded, not slept; the sensor's trigger still polls in real time."""
    clock = FakeClock()
    monkeypatch.setattr(LangdockBaseHook, "clock", clock)
    return clock


@pytest.fixture
def langdock(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, retry_clock: FakeClock
) -> LangdockSimulator:
    """The simulator as ``langdock_default`` with the default retry settings; retry waits are not slept."""
    conn = {"conn_type": "langdock", "host": simulator.base_url, "password": "test-key"}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))
    return simulator


@pytest.fixture
def virtual_clock(langdock: LangdockSimulator, retry_clock: FakeClock) -> FakeClock:
    """The retry waits and the simulator's storms on one fake clock."""
    langdock.clock = retry_clock
    return retry_clock


class _ShortWaits(Clock):
    """Real time, except that every asyncio wait lasts 50 ms."""

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.05)


def yesterday() -> pendulum.DateTime:
    return pendulum.now("UTC").start_of("day").subtract(days=1)


def api_agents(simulator: LangdockSimulator) -> set[str]:
    return {
        r.headers["User-Agent"].split(" ")[1].split("/")[0] for r in simulator.requests if r.server == "api"
    }


def without_file_identity(metadata: Any) -> Any:
    """Export metadata minus what names an export's file, at any depth (each export makes a new file)."""
    if isinstance(metadata, dict):
        return {
            key: without_file_identity(value)
            for key, value in metadata.items()
            if key not in {"download_url", "file_path", "destination"}
        }
    if isinstance(metadata, list):
        return [without_file_identity(value) for value in metadata]
    return metadata


def test_deferrable_pipeline_lands_the_same_bytes_as_the_sync_one(
    dag_runner: DagRunner,
    langdock: LangdockSimulator,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    day = yesterday()
    landed: dict[str, bytes] = {}
    recorded: dict[str, dict[str, Any]] = {}
    for mode in ("deferrable", "sync"):
        dag_id = f"langdock_{mode}_wait_then_export"
        langdock.clear_requests()
        states = dag_runner.run(dag_id, logical_date=day, run_conf={"data_type": "models"})
        assert states == {"wait": "success", "export": "success", "record": "success"}, mode
        # deferrable: every API call went out from the trigger (aiohttp); sync: from the worker (requests)
        assert api_agents(langdock) == ({"aiohttp"} if mode == "deferrable" else {"python-requests"})
        recorded[mode] = dag_runner.recorded(dag_id)
        start = datetime.fromisoformat(recorded[mode]["data_interval"][0])
        key = f"langdock/{dag_id}/models/dt={start:%Y-%m-%d}/models.csv"
        landed[mode] = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert recorded[mode]["export"]["return_value"]["destination"] == f"s3://{s3_bucket}/{key}"

    assert landed["deferrable"] == landed["sync"]
    assert recorded["deferrable"]["data_interval"] == recorded["sync"]["data_interval"]
    start, end = (datetime.fromisoformat(moment) for moment in recorded["deferrable"]["data_interval"])
    assert landed["deferrable"] == langdock.csv_bytes("models", start, end)
    for task_id in ("wait", "export"):
        deferrable, sync = (recorded[mode][task_id]["return_value"] for mode in ("deferrable", "sync"))
        assert without_file_identity(deferrable) == without_file_identity(sync)
    for mode in ("deferrable", "sync"):
        export = recorded[mode]["export"]
        assert export["download_url"] == export["return_value"]["download_url"]
        assert export["return_value"]["bytes"] == len(landed[mode])
        assert export["return_value"]["record_count"] == 100
        assert recorded[mode]["wait"]["return_value"]["record_count"] == 100
        assert recorded[mode]["wait"]["download_url"] is None  # the sensor pushes only its return value


def test_deferrable_sensor_waits_in_the_triggerer_until_data_appears(
    dag_runner: DagRunner, langdock: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    langdock.inject(404, count=2, path="/export/users")  # "No data found" for the first two polls
    states = dag_runner.run("langdock_deferrable_wait_then_export")
    assert states == {"wait": "success", "export": "success", "record": "success"}
    checks = [r for r in langdock.requests if r.server == "api"]
    assert len(checks) == 4  # two polls without data, the poll that finds it, then the export
    assert all(r.headers["User-Agent"].startswith(AIOHTTP_AGENT) for r in checks)
    assert len(list(tmp_path.rglob("users.csv"))) == 1


def test_deferrable_export_survives_a_60_second_rate_limit_storm(
    dag_runner: DagRunner,
    langdock: LangdockSimulator,
    virtual_clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Acceptance: 60 s of 429s (on a virtual clock), then success; the file lands complete."""
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    started = virtual_clock.monotonic()
    langdock.inject_for(60, status=429)
    states = dag_runner.run("langdock_deferrable_export", logical_date=yesterday())
    assert states == {"export": "success", "record": "success"}
    assert virtual_clock.monotonic() - started >= 60
    api = [r for r in langdock.requests if r.server == "api"]
    assert len(api) == len(virtual_clock.slept) + 1 >= 7
    start, end = (
        datetime.fromisoformat(m) for m in dag_runner.recorded("langdock_deferrable_export")["data_interval"]
    )
    landed = next(tmp_path.rglob("users.csv"))
    assert landed.read_bytes() == langdock.csv_bytes("users", start, end)


@pytest.mark.parametrize("mode", ["deferrable", "sync"])
def test_skip_on_no_data_is_the_same_in_both_modes(
    dag_runner: DagRunner,
    langdock: LangdockSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    langdock.set_data_window(None, datetime(2000, 1, 1))
    assert dag_runner.run(f"langdock_{mode}_skip_on_no_data")["export"] == "skipped"
    assert dag_runner.run(f"langdock_{mode}_fail_on_no_data")["export"] == "failed"
    assert not list(tmp_path.rglob("*.csv"))
    assert not [r for r in langdock.requests if r.server == "download"]


def test_deferrable_replace_false_refuses_before_deferring(
    dag_runner: DagRunner, langdock: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    assert dag_runner.run("langdock_deferrable_export_no_replace")["export"] == "success"
    landed = next(tmp_path.rglob("users.csv"))
    landed.write_bytes(b"keep me")
    langdock.clear_requests()
    assert dag_runner.run("langdock_deferrable_export_no_replace")["export"] == "failed"
    assert landed.read_bytes() == b"keep me"
    assert langdock.requests == []


def test_deferrable_sensor_soft_fail_skips_on_timeout_only(
    dag_runner: DagRunner, langdock: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    langdock.set_data_window(None, datetime(2000, 1, 1))
    assert dag_runner.run("langdock_deferrable_sensor_soft_fail")["wait"] == "skipped"
    langdock.clear_requests()
    conn = {"conn_type": "langdock", "host": langdock.base_url, "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))
    assert dag_runner.run("langdock_deferrable_sensor_soft_fail")["wait"] == "failed"
    assert len(langdock.requests) == 1


def test_deferrable_export_fails_at_its_execution_timeout(
    dag_runner: DagRunner, langdock: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """execution_timeout=2 s travels with the trigger as its deadline; a storm outlasts it."""
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")

    install_clock(monkeypatch, _ShortWaits())
    langdock.inject_for(60, status=429)
    started = time.monotonic()
    assert dag_runner.run("langdock_deferrable_export_timeout")["export"] == "failed"
    assert time.monotonic() - started < 30
    assert len(langdock.requests) >= 2
    assert not [r for r in langdock.requests if r.server == "download"]
    assert not list(tmp_path.rglob("*.csv"))


# -- parameters and resumption -----------------------------------------------------------------------


def test_deferrable_defaults_to_airflows_default_deferrable() -> None:
    code = (
        "from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator\n"
        "from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor\n"
        "print('RESULT', LangdockUsageExportOperator(task_id='e', data_type='users').deferrable,\n"
        "      LangdockUsageExportSensor(task_id='w', data_type='users').deferrable)\n"
    )
    for setting, expected in (("True", "True True"), ("False", "False False")):
        env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": setting}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
        )
        result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
        assert result == f"RESULT {expected}"
    assert LangdockUsageExportOperator(task_id="e", data_type="users", deferrable=True).deferrable is True


@pytest.mark.parametrize(
    "task",
    [
        LangdockUsageExportOperator(task_id="export", data_type="users", deferrable=True),
        LangdockUsageExportSensor(task_id="wait", data_type="users", deferrable=True),
    ],
    ids=["operator", "sensor"],
)
@pytest.mark.parametrize("event", [None, {}, {"status": "finished"}, {"result": {}}])
def test_resuming_without_a_valid_event_fails(task: Any, event: Any) -> None:
    with pytest.raises(LangdockError, match="without a Langdock trigger event|unknown status"):
        task.execute_complete({}, event=event)


def test_operator_maps_error_and_timeout_events_to_typed_errors() -> None:
    operator = LangdockUsageExportOperator(task_id="export", data_type="users", deferrable=True)
    with pytest.raises(LangdockAuthError, match="refused"):
        operator.execute_complete({}, event=error_event(LangdockAuthError("refused", http_status=401)))
    with pytest.raises(LangdockNoDataError):
        operator.execute_complete({}, event=error_event(LangdockNoDataError("none", http_status=404)))
    with pytest.raises(LangdockTimeoutError):
        operator.execute_complete({}, event={"status": "timeout", "message": "late"})
    skipping = LangdockUsageExportOperator(
        task_id="export", data_type="users", deferrable=True, skip_on_no_data=True
    )
    with pytest.raises(AirflowSkipException, match="Nothing to export"):
        skipping.execute_complete({}, event=error_event(LangdockNoDataError("none", http_status=404)))


@pytest.mark.parametrize("soft_fail", [True, False])
def test_sensor_soft_fail_skips_a_timeout_but_never_an_error(soft_fail: bool) -> None:
    sensor = LangdockUsageExportSensor(
        task_id="wait", data_type="users", deferrable=True, soft_fail=soft_fail
    )
    refused = {"event": error_event(LangdockAuthError("refused", http_status=401))}
    with pytest.raises(LangdockAuthError, match="refused"):
        sensor.resume_execution("execute_complete", refused, {})
    timeout = {"event": {"status": "timeout", "message": "late"}}
    expected = AirflowSkipException if soft_fail else LangdockSensorTimeoutError
    with pytest.raises(expected):
        sensor.resume_execution("execute_complete", timeout, {})


def test_operator_rejects_a_negative_retry_window() -> None:
    with pytest.raises(LangdockError, match=r"retry_window .* must be a finite number at least 0"):
        LangdockUsageExportOperator(task_id="export", data_type="users", retry_window=timedelta(seconds=-1))


def test_deadline_is_absolute_utc() -> None:
    from airflow_provider_langdock.validation import deadline_after

    before = datetime.now(UTC)
    deadline = deadline_after(timedelta(minutes=5))
    assert deadline is not None
    assert deadline.tzinfo == UTC
    assert timedelta(minutes=5) <= deadline - before < timedelta(minutes=5, seconds=5)
    assert deadline_after(None) is None
    assert deadline_after(float("inf")) is None
    assert deadline_after(1e12) is None


@pytest.mark.usefixtures("no_network")
def test_deferrable_example_dag_defers_every_langdock_task(airflow_db: str) -> None:
    dagbag = load_dagbag(REPO_DIR / "example_dags")
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("langdock_usage_daily_deferrable")
    assert {task.task_id for task in dag.tasks} == {
        "wait_for_usage",
        *(f"export_{kind}" for kind in ("users", "agents", "projects", "models", "api_keys")),
    }
    assert all(task.deferrable for task in dag.tasks)
    sensor = dag.get_task("wait_for_usage")
    assert (sensor.poke_interval, sensor.timeout) == (900, 12 * 3600)
    assert all(task.retry_window == 1800 for task in dag.tasks if task.task_id.startswith("export_"))
