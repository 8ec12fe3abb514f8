"""langdock_retry_policy(): which Langdock error fails at once, which is retried and after how long.

Unit tests of the decisions, then real ``dag.test()`` runs against the simulator (Airflow 3.3+).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_provider_langdock import exceptions as errors
from airflow_provider_langdock import retry_policy
from airflow_provider_langdock.exceptions import LangdockInputError
from airflow_provider_langdock.retry_policy import (
    RETRY_POLICIES_SUPPORTED,
    langdock_retry_policy,
    langdock_retry_policy_args,
)
from airflow_provider_langdock.testing import LangdockSimulator

from .conftest import REPO_DIR, DagRunner, load_dagbag, set_langdock_default

requires_retry_policies = pytest.mark.skipif(
    not RETRY_POLICIES_SUPPORTED,
    reason=f"task retry policies need Airflow 3.3 or later; this is Airflow {airflow_version}",
)

FAIL_AT_ONCE = [
    errors.LangdockAuthError("Invalid API key", http_status=401),
    errors.LangdockInputError("bad data_type"),
    errors.LangdockBadRequestError("Invalid date range", http_status=400),
    errors.LangdockExportTooLargeError("Export too large", row_count=2_000_000, row_limit=1_000_000),
    errors.LangdockVerificationError("got 10 rows, recordCount said 12"),
]
RETRIED = [
    errors.LangdockRateLimitError("rate limited", http_status=429),
    errors.LangdockServerError("Bad Gateway", http_status=502),
    errors.LangdockConnectionError("connection refused"),
    errors.LangdockDownloadError("download answered 503", http_status=503),
]
LEFT_TO_AIRFLOW = [
    errors.LangdockError("something else"),
    errors.LangdockNoDataError("No data found", http_status=404),
    errors.LangdockInvalidResponseError("not JSON"),
    errors.LangdockTimeoutError("deadline passed"),
    errors.LangdockTransientError("transient, of no known kind"),
    ValueError("not a Langdock error"),
    RuntimeError("not a Langdock error"),
]


def ids(cases: list[BaseException]) -> list[str]:
    return [type(case).__name__ for case in cases]


def test_support_follows_the_airflow_version() -> None:
    assert (Version(Version(airflow_version).base_version) >= Version("3.3")) is RETRY_POLICIES_SUPPORTED
    assert bool(langdock_retry_policy_args()) is RETRY_POLICIES_SUPPORTED


def test_older_airflow_gets_an_error_naming_the_version_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Airflow before 3.3 (simulated on 3.3): a clear error, and the args helper gives nothing."""
    from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

    monkeypatch.setattr(retry_policy, "RETRY_POLICIES_SUPPORTED", False)
    with pytest.raises(AirflowOptionalProviderFeatureException) as raised:
        langdock_retry_policy()
    assert f"need Airflow 3.3 or later; this is Airflow {airflow_version}" in str(raised.value)
    assert langdock_retry_policy_args(retry_delay=5) == {}


# -- the decisions (Airflow 3.3+) -------------------------------------------------------------------


def decide(error: BaseException, **policy_kwargs: Any) -> Any:
    return langdock_retry_policy(**policy_kwargs).evaluate(error, try_number=1, max_tries=4)


@requires_retry_policies
@pytest.mark.parametrize("error", FAIL_AT_ONCE, ids=ids(FAIL_AT_ONCE))
def test_errors_a_retry_cannot_fix_fail_at_once(error: BaseException) -> None:
    from airflow.sdk import RetryAction

    decision = decide(error, retry_delay=5)
    assert decision.action is RetryAction.FAIL
    assert decision.retry_delay is None
    assert decision.reason.endswith("a retry cannot help.")


@requires_retry_policies
@pytest.mark.parametrize("error", RETRIED, ids=ids(RETRIED))
def test_transient_errors_are_retried_after_retry_delay(error: BaseException) -> None:
    from airflow.sdk import RetryAction

    decision = decide(error, retry_delay=timedelta(seconds=7))
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay == timedelta(seconds=7)
    assert decision.reason.endswith("retrying in 7s.")
    # Without retry_delay, the task's own retry_delay (and backoff) applies.
    assert decide(error).action is RetryAction.RETRY
    assert decide(error).retry_delay is None


