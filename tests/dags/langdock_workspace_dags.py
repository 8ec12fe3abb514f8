"""DAGs for the many-workspaces tests: the cross product workspaces x data types with dynamic task mapping.

Built like ``example_dags/example_langdock_workspaces.py``: one task group per workspace, made in a loop
at parse time, each with its own pool (``langdock_<workspace>``) and connection (``langdock_<workspace>``);
inside it the sensor and the export are mapped over the data types. A second DAG maps the whole cross
product in one task (``.expand(langdock_conn_id=[...], data_type=[...])``, one shared pool), each
instance announcing its file through an asset alias.

As in ``langdock_test_dags.py``, the destination prefix comes from the Airflow Variable
``langdock_test_prefix``, and a final task records what every mapped instance pushed into
``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, AssetAlias, TaskGroup, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

SCHEDULE = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
START = pendulum.datetime(2026, 1, 1, tz="UTC")
WORKSPACES = ("ws_a", "ws_b")
# Mapped with expand_kwargs: a group_by where it makes sense, none for projects.
EXPORTS = (
    {"data_type": "users", "group_by": "model"},
    {"data_type": "models", "group_by": "source"},
    {"data_type": "projects"},
)
DATA_TYPES = [export["data_type"] for export in EXPORTS]
DAY = "{{ data_interval_start | ds }}"
# The mapped arguments are the rendering task's attributes: {{ task.data_type }}, {{ task.langdock_conn_id }}.
DESTINATION = (
    "{{ var.value.langdock_test_prefix }}/{{ task.langdock_conn_id }}/{{ task.data_type }}"
    f"/dt={DAY}/{{{{ task.data_type }}}}.csv"
)


def conn_id(workspace: str) -> str:
    return f"langdock_{workspace}"


def pool(workspace: str) -> str:
    return f"langdock_{workspace}"


@task(trigger_rule="all_done")
def record(mapped: dict[str, int], **context: Any) -> None:
    """Write what every mapped instance of the upstream Langdock tasks pushed, for the test to read."""
    ti = context["ti"]
    pushed: dict[str, Any] = {
        task_id: [
            {
                "return_value": ti.xcom_pull(task_ids=task_id, map_indexes=index),
                "download_url": ti.xcom_pull(task_ids=task_id, key="download_url", map_indexes=index),
            }
            for index in range(count)
        ]
        for task_id, count in mapped.items()
    }
    pushed["data_interval"] = [
        context["data_interval_start"].isoformat(),
        context["data_interval_end"].isoformat(),
    ]
    path = Path(os.environ["LANGDOCK_TEST_RECORD_DIR"]) / f"{ti.dag_id}.json"
    path.write_text(json.dumps(pushed))


with DAG(
    "langdock_test_workspaces", schedule=SCHEDULE, start_date=START, catchup=False
) as workspaces_with_pools:
    mapped: dict[str, int] = {}
    groups = []
    for workspace in WORKSPACES:
        with TaskGroup(group_id=workspace) as group:
            wait = LangdockUsageExportSensor.partial(
                task_id="wait",
                langdock_conn_id=conn_id(workspace),
                pool=pool(workspace),
                poke_interval=1,
                timeout=60,
                map_index_template="{{ task.data_type }}",
            ).expand(data_type=DATA_TYPES)
            export = LangdockUsageExportOperator.partial(
                task_id="export",
                langdock_conn_id=conn_id(workspace),
                pool=pool(workspace),
                destination=DESTINATION,
                map_index_template="{{ task.data_type }}",
            ).expand_kwargs(list(EXPORTS))
            wait >> export
        groups.append(group)
        mapped[f"{workspace}.wait"] = mapped[f"{workspace}.export"] = len(EXPORTS)
    groups >> record(mapped)

with DAG(
    "langdock_test_workspaces_cross", schedule=SCHEDULE, start_date=START, catchup=False
) as workspaces_cross_product:
    conn_ids = [conn_id(workspace) for workspace in WORKSPACES]
    wait = LangdockUsageExportSensor.partial(
        task_id="wait", pool="langdock_shared", poke_interval=1, timeout=60
    ).expand(langdock_conn_id=conn_ids, data_type=DATA_TYPES)
    export = LangdockUsageExportOperator.partial(
        task_id="export",
        pool="langdock_shared",
        destination=DESTINATION,
        outlets=[AssetAlias("langdock-test-workspace-files")],
    ).expand(langdock_conn_id=conn_ids, data_type=DATA_TYPES)
    count = len(conn_ids) * len(DATA_TYPES)
    wait >> export >> record({"wait": count, "export": count})
