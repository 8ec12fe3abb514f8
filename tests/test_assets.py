"""Asset events of landed exports, in real DAG runs and with the real scheduler (Airflow 3 and 2.11).

DAGs: ``tests/dags/langdock_asset_dags.py``. Producers run with ``dag.test()``; their events and the
consumers they queue are read from Airflow's metadata DB (``AssetEvent``/``AssetDagRunQueue``, on
2.11 ``DatasetEvent``/``DatasetDagRunQueue``). One scheduler loop (``airflow scheduler -n 1``) turns
the queue into asset-triggered runs, and ``airflow tasks test`` runs a consumer's task in its run, where
it reads the export from ``triggering_asset_events`` (2.11: ``triggering_dataset_events``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pytest
from airflow.providers.common.compat.sdk import Asset, AssetAlias
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
from sqlalchemy import select

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.assets import emit_export_events, export_event_extra, period_partition_key
from airflow_provider_langdock.planning import ExportPart, ExportPlan
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.transfer import Landing

from .conftest import DagRunner, load_dagbag

DAGS = Path(__file__).parent / "dags"
HOLD_POOL = "langdock_asset_test_hold"  # the consumers' pool (see tests/dags/langdock_asset_dags.py)
try:
    from airflow.sdk import PartitionedAtRuntime  # noqa: F401  (Airflow 3.3+)
except ImportError:
    RUNTIME_PARTITIONS = False
else:
    RUNTIME_PARTITIONS = True
EXTRA_KEYS = {"data_type", "group_by", "record_count", "bytes", "destination"}
EXTRA_KEYS |= {"date_from", "date_to", "timezone", "parts", "personal_data"}


@dataclass(frozen=True)
class Event:
    uri: str
    extra: dict[str, Any]
    partition_key: str | None
    source_run_id: str


def metadata_models() -> tuple[Any, Any, Any, str]:
    """Airflow's asset model, event model, run queue model and their asset id column's name."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.models import asset

        return asset.AssetModel, asset.AssetEvent, asset.AssetDagRunQueue, "asset_id"
    from airflow.models import dataset

    return dataset.DatasetModel, dataset.DatasetEvent, dataset.DatasetDagRunQueue, "dataset_id"


def recorded_events(bucket: str, dag_id: str | None = None) -> list[Event]:
    """Asset (2.11: dataset) events of this test's bucket, from the metadata DB, oldest first."""
    from airflow.utils.session import create_session

    asset_model, event_model, _, asset_id = metadata_models()
    query = (
        select(asset_model.uri, event_model)
        .join(asset_model, asset_model.id == getattr(event_model, asset_id))
        .where(asset_model.uri.contains(bucket))
        .order_by(event_model.id)
    )
    if dag_id is not None:
        query = query.where(event_model.source_dag_id == dag_id)
    with create_session() as session:
        return [
            Event(uri, dict(row.extra), getattr(row, "partition_key", None), row.source_run_id)
            for uri, row in session.execute(query)
        ]


def queued_consumers(bucket: str) -> set[str]:
    """DAGs queued to run on an event of this test's bucket (the rows the scheduler turns into runs)."""
    from airflow.utils.session import create_session

    asset_model, _, queue_model, asset_id = metadata_models()
    query = (
        select(queue_model.target_dag_id)
        .join(asset_model, asset_model.id == getattr(queue_model, asset_id))
        .where(asset_model.uri.contains(bucket))
    )
    with create_session() as session:
        return set(session.scalars(query))


def data_interval(run_id: str) -> tuple[datetime, datetime]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.run_id == run_id))
        assert run is not None
        return run.data_interval_start, run.data_interval_end


def airflow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the airflow CLI on this test run's metadata DB and DAG folder (the environment is inherited)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def asset_triggered_runs(dag_id: str) -> dict[str, list[str]]:
    """The asset-triggered runs of ``dag_id``: run_id -> URIs of the events it consumed."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    prefix = "asset_triggered__" if AIRFLOW_V_3_0_PLUS else "dataset_triggered__"
    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id.startswith(prefix))
        ).all()
        if AIRFLOW_V_3_0_PLUS:
            return {run.run_id: [e.asset.uri for e in run.consumed_asset_events] for run in runs}
        return {run.run_id: [e.dataset.uri for e in run.consumed_dataset_events] for run in runs}


@contextmanager
def hold_pool_open() -> Iterator[None]:
    """The consumers' pool, which the scheduler found missing, with a slot for a moment."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(HOLD_POOL, 1, "tests/test_assets.py", False)
    try:
        yield
    finally:
        Pool.delete_pool(HOLD_POOL)


