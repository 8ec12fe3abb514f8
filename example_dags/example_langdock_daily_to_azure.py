"""Daily: wait until Langdock has yesterday's usage, then land each data type as CSV in Azure Blob Storage.

Needs the ``azure`` extra: ``pip install "airflow-provider-langdock[azure]"``. Connections:
``langdock_default`` (API key, base URL) and ``wasb_default`` (a Microsoft Azure Blob Storage
connection: the storage account with a key, a SAS token, a service principal or a connection string).
The container comes from the Airflow Variable ``langdock_usage_container`` (default
``langdock-usage``), read when a task runs.

The short form ``wasb://<container>/<blob path>`` takes the storage account from the connection. The
form copied from the Azure portal names the account, which must then be the connection's, e.g.
``wasbs://langdock-usage@<account>.blob.core.windows.net/langdock/users/dt=2026-01-01/users.csv``
(``abfss://<container>@<account>.dfs.core.windows.net/<path>`` for ADLS Gen2 works the same way).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.retry_policy import langdock_retry_policy_args
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

# assistants is the older name of agents, and workflows only has data where workflows are enabled.
DATA_TYPES = ("users", "agents", "projects", "models", "api_keys")
CONTAINER = "{{ var.value.get('langdock_usage_container', 'langdock-usage') }}"
DAY = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="langdock_usage_daily_to_azure",
    description="Yesterday's Langdock usage, one CSV per data type, into Azure Blob Storage",
    # Runs cover whole UTC days: [midnight, next midnight).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=1),
        # Airflow 3.3+: fail at once on a bad API key or request, wait out a 429's Retry-After.
        **langdock_retry_policy_args(),
    },
    tags=["langdock", "usage", "azure"],
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
            destination=f"wasb://{CONTAINER}/langdock/{data_type}/dt={DAY}/{data_type}.csv",
            destination_conn_id="wasb_default",
            # A data type can have no rows on a quiet day; that is not a failure.
            skip_on_no_data=True,
        )
