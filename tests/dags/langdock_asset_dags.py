"""Exports with asset outlets and DAGs scheduled on those assets, for ``tests/test_assets.py``.

An asset's URI is fixed when the DAG is parsed, so the bucket comes from the environment variable
``LANGDOCK_TEST_ASSET_BUCKET`` (set by the test before the DAGs are loaded). Each producer lands the
users of its run's data interval in that bucket and names the asset ``USERS`` and the alias
``USERS_FILES`` in its outlets.

The consumers are created unpaused, so that an export's asset event queues a run of them. Their task
uses a pool that does not exist: the scheduler creates the asset-triggered run but never queues the
task; the test then creates the pool and runs the task in that run with ``airflow tasks test``. It
writes what the triggering events say about the export into ``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, AssetAlias, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

BUCKET = os.environ.get("LANGDOCK_TEST_ASSET_BUCKET", "langdock-asset-tests")
#: Every daily users file the producers land (one event per export).
USERS = Asset(f"s3://{BUCKET}/langdock/users")
#: Resolves to the exact file each export landed.
USERS_FILES = AssetAlias("langdock_test_users_files")
#: Partitioned by day: written only by ``langdock_asset_producer_partitioned`` (Airflow 3.3+).
USERS_BY_DAY = Asset(f"s3://{BUCKET}/langdock/users-by-day")

SCHEDULE = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
START = pendulum.datetime(2026, 1, 1, tz="UTC")
DESTINATION = (
    f"s3://{BUCKET}/langdock/{{{{ dag.dag_id }}}}/users/dt={{{{ data_interval_start | ds }}}}/users.csv"
)


def producer(dag_id: str, **operator_kwargs: object) -> DAG:
    """One export task named ``export`` with ``outlets=[USERS, USERS_FILES]``."""
    operator_kwargs.setdefault("destination", DESTINATION)
    with DAG(dag_id, schedule=SCHEDULE, start_date=START, catchup=False) as dag:
        LangdockUsageExportOperator(
            task_id="export", data_type="users", outlets=[USERS, USERS_FILES], **operator_kwargs
        )
    return dag


sync_producer = producer("langdock_asset_producer_sync", deferrable=False)
deferrable_producer = producer("langdock_asset_producer_deferrable", deferrable=True)
skipping_producer = producer("langdock_asset_producer_skip", skip_on_no_data=True)
producer_without_destination = producer("langdock_asset_producer_no_destination", destination=None)

try:  # Airflow 3.3+: partition keys decided while the task runs
    from airflow.sdk import PartitionedAtRuntime
except ImportError:  # Airflow 2.11 and 3.x before 3.3: no such DAGs
    pass
else:
    with DAG(
        "langdock_asset_producer_partitioned",
        schedule=PartitionedAtRuntime(),
        start_date=START,
        catchup=False,
        params={"date_from": "", "date_to": ""},
    ) as partitioned_producer:
        LangdockUsageExportOperator(
            task_id="export",
            data_type="users",
            date_from="{{ params.date_from }}",
            date_to="{{ params.date_to }}",
            timezone="Europe/Berlin",
            destination=f"s3://{BUCKET}/langdock/users-by-day/{{{{ params.date_from[:10] }}}}.csv",
            outlets=[USERS_BY_DAY],
        )


# -- consumers ---------------------------------------------------------------------------------------

HOLD_POOL = "langdock_asset_test_hold"  # missing while the scheduler runs: it leaves the task alone


def triggering_events(context: Any, outlet: Asset | AssetAlias) -> list[Any]:
    """The events of ``outlet`` that triggered this run (Airflow 3: by asset; 2.11: by dataset URI)."""
    if "triggering_asset_events" in context:
        return list(context["triggering_asset_events"][outlet])
    events = context["triggering_dataset_events"]
    if isinstance(outlet, AssetAlias):  # 2.11 lists alias events under the datasets they resolved to
        return [event for by_uri in events.values() for event in by_uri]
    return list(events[outlet.uri])


def export_summary(event: Any) -> dict[str, Any]:
    """What a consumer needs of an export's event: the file, its rows and the period it covers."""
    return {
        key: event.extra[key]
        for key in ("destination", "record_count", "date_from", "date_to", "timezone", "data_type")
    }


def consumer(dag_id: str, outlet: Asset | AssetAlias) -> DAG:
    @task(pool=HOLD_POOL)
    def summarize(**context: Any) -> None:
        summaries = [export_summary(event) for event in triggering_events(context, outlet)]
        path = Path(os.environ["LANGDOCK_TEST_RECORD_DIR"]) / f"{dag_id}.json"
        path.write_text(json.dumps(summaries))

    with DAG(
        dag_id,
        schedule=[outlet],
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
    ) as dag:
        summarize()
    return dag


users_consumer = consumer("langdock_asset_consumer", USERS)
users_files_consumer = consumer("langdock_asset_alias_consumer", USERS_FILES)
# Scheduled plainly on an asset whose events carry a partition key: Airflow does not queue it.
users_by_day_plain_consumer = consumer("langdock_asset_plain_consumer_of_partitions", USERS_BY_DAY)

try:  # Airflow 3.3+
    from airflow.sdk import PartitionedAssetTimetable, StartOfDayMapper
except ImportError:
    pass
else:
    with DAG(
        "langdock_asset_partitioned_consumer",
        schedule=PartitionedAssetTimetable(assets=USERS_BY_DAY, default_partition_mapper=StartOfDayMapper()),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
    ) as partitioned_consumer:

        @task(pool=HOLD_POOL)
        def summarize_day() -> None:
            pass

        summarize_day()
