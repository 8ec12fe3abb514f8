"""A DAG exporting an explicit range (from run conf) to a destination, for the large-export tests.

The destination prefix comes from the Airflow Variable ``langdock_test_prefix``; a final task writes
what the export pushed to XCom into ``$LANGDOCK_TEST_RECORD_DIR/<dag_id>.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator


@task(trigger_rule="all_done")
def record_export(**context: Any) -> None:
    """Write the export's XComs for the test to read."""
    ti = context["ti"]
    pushed = {
        "return_value": ti.xcom_pull(task_ids="export"),
        "download_url": ti.xcom_pull(task_ids="export", key="download_url"),
    }
    path = Path(os.environ["LANGDOCK_TEST_RECORD_DIR"]) / f"{ti.dag_id}.json"
    path.write_text(json.dumps(pushed))


DESTINATION = "{{ var.value.langdock_test_prefix }}/{{ dag.dag_id }}/{{ params.data_type }}.csv"


def large_export_dag(dag_id: str, *, deferrable: bool) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={"data_type": "users", "group_by": "", "date_from": "", "date_to": ""},
    ) as dag:
        (
            LangdockUsageExportOperator(
                task_id="export",
                data_type="{{ params.data_type }}",
                group_by="{{ params.group_by }}",
                date_from="{{ params.date_from }}",
                date_to="{{ params.date_to }}",
                destination=DESTINATION,
                deferrable=deferrable,
            )
            >> record_export()
        )
    return dag


large_export = large_export_dag("langdock_test_large_export", deferrable=False)
large_export_deferrable = large_export_dag("langdock_test_large_export_deferrable", deferrable=True)