@pytest.fixture
def asset_bucket(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket named in the asset DAGs' URIs; the DAGs (consumers too) are in the metadata DB.

    Airflow 3's ``dag.test()`` writes its DAG folder to the DB itself; on 2.11 the test does it.
    """
    monkeypatch.setenv("LANGDOCK_TEST_ASSET_BUCKET", s3_bucket)
    if not AIRFLOW_V_3_0_PLUS:
        from airflow import settings

        # Write the DAGs whenever asked, not at most every [core] min_serialized_dag_update_interval
        monkeypatch.setattr(settings, "MIN_SERIALIZED_DAG_UPDATE_INTERVAL", 0)
        write_dags_to_db()
    return s3_bucket


def write_dags_to_db() -> None:
    """Airflow 2.11: what the DAG processor does, for the asset DAGs (dag.test() does not)."""
    dagbag = load_dagbag(DAGS)
    assert not dagbag.import_errors, dagbag.import_errors
    dagbag.sync_to_db()


def yesterday() -> pendulum.DateTime:
    return pendulum.now("UTC").start_of("day").subtract(days=1)


def assert_no_secrets(extra: dict[str, Any], langdock: LangdockSimulator) -> None:
    text = json.dumps(extra)
    assert "test-key" not in text
    assert langdock.download_base_url not in text
    assert "download" not in text.lower()
    assert "sig" not in text.lower()


# -- real DAG runs ----------------------------------------------------------------------------------


def test_export_events_queue_consumers_that_read_the_export_from_their_triggering_events(
    dag_runner: DagRunner,
    langdock_conn: LangdockSimulator,
    asset_bucket: str,
    s3_client: Any,
) -> None:
    states = dag_runner.run("langdock_asset_producer_sync", logical_date=yesterday())
    assert states == {"export": "success"}

    events = recorded_events(asset_bucket)
    users_uri = f"s3://{asset_bucket}/langdock/users"
    assert events[0].uri == users_uri
    assert len(events) == 2
    destination = events[1].uri
    assert destination.startswith(f"s3://{asset_bucket}/langdock/langdock_asset_producer_sync/users/dt=")
    start, end = data_interval(events[0].source_run_id)
    landed = s3_client.get_object(Bucket=asset_bucket, Key=destination.split("/", 3)[3])["Body"].read()
    expected = {
        "data_type": "users",
        "group_by": None,
        "record_count": 100,
        "bytes": len(landed),
        "destination": destination,
        "date_from": start.astimezone(UTC).isoformat(),
        "date_to": end.astimezone(UTC).isoformat(),
        "timezone": "UTC",
        "parts": 1,
        "personal_data": "keep",
    }
    for event in events:  # the asset's event and the alias's event for the file
        assert event.extra == expected
        assert event.partition_key is None  # a run that is not partitioned: no key, or consumers would wait
        assert_no_secrets(event.extra, langdock_conn)
    assert landed == langdock_conn.csv_bytes("users", start, end)
    assert queued_consumers(asset_bucket) == {"langdock_asset_consumer", "langdock_asset_alias_consumer"}

    # The scheduler turns the queue into runs; each consumed this export's event.
    if not AIRFLOW_V_3_0_PLUS:  # 2.11 resolves a DAG's alias schedule when it parses the DAG again
        write_dags_to_db()
    airflow_cli("scheduler", "--num-runs", "1")
    assert not queued_consumers(asset_bucket)
    consumer_runs = asset_triggered_runs("langdock_asset_consumer")
    [run_id] = [run_id for run_id, uris in consumer_runs.items() if users_uri in uris]
    assert consumer_runs[run_id] == [users_uri]
    assert [destination] in asset_triggered_runs("langdock_asset_alias_consumer").values()

    # The consumer's task, run in that run, reads the export from its triggering events.
    with hold_pool_open():  # Airflow 2.11's `tasks test` checks the task's pool
        airflow_cli("tasks", "test", "langdock_asset_consumer", "summarize", run_id)
    assert dag_runner.recorded("langdock_asset_consumer") == [
        {key: expected[key] for key in ("destination", "record_count", "date_from", "date_to")}
        | {"timezone": "UTC", "data_type": "users"}
    ]


def test_deferrable_and_sync_exports_emit_the_same_events(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, asset_bucket: str
) -> None:
    day = yesterday().subtract(days=1)  # dag.test() would replace another test's run of the same day
    extras: dict[str, list[dict[str, Any]]] = {}
    for mode in ("deferrable", "sync"):
        dag_id = f"langdock_asset_producer_{mode}"
        assert dag_runner.run(dag_id, logical_date=day) == {"export": "success"}
        events = recorded_events(asset_bucket, dag_id)
        assert [event.uri for event in events] == [f"s3://{asset_bucket}/langdock/users", events[1].uri]
        assert events[1].uri == events[1].extra["destination"]
        assert events[1].uri.startswith(f"s3://{asset_bucket}/langdock/{dag_id}/users/dt=")
        assert all(set(event.extra) == EXTRA_KEYS for event in events)
        assert events[0].extra == events[1].extra
        extras[mode] = [  # the destination's path names the DAG
            {**event.extra, "destination": event.extra["destination"].replace(dag_id, "<dag_id>")}
            for event in events
        ]
    assert extras["deferrable"] == extras["sync"]
    assert queued_consumers(asset_bucket) == {"langdock_asset_consumer", "langdock_asset_alias_consumer"}


def test_a_skipped_or_failed_export_emits_no_events(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, asset_bucket: str
) -> None:
    langdock_conn.set_data_window(None, datetime(2000, 1, 1))
    assert dag_runner.run("langdock_asset_producer_skip", logical_date=yesterday()) == {"export": "skipped"}
    day = yesterday().subtract(days=2)  # not a day another test ran this DAG for
    assert dag_runner.run("langdock_asset_producer_sync", logical_date=day) == {"export": "failed"}
    assert recorded_events(asset_bucket) == []
    assert queued_consumers(asset_bucket) == set()


def test_without_a_destination_the_events_carry_no_export_metadata(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, asset_bucket: str
) -> None:
    states = dag_runner.run("langdock_asset_producer_no_destination", logical_date=yesterday())
    assert states == {"export": "success"}
    # Airflow's own event for the declared asset, empty; the alias has no file to point at.
    [event] = recorded_events(asset_bucket)
    assert (event.uri, event.extra) == (f"s3://{asset_bucket}/langdock/users", {})


@pytest.mark.skipif(
    not RUNTIME_PARTITIONS,
    reason="Per-event partition keys need Airflow 3.3+ (PartitionedAtRuntime); 2.11 has no partitions.",
)
def test_a_runtime_partitioned_dag_keys_its_events_by_the_period(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, asset_bucket: str
) -> None:
    day = yesterday().in_timezone("Europe/Berlin").date()
    run_conf = {"date_from": day.isoformat(), "date_to": (day + timedelta(days=1)).isoformat()}
    states = dag_runner.run("langdock_asset_producer_partitioned", run_conf=run_conf)
    assert states == {"export": "success"}
    [event] = recorded_events(asset_bucket)
    assert event.uri == f"s3://{asset_bucket}/langdock/users-by-day"
    assert event.partition_key == f"{day.isoformat()}T00:00:00"  # wall time in the export's zone
    assert event.extra["timezone"] == "Europe/Berlin"
    berlin_midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Berlin"))
    assert event.extra["date_from"] == berlin_midnight.astimezone(UTC).isoformat()

    from airflow.models.asset import PartitionedAssetKeyLog
    from airflow.utils.session import create_session

    with create_session() as session:
        mapped = session.execute(
            select(PartitionedAssetKeyLog.source_partition_key, PartitionedAssetKeyLog.target_partition_key)
            .where(PartitionedAssetKeyLog.target_dag_id == "langdock_asset_partitioned_consumer")
            .order_by(PartitionedAssetKeyLog.id.desc())
            .limit(1)
        ).one()
    assert tuple(mapped) == (event.partition_key, day.isoformat())  # StartOfDayMapper's daily key
    # An event with a partition key does not queue a DAG scheduled plainly on the asset.
    assert queued_consumers(asset_bucket) == set()


# -- the module on its own ----------------------------------------------------------------------------


class FakeAccessor:
    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.added: list[tuple[Any, dict[str, Any] | None]] = []
        self.partition_keys: set[str] = set()

    def add(self, asset: Any, extra: dict[str, Any] | None = None) -> None:
        self.added.append((asset, extra))

    def add_partitions(self, keys: str | list[str]) -> None:
        self.partition_keys.update([keys] if isinstance(keys, str) else keys)


class FakeOutletEvents(dict[Any, FakeAccessor]):
    def __missing__(self, key: Any) -> FakeAccessor:
        self[key] = FakeAccessor()
        return self[key]


def a_landing() -> Landing:
    """A split export of a Berlin day: three parts, the first without data."""
    request = ExportRequest.build(
        "users",
        datetime(2026, 3, 1),
        datetime(2026, 3, 2),
        "Europe/Berlin",
        "model",
        now=datetime(2026, 3, 10, tzinfo=UTC),
    )
    start, end = request.utc_range()
    edges = [start + (end - start) * index / 3 for index in range(4)]
    result = ExportResult(
        download_url="https://files.example/export.csv?signature=secret",
        file_path="exports/users.csv",
        data_type="users",
        record_count=10,
        date_range={"from": "x", "to": "y"},
    )
    parts = tuple(
        ExportPart(request.for_utc_range(first, last), result if index else None)
        for index, (first, last) in enumerate(pairwise(edges))
    )
    return Landing(ExportPlan(request, parts), "s3://bucket/users.csv", 1234)


def test_the_extra_describes_the_landed_file_and_never_its_download_url() -> None:
    extra = export_event_extra(a_landing())
    assert extra == {
        "data_type": "users",
        "group_by": "model",
        "record_count": 20,
        "bytes": 1234,
        "destination": "s3://bucket/users.csv",
        "date_from": "2026-02-28T23:00:00+00:00",
        "date_to": "2026-03-01T23:00:00+00:00",
        "timezone": "Europe/Berlin",
        "parts": 2,
        "personal_data": "keep",
    }
    assert "secret" not in json.dumps(extra)
    assert json.loads(json.dumps(extra)) == extra


def test_assets_get_the_extra_and_aliases_an_event_for_the_destination() -> None:
    users, alias = Asset("s3://bucket/users"), AssetAlias("users_files")
    events = FakeOutletEvents()
    events[users].extra["kept"] = True
    context: Any = {"outlet_events": events}
    emitted = emit_export_events([users, alias, "not an asset"], context, a_landing())
    assert emitted == ["s3://bucket/users", "s3://bucket/users.csv"]
    assert events[users].extra == {"kept": True, **export_event_extra(a_landing())}
    [(asset, extra)] = events[alias].added
    assert isinstance(asset, Asset)
    assert asset.uri == "s3://bucket/users.csv"
    assert extra == export_event_extra(a_landing())
    assert events[users].partition_keys == set()  # not a partitioned DAG


def test_nothing_landed_means_no_metadata_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    events = FakeOutletEvents()
    with caplog.at_level(logging.WARNING):
        assert emit_export_events([Asset("s3://bucket/users")], {"outlet_events": events}, None) == []  # type: ignore[arg-type]
    assert "no destination" in caplog.text
    assert not events
    caplog.clear()
    assert emit_export_events([], {"outlet_events": events}, None) == []  # type: ignore[arg-type]
    assert caplog.text == ""


class RuntimePartitioned:
    partitioned_at_runtime = True


class FakeDag:
    timetable = RuntimePartitioned()


@pytest.mark.parametrize(
    ("dag", "run_key", "expected"),
    [
        (FakeDag(), None, {"2026-03-01T00:00:00"}),
        (FakeDag(), "2026-03-01", set()),  # the run's own key goes on every event
        (object(), None, set()),  # not partitioned
    ],
)
def test_the_period_is_the_partition_key_only_when_the_dag_sets_keys_at_runtime(
    dag: Any, run_key: str | None, expected: set[str]
) -> None:
    users = Asset("s3://bucket/users")
    events = FakeOutletEvents()
    context: Any = {"outlet_events": events, "dag": dag, "partition_key": run_key}
    emit_export_events([users, AssetAlias("users_files")], context, a_landing())
    assert events[users].partition_keys == expected
    assert period_partition_key(a_landing().plan.request) == "2026-03-01T00:00:00"
