"""``hook_params`` of the operator, the sensor and the triggers: checked at parse time, handed to every hook.

The keys are the hook's overrides of connection extras (``LangdockBaseHook``); their values are checked by
the same code that checks the extras, so a value the hook would refuse fails when the DAG is parsed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.connection import HOOK_PARAMS, check_hook_params, settings_from_connection
from airflow_provider_langdock.exceptions import LangdockInputError, LangdockServerError
from airflow_provider_langdock.hooks import langdock as langdock_hooks
from airflow_provider_langdock.hooks import langdock_async as langdock_async_hooks
from airflow_provider_langdock.hooks.base import LangdockBaseHook
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.triggers.events import result_from_event
from airflow_provider_langdock.triggers.usage_export import (
    LangdockUsageDataTrigger,
    LangdockUsageExportTrigger,
)

from .clock import FakeClock
from .conftest import set_langdock_default

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAY = TODAY - timedelta(days=1)
PERIOD = {"date_from": DAY, "date_to": TODAY}


def make_operator(**kwargs: Any) -> LangdockUsageExportOperator:
    return LangdockUsageExportOperator(task_id="export", data_type="users", **PERIOD, **kwargs)


def make_sensor(**kwargs: Any) -> LangdockUsageExportSensor:
    return LangdockUsageExportSensor(task_id="wait", data_type="users", **PERIOD, **kwargs)


def make_export_trigger(**kwargs: Any) -> LangdockUsageExportTrigger:
    return LangdockUsageExportTrigger(request=_request(), **kwargs)


def make_data_trigger(**kwargs: Any) -> LangdockUsageDataTrigger:
    return LangdockUsageDataTrigger(request=_request(), **kwargs)


def _request() -> dict[str, Any]:
    return ExportRequest.build("users", DAY, TODAY).to_dict()


CONSTRUCTORS: list[Callable[..., Any]] = [
    make_operator,
    make_sensor,
    make_export_trigger,
    make_data_trigger,
]
CONSTRUCTOR_IDS = ["operator", "sensor", "export-trigger", "data-trigger"]


class RecordingTaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        self.pushed[key] = value


def api_requests(simulator: LangdockSimulator) -> list[Any]:
    return [r for r in simulator.requests if r.server == "api"]


# -- the allowed keys --------------------------------------------------------------------------------


def test_the_allowed_keys_are_the_hooks_overrides() -> None:
    """One list: the hook's keyword arguments, which are also ``settings_from_connection``'s overrides.

    The clock is no override of an extra (and no value a DAG could hand a trigger).
    """
    hook_kwargs = [
        name
        for name, parameter in inspect.signature(LangdockBaseHook.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "clock"
    ]
    assert list(HOOK_PARAMS) == hook_kwargs
    overrides = [
        name
        for name, parameter in inspect.signature(settings_from_connection).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("port", "clock")
    ]
    assert list(HOOK_PARAMS) == overrides


# -- checked at construction (DAG parse) -------------------------------------------------------------


@pytest.mark.parametrize("make", CONSTRUCTORS, ids=CONSTRUCTOR_IDS)
def test_an_unknown_key_fails_at_construction_naming_the_allowed_ones(make: Callable[..., Any]) -> None:
    with pytest.raises(LangdockInputError, match=r"hook_params has unknown key 'retries'") as raised:
        make(hook_params={"timeout": 30, "retries": 3})
    for key in HOOK_PARAMS:
        assert key in str(raised.value)
    with pytest.raises(LangdockInputError, match=r"unknown keys 'verify', 'proxies'"):
        make(hook_params={"verify": False, "proxies": {}})


@pytest.mark.parametrize("make", CONSTRUCTORS, ids=CONSTRUCTOR_IDS)
@pytest.mark.parametrize(
    ("hook_params", "message"),
    [
        ({"max_attempts": 0}, r"hook_params: max_attempts must be a whole number of at least 1; got 0"),
        ({"max_attempts": 2.5}, r"hook_params: max_attempts must be a whole number"),
        ({"max_attempts": True}, r"hook_params: max_attempts must be a whole number"),
        ({"timeout": 0}, r"hook_params: timeout must be a finite number greater than 0"),
        ({"timeout": float("nan")}, r"hook_params: timeout must be a finite number"),
        ({"timeout": "30"}, r"hook_params: timeout must be a finite number"),
        ({"max_retry_wait": -1}, r"hook_params: max_retry_wait must be a finite number at least 0"),
        ({"download_timeout": float("inf")}, r"hook_params: download_timeout must be a finite number"),
        ({"download_connections": 9}, r"hook_params: download_connections must be .* at most 8; got 9"),
        ({"download_range_size": 1024}, r"hook_params: download_range_size must be .* at least 65536"),
    ],
)
def test_a_value_the_hook_would_refuse_fails_at_construction(
    make: Callable[..., Any], hook_params: dict[str, Any], message: str
) -> None:
    with pytest.raises(LangdockInputError, match=message):
        make(hook_params=hook_params)


@pytest.mark.parametrize("make", CONSTRUCTORS, ids=CONSTRUCTOR_IDS)
def test_hook_params_must_be_a_dict(make: Callable[..., Any]) -> None:
    with pytest.raises(LangdockInputError, match=r"hook_params must be a dict of hook arguments \(timeout, "):
        make(hook_params=[("timeout", 30)])


@pytest.mark.parametrize("make", CONSTRUCTORS, ids=CONSTRUCTOR_IDS)
def test_valid_hook_params_are_kept_as_a_plain_dict(make: Callable[..., Any]) -> None:
    given = {
        "timeout": 30,
        "max_attempts": 2,
        "max_retry_wait": 0,
        "download_timeout": 600.5,
        "download_connections": 4,
        "download_range_size": 16 * 1024 * 1024,
    }
    task = make(hook_params=given)
    assert task.hook_params == given
    assert task.hook_params is not given  # a copy: changing the caller's dict later changes nothing
    assert make().hook_params == {}
    assert make(hook_params=None).hook_params == {}
    assert make(hook_params={"timeout": None}).hook_params == {"timeout": None}  # None: the extra applies


def test_check_hook_params_needs_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", raising=False)
    assert check_hook_params({"max_attempts": 1}) == {"max_attempts": 1}
    with pytest.raises(LangdockInputError, match=r"^trigger kwargs: max_attempts"):
        check_hook_params({"max_attempts": 0}, "trigger kwargs")


# -- they reach the hooks' settings, winning over the connection's extras -------------------------------


@pytest.fixture
def recorded_hooks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every LangdockHook and LangdockAsyncHook created from here on, as created by the tasks."""
    created: list[Any] = []

    class RecordingHook(langdock_hooks.LangdockHook):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    class RecordingAsyncHook(langdock_async_hooks.LangdockAsyncHook):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(langdock_hooks, "LangdockHook", RecordingHook)
    monkeypatch.setattr(langdock_async_hooks, "LangdockAsyncHook", RecordingAsyncHook)
    return created


