"""Every DAG in docs/examples/dags runs against the simulator and moto's S3, and succeeds.

Not shown in the docs: this is how the repository checks the DAGs the guides include.
"""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from airflow import __version__ as airflow_version
from airflow.models import DagBag
from moto import mock_aws

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
RETRY_POLICIES = tuple(int(part) for part in airflow_version.split(".")[:2]) >= (3, 3)
# The files in docs/examples/dags (tests/test_docs.py checks this list against the folder).
DAG_FILES = {
    "langdock_assets.py",
    "langdock_operator_options.py",
    "langdock_quickstart.py",
    "langdock_retry_policy.py",
}
# Scheduled on an asset, not on time: checked by what the producer does, not run on its own.
ASSET_CONSUMERS = {"load_users"}


def dag_bag() -> DagBag:
    bag = DagBag()
    errors = {path.rsplit("/", 1)[-1]: str(error) for path, error in bag.import_errors.items()}
    if not RETRY_POLICIES:  # langdock_retry_policy() says which Airflow it needs
        assert "Airflow 3.3" in errors.pop("langdock_retry_policy.py")
    assert errors == {}
    return bag


@pytest.mark.langdock_simulator(extra={"max_retry_wait": 0, "pseudonymization_key": "k" * 32})
@mock_aws
def test_every_dag_runs(langdock_simulator):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    bag = dag_bag()
    expected = {"langdock_usage", "langdock_hook_params", "langdock_deferrable", "langdock_personal_data"}
    expected |= {"langdock_users", "load_users"} | ({"langdock_retry_policy"} if RETRY_POLICIES else set())
    assert set(bag.dag_ids) == expected
    files = {dag.fileloc.rsplit("/", 1)[-1] for dag in bag.dags.values()}
    assert files == (DAG_FILES if RETRY_POLICIES else DAG_FILES - {"langdock_retry_policy.py"})
    for dag_id in sorted(expected - ASSET_CONSUMERS):
        dag_run = bag.get_dag(dag_id).test(logical_date=TODAY)
        states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
        assert set(states.values()) == {"success"}, (dag_id, states)
    yesterday = f"{TODAY - timedelta(days=1):%Y-%m-%d}"
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="lake")["Contents"]}
    assert f"langdock/users/dt={yesterday}/users.csv" in keys  # deferrable, personal data, assets
    assert f"langdock/users/{yesterday}.csv" in keys  # the quickstart and the retry policy


@pytest.mark.langdock_simulator(row_count=5, extra={"max_retry_wait": 0, "pseudonymization_key": "k" * 32})
@mock_aws
def test_pseudonymized_export_has_no_email_address(langdock_simulator):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    dag_run = dag_bag().get_dag("langdock_personal_data").test(logical_date=TODAY)
    assert str(dag_run.state) == "success"
    key = f"langdock/users/dt={TODAY - timedelta(days=1):%Y-%m-%d}/users.csv"
    body = s3.get_object(Bucket="lake", Key=key)["Body"].read().decode()
    assert len(body.splitlines()) == 6
    assert "email" in body.splitlines()[0]
    assert "@" not in body


def test_the_asset_consumer_is_scheduled_on_the_producers_asset():
    bag = dag_bag()
    producer = bag.get_dag("langdock_users").get_task("export_users")
    uris = {getattr(outlet, "uri", None) for outlet in producer.outlets}
    assert "s3://lake/langdock/users" in uris
    consumer = bag.get_dag("load_users")
    assert [asset.uri for asset in consumer.timetable.asset_condition.objects] == ["s3://lake/langdock/users"]
