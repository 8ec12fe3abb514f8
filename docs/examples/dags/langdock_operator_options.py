"""The operator options shown in the guides, each in a DAG that docs/examples/tests/ runs."""

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

daily = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")

with DAG("langdock_hook_params", schedule=daily, start_date=datetime(2026, 1, 1), catchup=False):
    # --8<-- [start:hook_params]
    LangdockUsageExportOperator(
        task_id="export_users",
        data_type="users",
        destination="s3://lake/langdock/users/{{ data_interval_start | ds }}/users.csv",
        hook_params={"timeout": 300, "download_connections": 4},  # this big export only
    )
    # --8<-- [end:hook_params]
    # --8<-- [start:sensor_hook_params]
    LangdockUsageExportSensor(
        task_id="wait_for_usage",
        data_type="users",
        hook_params={"max_attempts": 1},  # each check asks once: a 503 counts as "not yet"
    )
    # --8<-- [end:sensor_hook_params]

with DAG("langdock_deferrable", schedule=daily, start_date=datetime(2026, 1, 1), catchup=False):
    # --8<-- [start:deferrable]
    wait = LangdockUsageExportSensor(task_id="wait_for_usage", data_type="users", deferrable=True)
    export = LangdockUsageExportOperator(
        task_id="export_users",
        data_type="users",
        destination="s3://lake/langdock/users/dt={{ data_interval_start | ds }}/users.csv",
        deferrable=True,
    )
    wait >> export
    # --8<-- [end:deferrable]

with DAG("langdock_personal_data", schedule=daily, start_date=datetime(2026, 1, 1), catchup=False):
    # --8<-- [start:personal_data]
    LangdockUsageExportOperator(
        task_id="export_users",
        data_type="users",
        destination="s3://lake/langdock/users/dt={{ data_interval_start | ds }}/users.csv",
        personal_data="pseudonymize",  # or "drop"; the default "keep" lands Langdock's file byte for byte
    )
    # --8<-- [end:personal_data]
