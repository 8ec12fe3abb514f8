"""Monthly: last month's model usage by source and user usage by model, as CSV in Google Cloud Storage.

Connections: ``langdock_default`` and ``google_cloud_default``. The bucket comes from the Airflow
Variable ``langdock_usage_gcs_bucket`` (default ``langdock-usage``), read when a task runs.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.retry_policy import langdock_retry_policy_args

BUCKET = "{{ var.value.get('langdock_usage_gcs_bucket', 'langdock-usage') }}"
MONTH = "{{ data_interval_start.in_timezone('Europe/Berlin').strftime('%Y-%m') }}"

with DAG(
    dag_id="langdock_usage_monthly_to_gcs",
    description="Last month's Langdock usage for cost reports, into GCS",
    # Runs cover whole calendar months in Berlin time, one day after the month ends.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="Europe/Berlin"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Berlin"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=10),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=2),
        # Airflow 3.3+: fail at once on a bad API key or request, wait out a 429's Retry-After.
        **langdock_retry_policy_args(),
    },
    tags=["langdock", "usage", "gcs"],
):
    LangdockUsageExportOperator(
        task_id="export_models_by_source",
        data_type="models",
        group_by="source",
        timezone="Europe/Berlin",
        destination=f"gs://{BUCKET}/langdock/models_by_source/month={MONTH}/models.csv",
    )
    LangdockUsageExportOperator(
        task_id="export_users_by_model",
        data_type="users",
        group_by="model",
        timezone="Europe/Berlin",
        destination=f"gs://{BUCKET}/langdock/users_by_model/month={MONTH}/users.csv",
    )
