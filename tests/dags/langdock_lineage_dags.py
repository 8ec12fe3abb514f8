"""The DAG that ``tests/test_lineage.py`` runs with OpenLineage's file transport, in a subprocess.

One export per destination kind and mode, after a plain task that lands an export with the hook and
``land_plan`` (its lineage comes from the hook lineage collector). Settings come from Airflow
Variables (``AIRFLOW_VAR_*``): ``langdock_lineage_dir`` (an absolute local folder),
``langdock_lineage_s3_bucket`` and ``langdock_lineage_gcs_bucket``. The Langdock connection is
``langdock_lineage``. A final task records the return values and the data interval into
``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
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

DAG_ID = "langdock_test_lineage"
CONN_ID = "langdock_lineage"
LOCAL = "{{ var.value.langdock_lineage_dir }}/{{ ti.task_id }}/dt={{ data_interval_start | ds }}/usage.csv"
#: task id -> (destination, group_by, deferrable)
EXPORTS: dict[str, tuple[str | None, str | None, bool]] = {
    "file_sync": (LOCAL, None, False),
    "file_deferrable": ("file://" + LOCAL, "model", True),
    "s3_deferrable": (
        "s3://{{ var.value.langdock_lineage_s3_bucket }}/lineage/{{ ds }}/users.csv",
        None,
        True,
    ),
    "gcs_sync": ("gs://{{ var.value.langdock_lineage_gcs_bucket }}/lineage/{{ ds }}/users.csv", None, False),
    "none_deferrable": (None, None, True),
}
HOOK_TASK = "land_with_hook"


@task(task_id=HOOK_TASK)
def land_with_hook(**context: Any) -> dict[str, Any]:
    """What a custom task does with the provider's building blocks: plan an export, land it."""
    from airflow_provider_langdock.api import ExportRequest
    from airflow_provider_langdock.destinations import destination_for
    from airflow_provider_langdock.hooks.langdock import LangdockHook
    from airflow_provider_langdock.transfer import land_plan

    folder = context["var"]["value"].langdock_lineage_dir
    request = ExportRequest.build(
        "users", context["data_interval_start"], context["data_interval_end"], group_by="model"
    )
    hook = LangdockHook(CONN_ID)
    try:
        plan = hook.plan_export(request)
        destination = destination_for(f"{folder}/{HOOK_TASK}/usage.csv")
        return land_plan(hook, plan, destination).to_dict()
    finally:
        hook.close()


@task(trigger_rule="all_done")
def record(**context: Any) -> None:
    """Write the return values of the export tasks, for the test to read."""
    ti = context["ti"]
    pushed: dict[str, Any] = {task_id: ti.xcom_pull(task_ids=task_id) for task_id in [*EXPORTS, HOOK_TASK]}
    pushed["data_interval"] = [
        context["data_interval_start"].isoformat(),
        context["data_interval_end"].isoformat(),
    ]
    path = Path(os.environ["LANGDOCK_TEST_RECORD_DIR"]) / f"{ti.dag_id}.json"
    path.write_text(json.dumps(pushed))


with DAG(
    DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as lineage_dag:
    exports = [
        LangdockUsageExportOperator(
            task_id=task_id,
            data_type="users",
            group_by=group_by,
            destination=destination,
            deferrable=deferrable,
            langdock_conn_id=CONN_ID,
        )
        for task_id, (destination, group_by, deferrable) in EXPORTS.items()
    ]
    # The plain task goes first: dag.test() runs every task in one process, whose hook lineage
    # collector would otherwise still hold what the exports before it reported.
    land_with_hook() >> exports >> record()
