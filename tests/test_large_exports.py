"""Exports above the row cap and under faults, through the operator in real DAG runs (dag.test)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_langdock import transfer
from airflow_provider_langdock.csvstream import CsvRecordCounter
from airflow_provider_langdock.testing import LangdockSimulator

from .conftest import DagRunner
from .test_transfer import assert_is_the_direct_export, export_requests

DAG_ID = "langdock_test_large_export"
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=120)
MIB = 1024 * 1024


def run_export(
    dag_runner: DagRunner, start: datetime, end: datetime, group_by: str = "", dag_id: str = DAG_ID
) -> tuple[str, dict[str, Any]]:
    conf = {"date_from": start.isoformat(), "date_to": end.isoformat(), "group_by": group_by}
    state = dag_runner.run(dag_id, run_conf=conf)["export"]
    return state, dag_runner.recorded(dag_id)


def test_350000_rows_above_a_100000_cap_land_as_one_csv_in_flat_memory(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3,500 rows a day over 100 days, users grouped by model (about 180 MB), cap 100,000."""
    langdock_conn.rows_per_day, langdock_conn.row_cap = 3500, 100_000
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}/lake")
    peaks: list[int] = []
    land_plan = transfer.land_plan

    def measured_land_plan(*args: Any, **kwargs: Any) -> transfer.Landing:
        tracemalloc.start()
        try:
            return land_plan(*args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(transfer, "land_plan", measured_land_plan)
    start, end = DAY0, DAY0 + timedelta(days=100)

    state, recorded = run_export(dag_runner, start, end, "model")

    assert state == "success"
    metadata = recorded["return_value"]
    assert metadata["record_count"] == 350_000
    assert [part["record_count"] for part in metadata["parts"]] == [87_500] * 4
    assert metadata["download_url"] is None
    assert recorded["download_url"] is None
    assert len(export_requests(langdock_conn)) == 5  # the whole range, then four parts one at a time
    landed_path = tmp_path / "lake" / DAG_ID / "users.csv"
    landed = landed_path.read_bytes()
    assert metadata["bytes"] == len(landed) > 150 * MIB
    counter = CsvRecordCounter()
    counter.feed(landed)
    assert counter.data_rows == 350_000
    assert_is_the_direct_export(landed, langdock_conn, start, end, "model")
    [peak] = peaks
    assert peak < 8 * MIB, f"landing {len(landed) / MIB:.0f} MiB peaked at {peak / MIB:.1f} MiB"


def test_deferrable_mode_splits_the_same_way_and_lands_the_same_bytes(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger drives the same planner: same parts, same file as the sync operator."""
    langdock_conn.rows_per_day, langdock_conn.row_cap = 240, 1000
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"file://{tmp_path}")
    start, end = DAY0, DAY0 + timedelta(days=10)
    results = {}
    for dag_id in (DAG_ID, f"{DAG_ID}_deferrable"):
        langdock_conn.clear_requests()
        state, recorded = run_export(dag_runner, start, end, dag_id=dag_id)
        assert state == "success"
        results[dag_id] = (recorded["return_value"], (tmp_path / dag_id / "users.csv").read_bytes())
        assert len(export_requests(langdock_conn)) == 1 + len(recorded["return_value"]["parts"])
    (sync_metadata, sync_bytes), (deferred_metadata, deferred_bytes) = results.values()
    assert deferred_bytes == sync_bytes
    assert deferred_metadata["record_count"] == sync_metadata["record_count"] == 2400
    assert len(deferred_metadata["parts"]) == len(sync_metadata["parts"]) > 1
    assert_is_the_direct_export(deferred_bytes, langdock_conn, start, end, None)


def test_split_export_to_s3_with_an_expired_url_lands_the_exact_file(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    langdock_conn.rows_per_day, langdock_conn.row_cap = 240, 1000
    langdock_conn.add_busy_period(DAY0 + timedelta(hours=12), DAY0 + timedelta(hours=16), 12_000)
    langdock_conn.inject_download(403)  # the first URL expired while the task was queued
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    start, end = DAY0, DAY0 + timedelta(days=2)

    state, recorded = run_export(dag_runner, start, end)

    assert state == "success"
    landed = s3_client.get_object(Bucket=s3_bucket, Key=f"langdock/{DAG_ID}/users.csv")["Body"].read()
    assert_is_the_direct_export(landed, langdock_conn, start, end)
    metadata = recorded["return_value"]
    assert metadata["destination"] == f"s3://{s3_bucket}/langdock/{DAG_ID}/users.csv"
    assert metadata["record_count"] == 2440
    assert metadata["bytes"] == len(landed)
    first_part_end = datetime.strptime(metadata["parts"][0]["date_to"], "%Y-%m-%dT%H:%M:%S.%fZ")
    first_part = (DAY0, first_part_end.replace(tzinfo=UTC))
    assert export_requests(langdock_conn).count(first_part) == 2  # exported again, once, for a fresh URL
    downloaded = [urlsplit(r.path).path for r in langdock_conn.requests if r.server == "download"]
    assert downloaded[0] != downloaded[1] == urlsplit(metadata["parts"][0]["download_url"]).path


def test_a_broken_split_export_leaves_nothing_in_s3(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    s3_bucket: str,
    s3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three parts of about 4.5 MB: the first two fill an 8 MiB S3 part, the third keeps breaking off."""
    langdock_conn.rows_per_day, langdock_conn.row_cap = 13_000, 10_000
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_TEST_PREFIX", f"s3://{s3_bucket}/langdock")
    langdock_conn.inject_download(delay=0.01, count=2)
    langdock_conn.inject_download(truncate_after=100, count=50)

    state, _ = run_export(dag_runner, DAY0, DAY0 + timedelta(days=2))

    assert state == "failed"
    assert len([r for r in langdock_conn.requests if r.server == "download"]) == 2 + 5
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
