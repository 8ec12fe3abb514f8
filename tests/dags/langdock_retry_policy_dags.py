"""DAGs for tests/test_retry_policy.py: one export task with ``retries=3``, with and without the policy.

The policy waits at most 1 s (a ``Retry-After`` is capped there) and retries an error without one at
once, so the runs are quick. On Airflow before 3.3 the policy is left out and the tests skip.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.retry_policy import langdock_retry_policy_args

SCHEDULE = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
START = pendulum.datetime(2026, 1, 1, tz="UTC")
RETRIES = {"retries": 3, "retry_delay": timedelta(0)}

with DAG("langdock_test_retry_policy", schedule=SCHEDULE, start_date=START, catchup=False):
    LangdockUsageExportOperator(
        task_id="export",
        data_type="users",
        **RETRIES,
        **langdock_retry_policy_args(retry_delay=0, max_retry_delay=1),
    )

with DAG("langdock_test_no_retry_policy", schedule=SCHEDULE, start_date=START, catchup=False):
    LangdockUsageExportOperator(task_id="export", data_type="users", **RETRIES)
