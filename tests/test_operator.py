"""The export operator and the sensor in real DAG runs (dag.test on SQLite) against the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_langdock.exceptions import LangdockInputError
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor
from airflow_provider_langdock.testing import LangdockSimulator

from .conftest import DagRunner


def interval(recorded: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = recorded["data_interval"]
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def expected_key(data_type: str, start: datetime) -> str:
    return f"langdock/{data_type}/dt={start:%Y-%m-%d}/{data_type}.csv"


# -- destinations ----------------------------------------------------------------------------------


def test_export_to_s3_lands_the_exact_file(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    states = dag_runner.run("langdock_test_export", run_conf={"data_type": "models"})
    assert states == {"export": "success", "record": "success"}
    recorded = dag_runner.recorded("langdock_test_export")
    start, end = interval(recorded)
    key = expected_key("models", start)
    body = s3_client.get_object(Bucket=s3_bucket, Key=key)
    expected = langdock_conn.csv_bytes("models", start, end)
    assert body["Body"].read() == expected
    assert body["ContentType"] == "text/csv"
    metadata = recorded["export"]["return_value"]
    assert metadata["destination"] == f"s3://{s3_bucket}/{key}"
    assert metadata["bytes"] == len(expected)
    assert metadata["data_type"] == "models"
    assert metadata["record_count"] == 100
    assert metadata["date_range"] == {
        "from": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "to": end.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    assert metadata["file_path"].startswith("models-usage/")
    assert recorded["export"]["download_url"] == metadata["download_url"]
    downloads = [r for r in langdock_conn.requests if r.server == "download"]
    assert all("authorization" not in {h.lower() for h in r.headers} for r in downloads)


def test_export_to_gcs_lands_the_exact_file(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    gcs_bucket: str,
    gcs_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"gs://{gcs_bucket}/langdock")
    states = dag_runner.run("langdock_test_export", run_conf={"data_type": "api_keys"})
    assert states == {"export": "success", "record": "success"}
    start, end = interval(dag_runner.recorded("langdock_test_export"))
    blob = gcs_client.bucket(gcs_bucket).get_blob(expected_key("api_keys", start))
    assert blob.download_as_bytes() == langdock_conn.csv_bytes("api_keys", start, end)
    assert blob.content_type == "text/csv"


def test_export_to_local_path_lands_the_exact_file(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}/lake")
    states = dag_runner.run("langdock_test_export", run_conf={"data_type": "agents"})
    assert states == {"export": "success", "record": "success"}
    start, end = interval(dag_runner.recorded("langdock_test_export"))
    landed = tmp_path / "lake" / "agents" / f"dt={start:%Y-%m-%d}" / "agents.csv"
    assert landed.read_bytes() == langdock_conn.csv_bytes("agents", start, end)
    assert [p.name for p in landed.parent.iterdir()] == ["agents.csv"]


def test_export_without_destination_only_pushes_metadata(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator
) -> None:
    states = dag_runner.run("langdock_test_export_only")
    assert states == {"export": "success", "record": "success"}
    metadata = dag_runner.recorded("langdock_test_export_only")["export"]["return_value"]
    assert set(metadata) == {"download_url", "file_path", "data_type", "record_count", "date_range", "parts"}
    assert metadata["data_type"] == "projects"
    [part] = metadata["parts"]
    assert part["download_url"] == metadata["download_url"]
    assert (part["file_path"], part["record_count"]) == (metadata["file_path"], metadata["record_count"])
    assert not [r for r in langdock_conn.requests if r.server == "download"]


def test_replace_false_refuses_before_exporting(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    assert dag_runner.run("langdock_test_export_no_replace")["export"] == "success"
    landed = next(tmp_path.rglob("users.csv"))
    landed.write_bytes(b"keep me")
    langdock_conn.clear_requests()
    assert dag_runner.run("langdock_test_export_no_replace")["export"] == "failed"
    assert landed.read_bytes() == b"keep me"
    assert langdock_conn.requests == []


def test_failed_transfer_leaves_nothing(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    langdock_conn.inject_download(truncate_after=500, count=10)
    assert dag_runner.run("langdock_test_export")["export"] == "failed"
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


# -- sensor ----------------------------------------------------------------------------------------


def test_sensor_waits_until_data_appears(dag_runner: DagRunner, langdock_conn: LangdockSimulator) -> None:
    langdock_conn.inject(404, count=2)  # "No data found" for the first two pokes
    states = dag_runner.run("langdock_test_sensor_poke")
    assert states == {"wait": "success", "record": "success"}
    pokes = [r for r in langdock_conn.requests if r.server == "api"]
    assert len(pokes) == 3
    metadata = dag_runner.recorded("langdock_test_sensor_poke")["wait"]["return_value"]
    assert metadata["data_type"] == "users"
    assert metadata["record_count"] == 100


def test_sensor_counts_a_period_above_the_row_cap_as_data(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator
) -> None:
    langdock_conn.row_cap = 10
    assert dag_runner.run("langdock_test_sensor_poke")["wait"] == "success"
    metadata = dag_runner.recorded("langdock_test_sensor_poke")["wait"]["return_value"]
    assert metadata["record_count"] == 100
    assert metadata["download_url"] is None
    assert len(langdock_conn.requests) == 1


def test_sensor_in_reschedule_mode(dag_runner: DagRunner, langdock_conn: LangdockSimulator) -> None:
    states = dag_runner.run("langdock_test_sensor_reschedule")
    assert states["wait"] == "success"
    assert (
        dag_runner.recorded("langdock_test_sensor_reschedule")["wait"]["return_value"]["record_count"] == 100
    )


def test_sensor_then_export_in_one_run(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    states = dag_runner.run("langdock_test_wait_then_export", run_conf={"data_type": "users"})
    assert states == {"wait": "success", "export": "success", "record": "success"}


def test_sensor_fails_at_once_on_a_bad_key(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "langdock", "host": langdock_conn.base_url, "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))
    # soft_fail=True must not turn an auth failure into a skip
    assert dag_runner.run("langdock_test_sensor_soft_fail")["wait"] == "failed"
    assert len(langdock_conn.requests) == 1


def test_sensor_soft_fail_skips_on_timeout(dag_runner: DagRunner, langdock_conn: LangdockSimulator) -> None:
    langdock_conn.set_data_window(None, datetime(2000, 1, 1))
    assert dag_runner.run("langdock_test_sensor_soft_fail")["wait"] == "skipped"


def test_sensor_keeps_waiting_through_server_errors(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator
) -> None:
    langdock_conn.inject(503, count=12)
    assert dag_runner.run("langdock_test_sensor_poke")["wait"] == "success"


# -- parameters ------------------------------------------------------------------------------------


def test_template_fields() -> None:
    assert set(LangdockUsageExportOperator.template_fields) == {
        "data_type",
        "date_from",
        "date_to",
        "timezone",
        "group_by",
        "destination",
        "destination_conn_id",
        "langdock_conn_id",
    }
    assert set(LangdockUsageExportSensor.template_fields) == {
        "data_type",
        "date_from",
        "date_to",
        "timezone",
        "group_by",
        "langdock_conn_id",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_type": "chats"}, "data_type 'chats' is not supported"),
        (
            {"data_type": "projects", "group_by": "model"},
            "group_by is not supported for data_type 'projects'",
        ),
        (
            {"data_type": "users", "chunk_size": 0},
            r"chunk_size \(bytes\) must be a whole number of at least 1",
        ),
        ({"data_type": "users", "chunk_size": "1024"}, r"chunk_size \(bytes\) must be a whole number"),
        ({"data_type": "users", "retry_window": "abc"}, "retry_window .* must be a finite number"),
        ({"data_type": "users", "retry_window": float("nan")}, "retry_window .* must be a finite number"),
        ({"data_type": "users", "destination": "/tmp/a\nb.csv"}, "control character"),
    ],
)
def test_literal_parameters_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(LangdockInputError, match=message):
        LangdockUsageExportOperator(task_id="export", **kwargs)
    if kwargs.keys() <= {"data_type", "group_by"}:
        with pytest.raises(LangdockInputError, match=message):
            LangdockUsageExportSensor(task_id="wait", **kwargs)


def test_templated_parameters_are_checked_at_run_time() -> None:
    LangdockUsageExportOperator(task_id="export", data_type="{{ params.kind }}", group_by="{{ params.g }}")


def test_importing_the_operator_loads_no_cloud_sdk() -> None:
    """DAG files that use the operator and sensor parse without boto3, google-cloud or aiohttp."""
    code = (
        "import sys\n"
        "import airflow_provider_langdock.operators.usage_export\n"
        "import airflow_provider_langdock.sensors.usage_export\n"
        "heavy = ('boto3', 'botocore', 's3transfer', 'google.cloud.storage', 'google.auth', 'aiohttp',\n"
        "         'airflow.providers.amazon.aws', 'airflow.providers.google.cloud')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_empty_data_interval_explains_itself() -> None:
    from airflow_provider_langdock.params import resolve_range

    moment = datetime(2026, 11, 1)
    with pytest.raises(LangdockInputError, match="data interval is empty"):
        resolve_range(None, None, {"data_interval_start": moment, "data_interval_end": moment})  # type: ignore[arg-type]
    with pytest.raises(LangdockInputError, match="date_from is not set and this run has no data interval"):
        resolve_range(None, None, {})  # type: ignore[arg-type]
    assert resolve_range("2026-11-01", None, {"data_interval_end": moment + timedelta(days=1)})  # type: ignore[arg-type]
