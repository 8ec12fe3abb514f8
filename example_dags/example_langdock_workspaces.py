"""Daily, many workspaces: every data type of several Langdock workspaces into S3, one pool per workspace.

Each Langdock workspace has its own API key (so its own ``langdock`` connection) and its own rate limit
of 500 requests a minute. This DAG exports the cross product workspaces x data types with dynamic task
mapping and puts each workspace's tasks in a pool of their own: the pool caps how many of them run at
once, so the workspace's requests stay under its limit, and a workspace whose tasks are waiting out
rate limits holds only its own slots, never another workspace's.

The pattern: a loop over ``WORKSPACES`` at parse time makes one task group per workspace; in it, one
mapped task per workspace, ``LangdockUsageExportOperator.partial(pool=..., langdock_conn_id=...)
.expand_kwargs(EXPORTS)``, maps over the data types. The loop is needed because a pool cannot be mapped:
the scheduler takes a mapped task's pool from ``partial()``, the same for every instance (Airflow 2.11
refuses ``.expand(pool=[...])``; Airflow 3 accepts it and still puts every instance in the partial's
pool). Workspaces that may share one pool can map the whole cross product in one task instead::

    LangdockUsageExportOperator.partial(task_id="export", pool="langdock", destination=...).expand(
        langdock_conn_id=["langdock_marketing", "langdock_engineering"], data_type=["users", "models"]
    )

A mapped argument is an attribute of the task that renders the templates: ``{{ task.data_type }}``
(and, with mapped connections, ``{{ task.langdock_conn_id }}``) work in ``destination``.

Set-up, per workspace ``<name>`` in ``WORKSPACES``:

- a ``langdock`` connection ``langdock_<name>`` with that workspace's API key;
- a pool ``langdock_<name>``: ``airflow pools set langdock_<name> 4 "Langdock <name>" --include-deferred``
  (or ``airflow pools import`` of a JSON file). A task in a pool that does not exist is never
  scheduled. Each task has one export request in flight at a time, so 4 slots mean at most 4 of the
  workspace's requests at once; ``--include-deferred`` keeps the slot of a deferred task too, should you
  set ``deferrable=True``.

The bucket comes from the Airflow Variable ``langdock_usage_bucket`` (default ``langdock-usage``), read
when a task runs. Objects land at ``s3://<bucket>/langdock/<workspace>/<data type>/dt=<day>/<data type>.csv``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, TaskGroup
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.retry_policy import langdock_retry_policy_args
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor

# One connection and one pool per workspace, both named langdock_<workspace>.
WORKSPACES = ("marketing", "engineering", "sales")
# Every data type, grouped where a report needs it (assistants is the older name of agents). Workflows
# only have data where workflows are enabled: skip_on_no_data skips that instance elsewhere.
EXPORTS = [
    {"data_type": "users", "group_by": "model"},
    {"data_type": "agents", "group_by": "model"},
    {"data_type": "projects"},
    {"data_type": "models", "group_by": "source"},
    {"data_type": "api_keys", "group_by": "model"},
    {"data_type": "workflows"},
]
BUCKET = "{{ var.value.get('langdock_usage_bucket', 'langdock-usage') }}"
DAY = "{{ data_interval_start | ds }}"
DATA_TYPE = "{{ task.data_type }}"  # the mapped instance's own data type

with DAG(
    dag_id="langdock_usage_workspaces_to_s3",
    description="Yesterday's Langdock usage of every workspace, one CSV per workspace and data type, into S3",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=1),
        # Airflow 3.3+: fail at once on a bad API key or request, wait out a 429's Retry-After.
        **langdock_retry_policy_args(),
    },
    tags=["langdock", "usage", "s3", "workspaces"],
):
    # --8<-- [start:workspaces]
    for workspace in WORKSPACES:
        with TaskGroup(group_id=workspace):
            wait_for_usage = LangdockUsageExportSensor(
                task_id="wait_for_usage",
                data_type="users",
                langdock_conn_id=f"langdock_{workspace}",
                pool=f"langdock_{workspace}",
                mode="reschedule",  # gives the pool slot back between checks
                poke_interval=timedelta(minutes=15),
                timeout=timedelta(hours=12),
                execution_timeout=None,
            )
            export = LangdockUsageExportOperator.partial(
                task_id="export",
                langdock_conn_id=f"langdock_{workspace}",
                pool=f"langdock_{workspace}",
                destination=f"s3://{BUCKET}/langdock/{workspace}/{DATA_TYPE}/dt={DAY}/{DATA_TYPE}.csv",
                skip_on_no_data=True,
                map_index_template=DATA_TYPE,  # the UI lists the instances by data type
            ).expand_kwargs(EXPORTS)
            wait_for_usage >> export
# --8<-- [end:workspaces]
