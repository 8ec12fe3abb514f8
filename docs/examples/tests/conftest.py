"""A user's conftest.py: turn on the provider's pytest plugin."""

# --8<-- [start:plugin]
pytest_plugins = ["airflow_provider_langdock.testing.pytest_plugin"]
# --8<-- [end:plugin]

# Not part of the example: this repository also runs these files on Airflow 2.11, whose dag.test()
# has no logical_date argument. The DAG runs are skipped there, with that reason.
import pytest  # noqa: E402
from airflow import __version__ as airflow_version  # noqa: E402

AIRFLOW_2 = airflow_version.startswith("2.")
DAG_RUN_MODULES = ("test_langdock_usage.py", "test_doc_dags.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not AIRFLOW_2:
        return
    skip = pytest.mark.skip(reason="the example runs dag.test(logical_date=...), which needs Airflow 3")
    for item in items:
        if item.path.name in DAG_RUN_MODULES:
            item.add_marker(skip)
