"""The six-line DAG of the README and the getting-started page; docs/examples/tests/ runs it."""

# --8<-- [start:dag]
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

daily = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")  # each run covers one whole day
with DAG("langdock_usage", schedule=daily, start_date=datetime(2026, 1, 1), catchup=False):
    LangdockUsageExportOperator(
        task_id="export_users",
        data_type="users",
        destination="s3://lake/langdock/users/{{ data_interval_start | ds }}.csv",
    )
# --8<-- [end:dag]
