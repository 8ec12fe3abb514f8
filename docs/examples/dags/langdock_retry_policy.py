"""The task retry policy (Airflow 3.3+; on older Airflow this file fails to import, as documented)."""

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

daily = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")

with DAG("langdock_retry_policy", schedule=daily, start_date=datetime(2026, 1, 1), catchup=False):
    # --8<-- [start:retry_policy]
    from datetime import timedelta

    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
    from airflow_provider_langdock.retry_policy import langdock_retry_policy

    LangdockUsageExportOperator(
        task_id="export_users",
        data_type="users",
        destination="s3://lake/langdock/users/{{ data_interval_start | ds }}.csv",
        retries=3,
        retry_delay=timedelta(minutes=5),
        retry_policy=langdock_retry_policy(max_retry_delay=timedelta(minutes=30)),
    )
    # --8<-- [end:retry_policy]
