"""Extra links: the URL rules, XCom persistence in real DAG runs, serialization and registration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers_manager import ProvidersManager

from airflow_provider_langdock.destinations import destination_for
from airflow_provider_langdock.destinations.s3 import S3Destination
from airflow_provider_langdock.get_provider_info import get_provider_info
from airflow_provider_langdock.links import (
    LangdockAnalyticsLink,
    LangdockDestinationLink,
    analytics_url,
    destination_console_url,
)
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.testing import LangdockSimulator

from .conftest import TESTS_DIR, DagRunner, load_dagbag, set_langdock_default

DAG_ID = "langdock_test_links"
EXPORT_TASKS = ("to_file", "metadata_only")
LINK_NAMES = {LangdockDestinationLink.name, LangdockAnalyticsLink.name}
LINK_CLASSES = [
    "airflow_provider_langdock.links.LangdockDestinationLink",
    "airflow_provider_langdock.links.LangdockAnalyticsLink",
]

# -- URL rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        (
            "s3://usage-lake/langdock/dt=2026-01-01/users.csv",
            "https://console.aws.amazon.com/s3/object/usage-lake?region=eu-west-3&prefix=langdock/dt%3D2026-01-01/users.csv",
        ),
        (
            "S3://usage-lake/a file #1.csv",
            "https://console.aws.amazon.com/s3/object/usage-lake?region=eu-west-3&prefix=a%20file%20%231.csv",
        ),
        (
            "gs://usage-lake/langdock/dt=2026-01-01/users.csv",
            "https://console.cloud.google.com/storage/browser/_details/usage-lake/langdock/dt%3D2026-01-01/users.csv",
        ),
        (
            "gs://usage-lake/a file #1.csv",
            "https://console.cloud.google.com/storage/browser/_details/usage-lake/a%20file%20%231.csv",
        ),
        ("file:///data/langdock/users.csv", ""),
        ("/data/langdock/users.csv", ""),
        ("wasbs://usage@acct.blob.core.windows.net/users.csv", ""),  # the portal needs the resource id
        (None, ""),
        # never a link to an HTTP(S) URL, such as the export's signed download URL
        ("https://files.langdock.com/exports/users.csv?X-Amz-Signature=abc", ""),
    ],
)
def test_destination_link_per_kind(
    destination: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URI string is read with its default connection: here, for S3, the region of the environment."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    assert destination_console_url(destination) == expected


def test_destination_link_from_destination_objects(tmp_path: Path) -> None:
    gcs = destination_for("gs://usage-lake/users.csv")
    assert destination_console_url(gcs) == (
        "https://console.cloud.google.com/storage/browser/_details/usage-lake/users.csv"
    )
    assert destination_console_url(destination_for(f"file://{tmp_path}/users.csv")) == ""
    assert destination_console_url(destination_for(f"{tmp_path}/users.csv")) == ""


def _s3_with_connection(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> S3Destination:
    """An S3 destination whose connection ``aws_links`` has ``extra``; nothing is sent anywhere."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LINKS", json.dumps(connection))
    return S3Destination("usage-lake", "langdock/users.csv", conn_id="aws_links")


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (
            "eu-central-1",
            "https://console.aws.amazon.com/s3/object/usage-lake?region=eu-central-1&prefix=langdock/users.csv",
        ),
        (
            "cn-north-1",
            "https://console.amazonaws.cn/s3/object/usage-lake?region=cn-north-1&prefix=langdock/users.csv",
        ),
    ],
)
def test_s3_link_takes_region_and_partition_from_the_connection(
    monkeypatch: pytest.MonkeyPatch, region: str, expected: str
) -> None:
    destination = _s3_with_connection(monkeypatch, region_name=region)
    assert destination_console_url(destination) == expected