@requires_retry_policies
@pytest.mark.parametrize("error", LEFT_TO_AIRFLOW, ids=ids(LEFT_TO_AIRFLOW))
def test_other_errors_are_left_to_the_task_retries(error: BaseException) -> None:
    from airflow.sdk import RetryDecision

    assert decide(error, retry_delay=5) == RetryDecision.default()


@requires_retry_policies
@pytest.mark.parametrize(
    ("error_class", "retry_after", "max_retry_delay", "delay"),
    [
        (errors.LangdockRateLimitError, 30.0, None, 30.0),
        (errors.LangdockRateLimitError, 0.0, None, 0.0),
        (errors.LangdockServerError, 2.5, 60, 2.5),
        (errors.LangdockRateLimitError, 7200.0, None, 3600.0),  # the default cap: one hour
        (errors.LangdockServerError, 120.0, timedelta(seconds=45), 45.0),
        (errors.LangdockConnectionError, 10.0, 10, 10.0),
    ],
)
def test_a_retry_waits_the_retry_after_capped_by_max_retry_delay(
    error_class: type[errors.LangdockTransientError],
    retry_after: float,
    max_retry_delay: Any,
    delay: float,
) -> None:
    from airflow.sdk import RetryAction

    policy_kwargs: dict[str, Any] = {"retry_delay": 5}
    if max_retry_delay is not None:
        policy_kwargs["max_retry_delay"] = max_retry_delay
    decision = decide(error_class("busy", retry_after=retry_after), **policy_kwargs)
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay == timedelta(seconds=delay)
    assert f"retrying in {delay:g}s as its Retry-After of {retry_after:g}s asked" in decision.reason
    assert ("capped by max_retry_delay" in decision.reason) is (delay < retry_after)


@requires_retry_policies
@pytest.mark.parametrize("retry_after", [None, math.nan, math.inf, -1.0, "30"])
def test_an_unusable_retry_after_falls_back_to_retry_delay(retry_after: Any) -> None:
    error = errors.LangdockRateLimitError("busy")
    error.retry_after = retry_after
    assert decide(error, retry_delay=5).retry_delay == timedelta(seconds=5)


@requires_retry_policies
def test_a_subclass_with_its_own_outcome_wins_over_its_parent() -> None:
    from airflow.sdk import RetryAction

    assert issubclass(errors.LangdockVerificationError, errors.LangdockDownloadError)
    assert decide(errors.LangdockVerificationError("short file")).action is RetryAction.FAIL
    assert decide(errors.LangdockDownloadError("reset")).action is RetryAction.RETRY
    assert issubclass(errors.LangdockExportTooLargeError, errors.LangdockBadRequestError)
    too_large = decide(errors.LangdockExportTooLargeError("too large", row_count=2, row_limit=1))
    assert "narrow the date range" in too_large.reason
    assert "narrow the date range" not in decide(errors.LangdockBadRequestError("bad")).reason


@requires_retry_policies
def test_no_rule_is_shadowed_by_an_earlier_one() -> None:
    """Rules match subclasses and the first match wins: a rule after its parent's would never apply."""
    rules = langdock_retry_policy().rules
    for position, rule in enumerate(rules):
        for earlier in rules[:position]:
            assert not issubclass(rule.exception, earlier.exception), (rule, earlier)
        assert rule.match_subclasses


@requires_retry_policies
@pytest.mark.parametrize(
    "policy_kwargs", [{"retry_delay": -1}, {"retry_delay": math.nan}, {"max_retry_delay": "1h"}]
)
def test_bad_delays_are_refused_when_the_dag_is_parsed(policy_kwargs: dict[str, Any]) -> None:
    with pytest.raises(LangdockInputError, match="delay"):
        langdock_retry_policy(**policy_kwargs)


@requires_retry_policies
def test_serialize_round_trip() -> None:
    policy = langdock_retry_policy(retry_delay=timedelta(minutes=2), max_retry_delay=600)
    data = policy.serialize()
    assert data == {"__type": "LangdockRetryPolicy", "retry_delay": 120.0, "max_retry_delay": 600.0}
    again = type(policy).deserialize(data)
    assert (again.retry_delay, again.max_retry_delay) == (120.0, 600.0)


