"""A DAG that the extra-link tests run with ``dag.test()``.

``to_file`` exports to a local file below the Airflow Variable ``langdock_link_test_dir``
(``AIRFLOW_VAR_LANGDOCK_LINK_TEST_DIR`` in the test environment), ``metadata_only`` has no
destination. The final task reads every extra link of both back with ``get_link(operator, ti_key=...)``
inside the run, where XCom is reachable on Airflow 2 and 3 alike, and records the URLs, the download
URLs, the destinations and the run id into ``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, TaskInstanceKey, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

EXPORT_TASKS = ("to_file", "metadata_only")


@task(trigger_rule="all_done")
def read_links(**context: Any) -> None:
    """Call each export task's links as the UI would, and record what they return."""
    ti, dag = context["ti"], context["dag"]
    recorded: dict[str, Any] = {"run_id": ti.run_id}
    for task_id in EXPORT_TASKS:
        operator = dag.get_task(task_id)
        key = TaskInstanceKey(dag_id=ti.dag_id, task_id=task_id, run_id=ti.run_id, map_index=-1)
        recorded[task_id] = {
            "links": {
                link.name: link.get_link(operator, ti_key=key) for link in operator.operator_extra_links
            },
            "download_url": ti.xcom_pull(task_ids=task_id, key="download_url"),
            "destination": (ti.xcom_pull(task_ids=task_id) or {}).get("destination"),
        }
    path = Path(os.environ["LANGDOCK_TEST_RECORD_DIR"]) / f"{ti.dag_id}.json"
    path.write_text(json.dumps(recorded))


with DAG(
    "langdock_test_links",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as links_dag:
    to_file = LangdockUsageExportOperator(
        task_id="to_file",
        data_type="users",
        destination="{{ var.value.langdock_link_test_dir }}/users/{{ ds_nodash }}/users.csv",
    )
    metadata_only = LangdockUsageExportOperator(task_id="metadata_only", data_type="projects")
    [to_file, metadata_only] >> read_links()
