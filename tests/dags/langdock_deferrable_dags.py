"""DAGs for the deferrable-mode tests, each also built with ``deferrable=False`` to compare the two modes.

``dag.test()`` runs a deferred task's trigger in-process, then resumes the task. As in
``langdock_test_dags.py``, settings come from Airflow Variables and a final task records what the
Langdock tasks pushed into ``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
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
    "{{ var.value.langdock_test_prefix }}/{{ dag.dag_id }}/{{ params.data_type }}"
    "/dt={{ data_interval_start | ds }}/{{ params.data_type }}.csv"
)
MODES = {"deferrable": True, "sync": False}


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


def wait_then_export(dag_id: str, *, deferrable: bool) -> DAG:
    """Sensor, then export to the destination: the pipeline whose output both modes must agree on."""
    with DAG(
        dag_id, schedule=SCHEDULE, start_date=START, catchup=False, params={"data_type": "users"}
    ) as dag:
        (
            LangdockUsageExportSensor(
                task_id="wait",
                data_type="{{ params.data_type }}",
                poke_interval=0.5,
                timeout=120,
                deferrable=deferrable,
            )
            >> LangdockUsageExportOperator(
                task_id="export",
                data_type="{{ params.data_type }}",
                destination=DESTINATION,
                deferrable=deferrable,
            )
            >> record()
        )
    return dag


def export_only(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(
        dag_id, schedule=SCHEDULE, start_date=START, catchup=False, params={"data_type": "users"}
    ) as dag:
        (
            LangdockUsageExportOperator(
                task_id="export",
                data_type="{{ params.data_type }}",
                destination=DESTINATION,
                **operator_kwargs,
            )
            >> record()
        )
    return dag


def sensor_only(dag_id: str, **sensor_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=SCHEDULE, start_date=START, catchup=False) as dag:
        LangdockUsageExportSensor(task_id="wait", data_type="users", **sensor_kwargs) >> record()
    return dag


for mode, deferrable in MODES.items():
    globals()[f"{mode}_wait_then_export"] = wait_then_export(
        f"langdock_{mode}_wait_then_export", deferrable=deferrable
    )
    globals()[f"{mode}_skip_on_no_data"] = export_only(
        f"langdock_{mode}_skip_on_no_data", deferrable=deferrable, skip_on_no_data=True
    )
    globals()[f"{mode}_fail_on_no_data"] = export_only(
        f"langdock_{mode}_fail_on_no_data", deferrable=deferrable
    )

deferrable_export = export_only("langdock_deferrable_export", deferrable=True)
deferrable_export_no_replace = export_only(
    "langdock_deferrable_export_no_replace", deferrable=True, replace=False
)
deferrable_export_timeout = export_only(
    "langdock_deferrable_export_timeout", deferrable=True, execution_timeout=timedelta(seconds=2)
)
deferrable_sensor_soft_fail = sensor_only(
    "langdock_deferrable_sensor_soft_fail", deferrable=True, poke_interval=0.5, timeout=2, soft_fail=True
)