@requires_retry_policies
def test_default_args_give_every_task_the_policy_and_the_dag_serializes() -> None:
    from airflow.providers.common.compat.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
    from airflow_provider_langdock.retry_policy import LangdockRetryPolicy

    with DAG(
        "retry_policy_in_default_args",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        default_args={"retries": 2, **langdock_retry_policy_args()},
    ) as dag:
        task = LangdockUsageExportOperator(task_id="export", data_type="users")
    assert isinstance(task.retry_policy, LangdockRetryPolicy)
    assert task.has_retry_policy
    serialized = DagSerialization.to_dict(dag)
    assert serialized["dag"]["tasks"][0]["__var"].get("has_retry_policy") is True


def test_every_example_task_has_the_policy_where_airflow_has_retry_policies(airflow_db: str) -> None:
    from airflow_provider_langdock.retry_policy import LangdockRetryPolicy

    dagbag = load_dagbag(REPO_DIR / "example_dags")
    assert dagbag.import_errors == {}
    tasks = [task for dag in dagbag.dags.values() for task in dag.tasks]
    assert len(tasks) > 10
    policies = [getattr(task, "retry_policy", None) for task in tasks]
    if RETRY_POLICIES_SUPPORTED:
        assert all(isinstance(policy, LangdockRetryPolicy) for policy in policies)
    else:
        assert policies == [None] * len(tasks)


# -- real runs: dag.test() against the simulator (Airflow 3.3+) -------------------------------------


def attempts(dag_id: str) -> tuple[int, list[tuple[int, str, float | None, str | None]]]:
    """In the DAG's latest run: the task's try_number, and (try, state, delay override, reason) of each
    earlier try."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run_id = session.scalars(
            select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).one()
        ti = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).one()
        history = session.scalars(
            select(TaskInstanceHistory)
            .where(TaskInstanceHistory.dag_id == dag_id, TaskInstanceHistory.run_id == run_id)
            .order_by(TaskInstanceHistory.try_number)
        ).all()
        return ti.try_number, [
            (h.try_number, str(h.state), h.retry_delay_override, h.retry_reason) for h in history
        ]


def api_requests(simulator: LangdockSimulator) -> int:
    return len([request for request in simulator.requests if request.server == "api"])


@requires_retry_policies
def test_an_auth_error_fails_the_task_without_a_retry(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_langdock_default(monkeypatch, langdock_conn.base_url, "wrong-key", max_retry_wait=0)
    assert dag_runner.run("langdock_test_retry_policy") == {"export": "failed"}
    assert attempts("langdock_test_retry_policy") == (1, [])
    assert api_requests(langdock_conn) == 1


@requires_retry_policies
def test_without_the_policy_an_auth_error_uses_up_every_retry(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same task (retries=3) without the policy tries four times."""
    set_langdock_default(monkeypatch, langdock_conn.base_url, "wrong-key", max_retry_wait=0)
    assert dag_runner.run("langdock_test_no_retry_policy") == {"export": "failed"}
    try_number, history = attempts("langdock_test_no_retry_policy")
    assert try_number == 4
    assert [entry[:3] for entry in history] == [(1, "failed", None), (2, "failed", None), (3, "failed", None)]
    assert api_requests(langdock_conn) == 4


@requires_retry_policies
def test_a_429_storm_is_retried_after_the_capped_retry_after(
    dag_runner: DagRunner, langdock_conn: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two 429s (Retry-After: 120, capped to the DAG's 1 s): tries 1 and 2 fail, try 3 succeeds."""
    set_langdock_default(monkeypatch, langdock_conn.base_url, "test-key", max_retry_wait=0, max_attempts=1)
    langdock_conn.inject(429, count=2, retry_after="120")
    assert dag_runner.run("langdock_test_retry_policy") == {"export": "success"}
    try_number, history = attempts("langdock_test_retry_policy")
    assert try_number == 3
    assert [entry[:3] for entry in history] == [(1, "failed", 1.0), (2, "failed", 1.0)]
    for *_, reason in history:
        assert reason is not None
        assert "rate limiting (429); retrying in 1s as its Retry-After of 120s asked" in reason
    assert api_requests(langdock_conn) == 3
