"""Daily, deferrable: wait for yesterday's Langdock usage and export it without holding worker slots.

The sensor's checks and each export request (which may take tens of seconds, or minutes of rate
limiting) run in the triggerer; only the download to S3 takes a worker slot. Needs a running
triggerer (``airflow triggerer``). Connections: ``langdock_default`` (API key, base URL) and
``aws_default``. The bucket comes from the Airflow Variable ``langdock_usage_bucket`` (default
``langdock-usage``), read when a task runs.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.retry_policy import langdock_retry_policy_args
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

DATA_TYPES = ("users", "agents", "projects", "models", "api_keys")
BUCKET = "{{ var.value.get('langdock_usage_bucket', 'langdock-usage') }}"
DAY = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="langdock_usage_daily_deferrable",
    description="Yesterday's Langdock usage into S3, waiting in the triggerer",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        # Airflow 3.3+: fail at once on a bad API key or request, wait out a 429's Retry-After.
        **langdock_retry_policy_args(),
    },
    tags=["langdock", "usage", "s3", "deferrable"],
):
    # --8<-- [start:tasks]
    wait_for_usage = LangdockUsageExportSensor(
        task_id="wait_for_usage",
        data_type="users",
        deferrable=True,
        # The triggerer checks every 15 minutes and gives up (a timeout event) 12 hours after deferring.
        poke_interval=timedelta(minutes=15),
        timeout=timedelta(hours=12),
    )
    for data_type in DATA_TYPES:
        wait_for_usage >> LangdockUsageExportOperator(
            task_id=f"export_{data_type}",
            data_type=data_type,
            destination=f"s3://{BUCKET}/langdock/{data_type}/dt={DAY}/{data_type}.csv",
            skip_on_no_data=True,
            deferrable=True,
            # Rate limits and server errors are retried in the triggerer for up to 30 minutes...
            retry_window=timedelta(minutes=30),
            # ...and never past the deadline this sets, counted from the deferral. (Airflow 3 gives
            # the download on the worker afterwards a fresh execution_timeout; Airflow 2.11 counts
            # that from the deferral too.)
            execution_timeout=timedelta(hours=1),
        )
# --8<-- [end:tasks]
