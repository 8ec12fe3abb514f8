"""The hook examples of the guides, run against the simulator (and moto's S3)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
END = START + timedelta(days=1)


def test_using_the_hook(langdock_simulator):
    start, end = START, END
    # --8<-- [start:hook]
    from airflow_provider_langdock.hooks.langdock import LangdockHook

    hook = LangdockHook()  # the langdock_default connection
    result = hook.export_usage("models", start, end, timezone="Europe/Berlin", group_by="source")
    print(result.record_count, result.file_path, result.date_range)
    csv = b"".join(hook.iter_download(result.download_url))  # streamed, 1 MiB at a time
    rows = hook.export_usage_records("projects", start, end).records  # the /json route
    ok, message = hook.test_connection()
    # --8<-- [end:hook]
    assert csv == langdock_simulator.csv_bytes("models", start, end, group_by="source")
    assert result.record_count == len(rows) == langdock_simulator.row_count
    assert ok, message
    assert "source" in langdock_simulator.requests[0].json.values()


@pytest.mark.langdock_simulator(rows_per_day=3500, row_cap=100_000)
@mock_aws
def test_landing_a_large_export_from_the_hook(langdock_simulator):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="lake")
    quarter_start, quarter_end = START - timedelta(days=61), END
    # --8<-- [start:land_plan]
    from airflow_provider_langdock.api import ExportRequest
    from airflow_provider_langdock.destinations import destination_for
    from airflow_provider_langdock.hooks.langdock import LangdockHook
    from airflow_provider_langdock.transfer import land_plan

    hook = LangdockHook()
    request = ExportRequest.build("users", quarter_start, quarter_end, "Europe/Berlin", group_by="model")
    plan = hook.plan_export(request)  # split as needed: plan.parts, plan.record_count
    landing = land_plan(hook, plan, destination_for("s3://lake/langdock/users/q3.csv"))
    metadata = landing.to_dict()  # the operator's XCom metadata
    # --8<-- [end:land_plan]
    assert len(plan.parts) > 1  # 62 days of 3,500 rows: above the 100,000-row cap
    assert metadata["record_count"] == plan.record_count == 62 * 3500
    assert metadata["download_url"] is None
    body = boto3.client("s3", region_name="us-east-1").get_object(Bucket="lake", Key="langdock/users/q3.csv")
    assert sum(1 for _ in csv.reader(io.StringIO(body["Body"].read().decode()))) == 1 + 62 * 3500
