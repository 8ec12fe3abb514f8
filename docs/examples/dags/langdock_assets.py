"""Asset events: a producer and a consumer of the users export (docs/examples/tests/ runs the producer)."""

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Asset, AssetAlias, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

# --8<-- [start:assets]
usage_users = Asset("s3://lake/langdock/users")

with DAG(
    "langdock_users",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
):
    LangdockUsageExportOperator(
        task_id="export_users",
        data_type="users",
        destination="s3://lake/langdock/users/dt={{ data_interval_start | ds }}/users.csv",
        outlets=[usage_users, AssetAlias("langdock-usage-files")],
    )

with DAG("load_users", schedule=[usage_users], start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def load(*, triggering_asset_events=None):
        event = triggering_asset_events[usage_users][-1]
        print(event.extra["record_count"], event.extra["date_from"], event.extra["destination"])

    load()
# --8<-- [end:assets]