@pytest.fixture
def extras_langdock(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> LangdockSimulator:
    """The simulator as ``langdock_default`` with extras that hook_params override."""
    set_langdock_default(
        monkeypatch,
        simulator.base_url,
        "test-key",
        timeout=5,
        max_attempts=4,
        max_retry_wait=0,
        download_connections=2,
    )
    return simulator


HOOK_PARAMS_GIVEN = {"timeout": 7.5, "max_attempts": 2, "download_connections": 3}


def assert_overridden(hook: Any) -> None:
    settings = hook.settings if isinstance(hook, langdock_hooks.LangdockHook) else hook._settings
    assert settings.timeout == 7.5
    assert settings.retry.max_attempts == 2
    assert settings.ranges.connections == 3
    assert settings.retry.max_wait == 0  # not in hook_params: the extra still applies


@pytest.mark.usefixtures("extras_langdock")
def test_the_operator_hands_hook_params_to_its_hook(recorded_hooks: list[Any]) -> None:
    metadata = make_operator(hook_params=HOOK_PARAMS_GIVEN).execute({"ti": RecordingTaskInstance()})  # type: ignore[arg-type]
    assert metadata["record_count"] > 0
    (hook,) = recorded_hooks
    assert_overridden(hook)
    # without hook_params, the extras
    recorded_hooks.clear()
    make_operator().execute({"ti": RecordingTaskInstance()})  # type: ignore[arg-type]
    assert recorded_hooks[0].settings.timeout == 5
    assert recorded_hooks[0].settings.retry.max_attempts == 4


@pytest.mark.usefixtures("extras_langdock")
def test_the_operator_resuming_from_its_trigger_hands_hook_params_to_its_hook(
    recorded_hooks: list[Any],
) -> None:
    operator = make_operator(hook_params=HOOK_PARAMS_GIVEN, deferrable=True)
    trigger = LangdockUsageExportTrigger(request=_request(), hook_params=operator.hook_params)
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success", event
    operator.execute_complete({"ti": RecordingTaskInstance()}, event=event)  # type: ignore[arg-type]
    assert len(recorded_hooks) == 2  # the trigger's async hook, then the sync one in execute_complete
    for hook in recorded_hooks:
        if isinstance(hook, langdock_hooks.LangdockHook):
            hook.settings  # noqa: B018  # read the connection
        assert_overridden(hook)


@pytest.mark.usefixtures("extras_langdock")
def test_the_sensor_hands_hook_params_to_its_hook(recorded_hooks: list[Any]) -> None:
    result = make_sensor(hook_params=HOOK_PARAMS_GIVEN).poke({})  # type: ignore[arg-type]
    assert not isinstance(result, bool)
    assert result.is_done
    (hook,) = recorded_hooks
    assert_overridden(hook)


@pytest.mark.usefixtures("extras_langdock")
@pytest.mark.parametrize("make", [make_export_trigger, make_data_trigger], ids=["export", "data"])
def test_the_triggers_hand_hook_params_to_the_async_hook(
    recorded_hooks: list[Any], make: Callable[..., Any]
) -> None:
    event = asyncio.run(_first_event(make(hook_params=HOOK_PARAMS_GIVEN)))
    assert event["status"] == "success", event
    (hook,) = recorded_hooks
    assert isinstance(hook, langdock_async_hooks.LangdockAsyncHook)
    assert_overridden(hook)


async def _first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger fired no event")


# -- through serialize() to the triggerer, and from the deferring tasks -------------------------------


@pytest.mark.parametrize("make", [make_export_trigger, make_data_trigger], ids=["export", "data"])
def test_trigger_serialize_round_trip_keeps_hook_params(make: Callable[..., Any]) -> None:
    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow 2
        from airflow.serialization.serde import deserialize, serialize  # type: ignore[no-redef]

    trigger = make(hook_params={"max_attempts": 1, "timeout": 12.5})
    _, kwargs = trigger.serialize()
    assert kwargs["hook_params"] == {"max_attempts": 1, "timeout": 12.5}
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = type(trigger)(**deserialize(serialize(kwargs)))
    assert rebuilt.hook_params == {"max_attempts": 1, "timeout": 12.5}
    assert rebuilt == trigger
    assert rebuilt != make(hook_params={"max_attempts": 2, "timeout": 12.5})
    assert make().serialize()[1]["hook_params"] == {}
    # kwargs stored by an earlier version of the provider, without hook_params, still load
    del kwargs["hook_params"]
    assert type(trigger)(**kwargs).hook_params == {}


def test_the_deferrable_operator_passes_hook_params_to_its_trigger() -> None:
    operator = make_operator(hook_params={"max_attempts": 1, "max_retry_wait": 2}, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": RecordingTaskInstance()})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, LangdockUsageExportTrigger)
    assert trigger.hook_params == {"max_attempts": 1, "max_retry_wait": 2}
    assert trigger.serialize()[1]["hook_params"] == {"max_attempts": 1, "max_retry_wait": 2}


def test_the_deferrable_sensor_passes_hook_params_to_its_trigger() -> None:
    sensor = make_sensor(hook_params={"timeout": 10}, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, LangdockUsageDataTrigger)
    assert trigger.serialize()[1]["hook_params"] == {"timeout": 10}


# -- a real run: max_attempts=1 means no retry ----------------------------------------------------------


def test_max_attempts_1_fails_at_the_first_503_where_the_extras_retry(
    langdock_conn: LangdockSimulator,
) -> None:
    langdock_conn.inject(503)
    with pytest.raises(LangdockServerError):
        make_operator(hook_params={"max_attempts": 1}).execute({"ti": RecordingTaskInstance()})  # type: ignore[arg-type]
    assert len(api_requests(langdock_conn)) == 1  # no retry

    langdock_conn.clear_requests()
    langdock_conn.inject(503)
    ti = RecordingTaskInstance()
    metadata = make_operator().execute({"ti": ti})  # type: ignore[arg-type]
    assert len(api_requests(langdock_conn)) == 2  # the 503, then the retry that succeeded
    assert metadata["record_count"] > 0
    assert ti.pushed["download_url"] == metadata["download_url"]


def test_sensor_with_max_attempts_1_counts_a_503_as_not_yet(langdock_conn: LangdockSimulator) -> None:
    langdock_conn.inject(503)
    assert make_sensor(hook_params={"max_attempts": 1}).poke({}) is False  # type: ignore[arg-type]
    assert len(api_requests(langdock_conn)) == 1
    langdock_conn.clear_requests()
    langdock_conn.inject(503)
    result = make_sensor().poke({})  # type: ignore[arg-type]
    assert not isinstance(result, bool)
    assert result.is_done  # retried within the poke
    assert len(api_requests(langdock_conn)) == 2


def test_data_trigger_with_max_attempts_1_polls_again_after_a_503(langdock_conn: LangdockSimulator) -> None:
    clock = FakeClock()  # the trigger's polls; the hook's retries wait (0 s) on real time
    polls = clock.slept
    langdock_conn.inject(503)
    trigger = make_data_trigger(hook_params={"max_attempts": 1}, poll_interval=60, clock=clock)
    event = asyncio.run(_first_event(trigger))
    assert result_from_event(event).record_count > 0
    assert polls == [60]  # the 503 was not retried by the hook: the trigger polled again
    assert len(api_requests(langdock_conn)) == 2

    polls.clear()
    langdock_conn.clear_requests()
    langdock_conn.inject(503)
    event = asyncio.run(_first_event(make_data_trigger(poll_interval=60, clock=clock)))
    assert result_from_event(event).record_count > 0
    assert polls == []  # the hook retried the 503 (the connection's max_attempts)
    assert len(api_requests(langdock_conn)) == 2
