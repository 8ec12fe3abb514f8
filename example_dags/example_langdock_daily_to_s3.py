"""Daily: wait until Langdock has yesterday's usage, then land each data type as CSV in S3.

Connections: ``langdock_default`` (API key, base URL) and ``aws_default``. The bucket comes from the
Airflow Variable ``langdock_usage_bucket`` (default ``langdock-usage``), read when a task runs.
"""

from __future__ import annotations

# --8<-- [start:dag]
from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.retry_policy import langdock_retry_policy_args
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

# assistants is the older name of agents, and workflows only has data where workflows are enabled.
DATA_TYPES = ("users", "agents", "projects", "models", "api_keys")
BUCKET = "{{ var.value.get('langdock_usage_bucket', 'langdock-usage') }}"
DAY = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="langdock_usage_daily_to_s3",
    description="Yesterday's Langdock usage, one CSV per data type, into S3",
    # Runs cover whole UTC days: [midnight, next midnight).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # --8<-- [start:default_args]
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=1),
        # Airflow 3.3+: fail at once on a bad API key or request, wait out a 429's Retry-After.
        **langdock_retry_policy_args(),
    },
    # --8<-- [end:default_args]
    tags=["langdock", "usage", "s3"],
):
    wait_for_usage = LangdockUsageExportSensor(
        task_id="wait_for_usage",
        data_type="users",
        mode="reschedule",
        poke_interval=timedelta(minutes=15),
        timeout=timedelta(hours=12),
        execution_timeout=None,
    )
    for data_type in DATA_TYPES:
        wait_for_usage >> LangdockUsageExportOperator(
            task_id=f"export_{data_type}",
            data_type=data_type,
            destination=f"s3://{BUCKET}/langdock/{data_type}/dt={DAY}/{data_type}.csv",
            # A data type can have no rows on a quiet day; that is not a failure.
            skip_on_no_data=True,
        )
# --8<-- [end:dag]
