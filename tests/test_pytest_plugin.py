"""The opt-in pytest plugin for users' DAG tests: the ``langdock_simulator`` fixture and its marker.

Each test writes a user's test file and runs it with pytester in a fresh pytest process (it inherits the
Airflow home of this test run), with the plugin turned on the way the docs say.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from airflow_provider_langdock.testing import pytest_plugin

from .conftest import REPO_DIR

pytest_plugins = ["pytester"]

PLUGIN = "airflow_provider_langdock.testing.pytest_plugin"
TIMEOUT = 240

# What every user test file below starts with: a hook and a one-day period within the API's 12 months.
PREAMBLE = """
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_langdock.exceptions import (
    LangdockAuthError, LangdockServerError, LangdockRateLimitError,
)
from airflow_provider_langdock.hooks.langdock import LangdockHook

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
NEXT = DAY + timedelta(days=1)
"""


def run_user_tests(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=PREAMBLE + body)
    return pytester.runpytest_subprocess(
        "-p", PLUGIN, "-p", "no:cacheprovider", "--strict-markers", *args, timeout=TIMEOUT
    )


def test_fixture_points_langdock_default_at_the_simulator_and_restores_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", raising=False)
    result = run_user_tests(
        pytester,
        """
def test_export(langdock_simulator):
    connection = json.loads(os.environ["AIRFLOW_CONN_LANGDOCK_DEFAULT"])
    assert connection["host"] == langdock_simulator.base_url
    assert connection["extra"] == {"max_retry_wait": 0}
    result = LangdockHook().export_usage("users", DAY, NEXT)
    assert result.record_count == langdock_simulator.row_count == 100
    assert [r.path for r in langdock_simulator.requests] == ["/export/users"]
    assert langdock_simulator.requests[0].headers["Authorization"] == "Bearer sim-key"

def test_after():
    # the fixture's variable is gone again: this test runs after test_export, without the fixture
    assert "AIRFLOW_CONN_LANGDOCK_DEFAULT" not in os.environ
""",
    )
    result.assert_outcomes(passed=2)


def test_fixture_restores_a_connection_that_was_set_before(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", '{"conn_type": "langdock", "host": "https://x"}')
    result = run_user_tests(
        pytester,
        """
def test_uses_the_simulator(langdock_simulator):
    assert langdock_simulator.base_url in os.environ["AIRFLOW_CONN_LANGDOCK_DEFAULT"]

def test_after():
    assert os.environ["AIRFLOW_CONN_LANGDOCK_DEFAULT"] == '{"conn_type": "langdock", "host": "https://x"}'
""",
    )
    result.assert_outcomes(passed=2)


def test_injected_server_errors_are_retried_by_the_hook(pytester: pytest.Pytester) -> None:
    result = run_user_tests(
        pytester,
        """
def test_two_503_then_success(langdock_simulator):
    langdock_simulator.inject(503, count=2)
    assert LangdockHook().export_usage("users", DAY, NEXT).record_count == 100
    assert len(langdock_simulator.requests) == 3

def test_429_with_retry_after(langdock_simulator):
    langdock_simulator.inject(429, retry_after="30")  # max_retry_wait 0: the wait is capped to nothing
    assert LangdockHook().export_usage("users", DAY, NEXT).record_count == 100
    assert len(langdock_simulator.requests) == 2

def test_a_storm_outlasts_the_attempts(langdock_simulator):
    langdock_simulator.inject_for(60, status=503)
    with pytest.raises(LangdockServerError):
        LangdockHook().export_usage("users", DAY, NEXT)
    assert len(langdock_simulator.requests) == 5  # the default max_attempts
""",
    )
    result.assert_outcomes(passed=3)


def test_a_wrong_key_fails(pytester: pytest.Pytester) -> None:
    result = run_user_tests(
        pytester,
        """
def test_revoked_key(langdock_simulator):
    langdock_simulator.api_keys = frozenset({"the-new-key"})  # the connection still sends sim-key
    with pytest.raises(LangdockAuthError, match="401"):
        LangdockHook().export_usage("users", DAY, NEXT)
    assert len(langdock_simulator.requests) == 1  # never retried

@pytest.mark.langdock_simulator(api_key="user-key")
def test_the_marker_sets_the_key(langdock_simulator):
    LangdockHook().export_usage("users", DAY, NEXT)
    assert langdock_simulator.requests[0].headers["Authorization"] == "Bearer user-key"
""",
    )
    result.assert_outcomes(passed=2)


def test_marker_configures_connection_and_simulator(pytester: pytest.Pytester) -> None:
    result = run_user_tests(
        pytester,
        """
@pytest.mark.langdock_simulator(
    conn_id="langdock_marketing", extra={"max_attempts": 1}, row_count=7, path_prefix="/api/public"
)
def test_marketing(langdock_simulator):
    assert "AIRFLOW_CONN_LANGDOCK_DEFAULT" not in os.environ
    assert langdock_simulator.base_url.endswith("/api/public")
    hook = LangdockHook(langdock_conn_id="langdock_marketing")
    assert hook.export_usage("users", DAY, NEXT).record_count == 7
    langdock_simulator.inject(503)
    with pytest.raises(LangdockServerError):
        hook.export_usage("users", DAY, NEXT)
    assert len(langdock_simulator.requests) == 2  # max_attempts 1: no retry

@pytest.mark.langdock_simulator("positional")
def test_positional_marker_arguments_are_refused(langdock_simulator):
    pass
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*takes keyword arguments only*"])


def test_simulator_stops_after_the_test(pytester: pytest.Pytester) -> None:
    result = run_user_tests(
        pytester,
        """
import requests

SEEN = {}

def test_running(langdock_simulator):
    SEEN["url"] = langdock_simulator.base_url
    assert requests.post(SEEN["url"] + "/export/users", json={}, timeout=5).status_code == 401

def test_stopped():
    with pytest.raises(requests.ConnectionError):
        requests.post(SEEN["url"] + "/export/users", json={}, timeout=5)
""",
    )
    result.assert_outcomes(passed=2)


def test_plugin_is_opt_in(pytester: pytest.Pytester) -> None:
    """Without ``-p`` (or ``pytest_plugins``) the fixture does not exist, and no entry point loads it."""
    pytester.makepyfile(test_user="def test_x(langdock_simulator):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=TIMEOUT)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'langdock_simulator' not found*"])
    pyproject = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())
    assert "pytest11" not in pyproject["project"].get("entry-points", {})


def test_pytest_plugins_in_conftest_turns_it_on(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]\n")
    pytester.makepyfile(
        test_user=PREAMBLE
        + """
def test_export(langdock_simulator):
    assert LangdockHook().export_usage("models", DAY, NEXT).record_count == 100
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", timeout=TIMEOUT)
    result.assert_outcomes(passed=1)


def test_the_provider_imports_pytest_only_in_the_plugin() -> None:
    package = Path(pytest_plugin.__file__).parents[1]
    importing = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if any(
            line.strip().startswith(("import pytest", "from pytest", "from _pytest"))
            for line in path.read_text().splitlines()
        )
    )
    assert importing == [os.path.join("testing", "pytest_plugin.py")]


@pytest.mark.parametrize("conn_id", ["", "a b", "x;y"])
def test_connection_ids_that_cannot_be_a_variable_are_refused(conn_id: str) -> None:
    with pytest.raises(ValueError, match="must be letters"):
        pytest_plugin.connection_uri_env(conn_id)


def test_connection_variable_name() -> None:
    assert pytest_plugin.connection_uri_env("langdock-eu_2") == "AIRFLOW_CONN_LANGDOCK_EU_2"
