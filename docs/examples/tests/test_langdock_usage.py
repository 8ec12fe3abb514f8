"""A user's test of their Langdock DAG (dags/langdock_quickstart.py): the simulator and moto's S3."""

# --8<-- [start:test]
from datetime import UTC, datetime, timedelta

import boto3
from airflow.models import DagBag
from moto import mock_aws


@mock_aws
def test_users_land_in_s3_despite_two_server_errors(langdock_simulator):
    langdock_simulator.inject(503, count=2)  # the hook retries, the task still succeeds
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    dag_run = DagBag().get_dag("langdock_usage").test(logical_date=today)  # covers yesterday
    assert dag_run.state == "success"
    yesterday = today - timedelta(days=1)
    landed = s3.get_object(Bucket="lake", Key=f"langdock/users/{yesterday:%Y-%m-%d}.csv")["Body"].read()
    assert landed == langdock_simulator.csv_bytes("users", yesterday, today)  # every row, byte for byte
    assert len(langdock_simulator.requests) == 4  # two 503s, the export, the download


# --8<-- [end:test]