def test_s3_compatible_store_gets_no_console_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``endpoint_url`` outside AWS (MinIO, moto...) is not in the AWS console."""
    destination = _s3_with_connection(monkeypatch, region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert destination_console_url(destination) == ""


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.langdock.com", "https://app.langdock.com/settings/workspace/analytics"),
        ("https://API.Langdock.com/", "https://app.langdock.com/settings/workspace/analytics"),
        ("https://api.odeus.ai", "https://app.odeus.ai/settings/workspace/analytics"),
        (
            "https://langdock.acme.example/api/public",
            "https://langdock.acme.example/settings/workspace/analytics",
        ),
        (
            "https://acme.example:8443/langdock/api/public/",
            "https://acme.example:8443/langdock/settings/workspace/analytics",
        ),
        (
            "https://user:secret@langdock.acme.example/api/public",
            "https://langdock.acme.example/settings/workspace/analytics",
        ),
        ("http://127.0.0.1:8080", ""),
        ("https://proxy.acme.example/langdock", ""),
        ("ftp://langdock.acme.example/api/public", ""),
        ("https://[::1/api/public", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_analytics_link_rule(base_url: str | None, expected: str) -> None:
    assert analytics_url(base_url) == expected


# -- registration -----------------------------------------------------------------------------------


def test_links_are_registered_with_the_provider() -> None:
    """Airflow 2 deserializes only registered link classes; Airflow 3 lists them in the providers view."""
    operator_links = [
        f"{type(link).__module__}.{type(link).__name__}"
        for link in LangdockUsageExportOperator.operator_extra_links
    ]
    assert operator_links == LINK_CLASSES
    assert get_provider_info()["extra-links"] == LINK_CLASSES
    assert set(LINK_CLASSES) <= set(ProvidersManager().extra_links_class_names)


# -- persisted through XCom, read back after the run ------------------------------------------------


def _round_trip(dag: Any) -> Any:
    """The DAG as the webserver (Airflow 2) or API server (Airflow 3) sees it: serialized and back."""
    from airflow.serialization import serialized_objects

    serializer = getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG
    return serializer.from_dict(json.loads(json.dumps(serializer.to_dict(dag))))


def test_serialized_dag_keeps_the_links(airflow_db: str) -> None:
    dag = load_dagbag(TESTS_DIR / "dags").get_dag(DAG_ID)
    serialized = _round_trip(dag)
    for task_id in EXPORT_TASKS:
        task = serialized.get_task(task_id)
        assert set(task.extra_links) == LINK_NAMES
        keys = {link.name: link.xcom_key for link in task.operator_extra_links}
        assert keys == {
            LangdockDestinationLink.name: LangdockDestinationLink.key,
            LangdockAnalyticsLink.name: LangdockAnalyticsLink.key,
        }


def _ui_links(dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
    """What the UI shows for the task instance: the serialized operator's links, read from the DB.

    Like Airflow 3's extra-links endpoint, an empty link is None (shown as unavailable).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    task = _round_trip(load_dagbag(TESTS_DIR / "dags").get_dag(dag_id)).get_task(task_id)
    with create_session() as session:
        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
            )
        )
        assert ti is not None
        return {name: task.get_extra_links(ti, name) or None for name in task.extra_links}


@pytest.fixture
def dedicated_langdock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The simulator as a dedicated deployment: its API below ``/api/public``."""
    with LangdockSimulator(api_key="test-key", path_prefix="/api/public") as simulator:
        set_langdock_default(monkeypatch, simulator.base_url, "test-key", max_retry_wait=0)
        yield simulator


@pytest.mark.parametrize("storage", ["file", "gs"])
def test_dag_run_persists_the_links(
    storage: str,
    dag_runner: DagRunner,
    dedicated_langdock: LangdockSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if storage == "gs":
        prefix = f"gs://{request.getfixturevalue('gcs_bucket')}/lake"
    else:
        prefix = f"file://{tmp_path}/lake"
    monkeypatch.setenv("AIRFLOW_VAR_LANGDOCK_LINK_TEST_DIR", prefix)
    states = dag_runner.run(DAG_ID)
    assert states == {"to_file": "success", "metadata_only": "success", "read_links": "success"}

    recorded = dag_runner.recorded(DAG_ID)
    analytics = dedicated_langdock.base_url.removesuffix("/api/public") + "/settings/workspace/analytics"
    landed = recorded["to_file"]["destination"]
    assert landed.startswith(f"{prefix}/users/")
    assert recorded["metadata_only"]["destination"] is None
    if storage == "gs":
        bucket, _, key = landed.removeprefix("gs://").partition("/")
        exported_file = f"https://console.cloud.google.com/storage/browser/_details/{bucket}/{key}"
    else:
        exported_file = ""
        assert Path(landed.removeprefix("file://")).is_file()
    expected = {
        "to_file": {LangdockDestinationLink.name: exported_file, LangdockAnalyticsLink.name: analytics},
        "metadata_only": {LangdockDestinationLink.name: "", LangdockAnalyticsLink.name: analytics},
    }
    for task_id in EXPORT_TASKS:
        # get_link(operator, ti_key=...) inside the run read what the task pushed to XCom ...
        assert recorded[task_id]["links"] == expected[task_id]
        # ... and the UI, on the serialized DAG after the run, shows the same (empty -> no link)
        shown = _ui_links(DAG_ID, recorded["run_id"], task_id)
        assert shown == {name: url or None for name, url in expected[task_id].items()}
        # the signed download URL is never a link
        download_url = recorded[task_id]["download_url"]
        assert download_url
        assert download_url.startswith(dedicated_langdock.download_base_url)
        for url in [*recorded[task_id]["links"].values(), *shown.values()]:
            assert not (url or "").startswith(dedicated_langdock.download_base_url)


def test_a_link_that_cannot_be_stored_does_not_fail_the_export(caplog: pytest.LogCaptureFixture) -> None:
    class UnreachableXCom:
        def xcom_push(self, **kwargs: Any) -> None:
            raise RuntimeError("XCom backend unreachable")

    context: Any = {"ti": UnreachableXCom()}
    assert LangdockAnalyticsLink.persist(context, "https://api.langdock.com") == ""
    assert LangdockDestinationLink.persist(context, destination_for("gs://usage-lake/users.csv")) == ""
    assert "Could not store the 'Langdock analytics' link" in caplog.text
