"""DAGs that the provider's tests run with ``dag.test()``.

Settings come from Airflow Variables (``AIRFLOW_VAR_*`` in the test environment) and run conf, so the
templates are rendered by Airflow as in production. A final task records what the Langdock tasks
pushed to XCom into ``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

SCHEDULE = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
START = pendulum.datetime(2026, 1, 1, tz="UTC")
DESTINATION = (
    "{{ var.value.langdock_test_prefix }}/{{ params.data_type }}"
    "/dt={{ data_interval_start | ds }}/{{ params.data_type }}.csv"
)


@task(trigger_rule="all_done")
def record(**context: Any) -> None:
    """Write what the upstream Langdock tasks pushed, for the test to read."""
    ti = context["ti"]
    pushed = {
        task_id: {
            "return_value": ti.xcom_pull(task_ids=task_id),
            "download_url": ti.xcom_pull(task_ids=task_id, key="download_url"),
        }
        for task_id in ("wait", "export")
    }
    pushed["data_interval"] = [
        context["data_interval_start"].isoformat(),
        context["data_interval_end"].isoformat(),
    ]
    path = Path(os.environ["LANGDOCK_TEST_RECORD_DIR"]) / f"{ti.dag_id}.json"
    path.write_text(json.dumps(pushed))


def export_dag(dag_id: str, *, replace: bool = True, with_sensor: bool = False) -> DAG:
    with DAG(
        dag_id, schedule=SCHEDULE, start_date=START, catchup=False, params={"data_type": "users"}
    ) as dag:
        export = LangdockUsageExportOperator(
            task_id="export",
            data_type="{{ params.data_type }}",
            destination=DESTINATION,
            replace=replace,
        )
        if with_sensor:
            (
                LangdockUsageExportSensor(task_id="wait", data_type="{{ params.data_type }}", poke_interval=1)
                >> export
            )
        export >> record()
    return dag


def sensor_dag(dag_id: str, **sensor_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=SCHEDULE, start_date=START, catchup=False) as dag:
        LangdockUsageExportSensor(task_id="wait", data_type="users", **sensor_kwargs) >> record()
    return dag


export_to_destination = export_dag("langdock_test_export")
export_without_replace = export_dag("langdock_test_export_no_replace", replace=False)
wait_then_export = export_dag("langdock_test_wait_then_export", with_sensor=True)

with DAG("langdock_test_export_only", schedule=SCHEDULE, start_date=START, catchup=False) as export_only:
    LangdockUsageExportOperator(task_id="export", data_type="projects") >> record()

sensor_poke = sensor_dag("langdock_test_sensor_poke", poke_interval=1, timeout=60)
sensor_reschedule = sensor_dag(
    "langdock_test_sensor_reschedule", mode="reschedule", poke_interval=1, timeout=60
)
sensor_soft_fail = sensor_dag("langdock_test_sensor_soft_fail", poke_interval=1, timeout=3, soft_fail=True)
