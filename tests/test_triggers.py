"""The deferrable-mode triggers and async client against the Langdock simulator over real loopback HTTP.

Retry and poll waits and the retry budget run on the triggers' clock; tests hand in a fake one (shared
with the simulator's storms) to compress minutes of rate limiting into milliseconds.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_provider_langdock import __version__
from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockBadRequestError,
    LangdockConnectionError,
    LangdockDownloadError,
    LangdockError,
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockInvalidResponseError,
    LangdockNoDataError,
    LangdockRateLimitError,
    LangdockSensorTimeoutError,
    LangdockServerError,
    LangdockTimeoutError,
    error_details,
    error_from_details,
)
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.triggers.events import (
    LangdockTriggerEvent,
    plan_from_event,
    result_from_event,
    sensor_metadata_from_event,
)
from airflow_provider_langdock.triggers.usage_export import (
    LangdockUsageDataTrigger,
    LangdockUsageExportTrigger,
)
from airflow_provider_langdock.validation import deadline_after

from .clock import FakeClock
from .conftest import install_clock

API_KEY = "test-key"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
REQUEST = ExportRequest.build("users", TODAY - timedelta(days=1), TODAY).to_dict()


def set_connection(monkeypatch: pytest.MonkeyPatch, host: str, password: str | None = API_KEY) -> None:
    conn: dict[str, Any] = {"conn_type": "langdock", "host": host}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))


@pytest.fixture
def langdock(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> LangdockSimulator:
    """The simulator, as ``langdock_default`` (default retry settings: waits of up to 60 s)."""
    set_connection(monkeypatch, simulator.base_url)
    return simulator


def fire(trigger: LangdockUsageExportTrigger | LangdockUsageDataTrigger) -> dict[str, Any]:
    """Run the trigger to its end on a fresh event loop; it must fire exactly one event."""

    async def all_events() -> list[Any]:
        return [event async for event in trigger.run()]

    events = asyncio.run(all_events())
    assert len(events) == 1, events
    assert isinstance(events[0], LangdockTriggerEvent)
    payload = events[0].payload
    assert json.loads(json.dumps(payload)) == payload
    assert API_KEY not in json.dumps(payload)
    return payload


def api_requests(simulator: LangdockSimulator) -> list[Any]:
    return [r for r in simulator.requests if r.server == "api"]


@pytest.fixture
def scaled_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry and poll waits really sleep, but a hundredth of what is asked; the asked waits are recorded."""
    clock = FakeClock(scale=0.01)
    install_clock(monkeypatch, clock)
    return clock.slept


# -- serialisation ---------------------------------------------------------------------------------

BERLIN_DEADLINE = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))


def import_string(classpath: str) -> Any:
    """The class at ``classpath``, as the triggerer loads it."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(
    "trigger",
    [
        LangdockUsageExportTrigger(request=REQUEST),
        LangdockUsageExportTrigger(
            request=REQUEST, langdock_conn_id="other", deadline=BERLIN_DEADLINE, retry_window=42.5
        ),
        LangdockUsageDataTrigger(request=REQUEST),
        LangdockUsageDataTrigger(
            request={**REQUEST, "group_by": "model"},
            deadline="2026-11-30T12:00:00.123456+00:00",
            poll_interval=0.5,
        ),
    ],
    ids=["export", "export-with-deadline", "data", "data-with-deadline"],
)
def test_trigger_round_trips_through_serialize(
    trigger: LangdockUsageExportTrigger | LangdockUsageDataTrigger,
) -> None:
    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow 2
        from airflow.serialization.serde import deserialize, serialize  # type: ignore[no-redef]

    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = import_string(classpath)(**kwargs)
    assert type(rebuilt) is type(trigger)
    assert rebuilt == trigger
    assert rebuilt.serialize() == (classpath, kwargs)
    # as the task runner hands them to the triggerer
    assert import_string(classpath)(**deserialize(serialize(kwargs))) == trigger
    # equality looks at every kwarg
    assert import_string(classpath)(**{**kwargs, "deadline": "2030-01-01T00:00:00+00:00"}) != trigger
    assert import_string(classpath)(**{**kwargs, "langdock_conn_id": "another"}) != trigger


def test_trigger_kwargs_hold_no_credentials() -> None:
    trigger = LangdockUsageExportTrigger(request=REQUEST, deadline=BERLIN_DEADLINE)
    _, kwargs = trigger.serialize()
    assert set(kwargs) == {"request", "langdock_conn_id", "deadline", "retry_window", "hook_params"}
    assert kwargs["hook_params"] == {}
    assert kwargs["deadline"] == "2026-03-29T01:30:00+00:00"  # absolute, in UTC
    _, data_kwargs = LangdockUsageDataTrigger(request=REQUEST).serialize()
    assert set(data_kwargs) == {"request", "langdock_conn_id", "deadline", "poll_interval", "hook_params"}


def test_a_naive_deadline_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        LangdockUsageExportTrigger(request=REQUEST, deadline="2026-01-01T00:00:00")


def test_request_round_trips_through_to_dict() -> None:
    request = ExportRequest.build(
        "models", "2026-10-25T00:00:00", "2026-10-26T00:00:00", "Europe/Berlin", "source"
    )
    assert ExportRequest.from_dict(request.to_dict()) == request
    assert json.loads(json.dumps(request.to_dict())) == request.to_dict()


# -- the sensor's trigger ---------------------------------------------------------------------------


def test_data_trigger_polls_through_no_data_until_the_export_succeeds(
    langdock: LangdockSimulator, scaled_sleeps: list[float]
) -> None:
    langdock.inject(404, count=3)
    event = fire(LangdockUsageDataTrigger(request=REQUEST, poll_interval=7))
    assert event["status"] == "success"
    result = result_from_event(event)
    assert result.data_type == "users"
    assert result.record_count == 100
    assert scaled_sleeps == [7, 7, 7]
    sent = api_requests(langdock)
    assert len(sent) == 4
    assert all(r.path == "/export/users" and r.json == sent[0].json for r in sent)
    assert all(r.headers["Authorization"] == f"Bearer {API_KEY}" for r in sent)
    assert all(
        r.headers["User-Agent"].startswith(f"airflow-provider-langdock/{__version__} aiohttp/") for r in sent
    )


def test_data_trigger_waits_through_errors_that_outlast_the_retries(
    langdock: LangdockSimulator, scaled_sleeps: list[float]
) -> None:
    """Like the sync sensor: 503s beyond one check's retries (5 attempts) mean "not yet"."""
    langdock.inject(503, count=7)
    assert fire(LangdockUsageDataTrigger(request=REQUEST, poll_interval=30))["status"] == "success"
    assert len(scaled_sleeps) == 4 + 1 + 2  # retry waits, the poll interval, retry waits
    assert scaled_sleeps[4] == 30
    assert len(api_requests(langdock)) == 8


def test_data_trigger_counts_a_period_above_the_row_cap_as_data(langdock: LangdockSimulator) -> None:
    langdock.row_cap = 10
    event = fire(LangdockUsageDataTrigger(request=REQUEST, poll_interval=0))
    metadata = sensor_metadata_from_event(event)
    assert metadata["record_count"] == 100
    assert metadata["download_url"] is None
    assert metadata["data_type"] == "users"
    assert len(api_requests(langdock)) == 1


def test_data_trigger_fails_at_once_on_a_refused_key(
    langdock: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, scaled_sleeps: list[float]
) -> None:
    set_connection(monkeypatch, langdock.base_url, password="wrong")
    event = fire(LangdockUsageDataTrigger(request=REQUEST, poll_interval=1))
    assert event["status"] == "error"
    assert event["error_type"] == "LangdockAuthError"
    assert event["http_status"] == 401
    assert "wrong" not in json.dumps(event)
    assert scaled_sleeps == []
    assert len(api_requests(langdock)) == 1
    with pytest.raises(LangdockAuthError, match="Check the API key"):
        result_from_event(event)


def test_data_trigger_fires_a_timeout_at_its_deadline(langdock: LangdockSimulator) -> None:
    langdock.set_data_window(None, datetime(2000, 1, 1))
    started = time.monotonic()
    deadline = deadline_after(1.0)
    assert deadline is not None
    event = fire(LangdockUsageDataTrigger(request=REQUEST, poll_interval=0.2, deadline=deadline))
    elapsed = time.monotonic() - started
    assert event["status"] == "timeout"
    assert event["deadline"] == deadline.isoformat()
    assert "passed before Langdock had usage data" in event["message"]
    assert 0.9 <= elapsed < 5
    assert len(api_requests(langdock)) >= 3
    with pytest.raises(LangdockSensorTimeoutError) as raised:
        result_from_event(event, timeout_error=LangdockSensorTimeoutError)
    assert isinstance(raised.value, AirflowSensorTimeout)


def test_a_deadline_in_the_past_times_out_without_a_request(langdock: LangdockSimulator) -> None:
    deadline = datetime.now(UTC) - timedelta(seconds=1)
    event = fire(LangdockUsageDataTrigger(request=REQUEST, deadline=deadline))
    assert event["status"] == "timeout"
    assert api_requests(langdock) == []


# -- the operator's trigger -------------------------------------------------------------------------


def test_export_trigger_fires_the_export_metadata(langdock: LangdockSimulator) -> None:
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert event["status"] == "success"
    assert event["request"] == REQUEST
    metadata = event["plan"]
    assert set(metadata) == {"download_url", "file_path", "data_type", "record_count", "date_range", "parts"}
    assert metadata["download_url"].startswith(langdock.download_base_url)
    assert metadata["date_range"] == {
        "from": f"{TODAY - timedelta(days=1):%Y-%m-%d}T00:00:00.000Z",
        "to": f"{TODAY:%Y-%m-%d}T00:00:00.000Z",
    }
    assert len(api_requests(langdock)) == 1
    plan = plan_from_event(event)
    assert not plan.is_split
    assert plan.to_dict() == metadata


def test_export_trigger_splits_an_export_above_the_row_cap(langdock: LangdockSimulator) -> None:
    """The same planner as the sync hook: too large -> parts at whole UTC hours, one at a time."""
    langdock.rows_per_day = 2400
    langdock.row_cap = 1000
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert event["status"] == "success", event
    plan = plan_from_event(event)
    assert plan.is_split
    assert plan.record_count == 2400
    assert all(part.record_count <= 1000 for part in plan.parts)
    assert event["plan"]["download_url"] is None
    bodies = [request.json for request in api_requests(langdock)]
    assert len(bodies) == 1 + len(plan.parts)
    assert [part.request for part in plan.parts] == sorted(
        (part.request for part in plan.parts), key=lambda request: request.date_from
    )


def test_export_trigger_rides_out_a_rate_limit_storm(
    langdock: LangdockSimulator, scaled_sleeps: list[float]
) -> None:
    """A few seconds of 429s (real time), backing off 1, 2, 4... s (slept a hundredth of that)."""
    langdock.inject_for(2.0, status=429)
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert event["status"] == "success"
    assert len(scaled_sleeps) >= 5  # 0.01 + 0.02 + 0.04 + 0.08 + 0.16 s < 2 s
    assert all(wait <= 60 for wait in scaled_sleeps)
    assert len(api_requests(langdock)) == len(scaled_sleeps) + 1


@pytest.mark.parametrize(
    ("retry_after", "expected_waits"),
    [(None, None), ("25", [25.0, 25.0, 25.0])],
    ids=["backoff", "retry-after"],
)
def test_export_trigger_survives_a_60_second_rate_limit_storm(
    langdock: LangdockSimulator,
    virtual_clock: FakeClock,
    retry_after: str | None,
    expected_waits: list[float] | None,
) -> None:
    """60 s of 429s, then success: the storm and the waits run on a virtual clock."""
    started = virtual_clock.monotonic()
    langdock.inject_for(60, status=429, retry_after=retry_after)
    event = fire(LangdockUsageExportTrigger(request=REQUEST, retry_window=300))
    assert event["status"] == "success"
    assert plan_from_event(event).record_count == 100
    assert virtual_clock.monotonic() - started >= 60
    if expected_waits is not None:
        assert virtual_clock.slept == expected_waits  # Retry-After honoured
    else:
        assert virtual_clock.slept[:3] == pytest.approx([1.5, 2.5, 4.5], abs=0.5)  # exponential, with jitter
        assert max(virtual_clock.slept) <= 60  # capped by max_retry_wait
    assert len(api_requests(langdock)) == len(virtual_clock.slept) + 1


def test_export_trigger_never_retries_in_a_tight_loop(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, virtual_clock: FakeClock
) -> None:
    """Even with max_retry_wait=0, a time-bounded retry waits at least a second between attempts."""
    conn = {"conn_type": "langdock", "host": simulator.base_url, "password": API_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps({**conn, "extra": {"max_retry_wait": 0}}))
    simulator.inject_for(30, status=503)
    event = fire(LangdockUsageExportTrigger(request=REQUEST, retry_window=120))
    assert event["status"] == "success"
    assert virtual_clock.slept
    assert min(virtual_clock.slept) == 1.0
    assert len(virtual_clock.slept) <= 31


def test_export_trigger_gives_up_after_its_retry_window(
    langdock: LangdockSimulator, virtual_clock: FakeClock
) -> None:
    started = virtual_clock.monotonic()
    langdock.inject_for(3600, status=429)
    event = fire(LangdockUsageExportTrigger(request=REQUEST, retry_window=120))
    assert event["status"] == "error"
    assert event["error_type"] == "LangdockRateLimitError"
    assert event["http_status"] == 429
    assert 60 < virtual_clock.monotonic() - started <= 120
    with pytest.raises(LangdockRateLimitError, match="rate limited"):
        result_from_event(event)


def test_export_trigger_retries_a_reset_connection(
    langdock: LangdockSimulator, scaled_sleeps: list[float]
) -> None:
    langdock.inject(reset=True)
    assert fire(LangdockUsageExportTrigger(request=REQUEST))["status"] == "success"
    assert len(scaled_sleeps) == 1


def test_export_trigger_reports_an_unreachable_api(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, simulator.base_url)
    simulator.stop()
    event = fire(LangdockUsageExportTrigger(request=REQUEST, retry_window=0))
    assert event["error_type"] == "LangdockConnectionError"
    assert event["message"].startswith(f"Could not reach Langdock at {simulator.base_url}")
    with pytest.raises(LangdockConnectionError):
        result_from_event(event)


def test_export_trigger_fails_at_once_on_a_refused_key(
    langdock: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, scaled_sleeps: list[float]
) -> None:
    set_connection(monkeypatch, langdock.base_url, password="wrong")
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert (event["status"], event["error_type"], event["http_status"]) == ("error", "LangdockAuthError", 401)
    assert event["api_message"] == "Invalid or missing API key"
    assert scaled_sleeps == []
    assert len(api_requests(langdock)) == 1


def test_export_trigger_reports_an_export_too_large(langdock: LangdockSimulator) -> None:
    langdock.row_cap = 40
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert event["error_type"] == "LangdockExportTooLargeError"
    assert (event["row_count"], event["row_limit"]) == (100, 40)
    with pytest.raises(LangdockExportTooLargeError) as raised:
        result_from_event(event)
    assert (raised.value.row_count, raised.value.row_limit) == (100, 40)


def test_export_trigger_reports_no_data(langdock: LangdockSimulator) -> None:
    langdock.set_data_window(None, datetime(2000, 1, 1))
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert event["error_type"] == "LangdockNoDataError"
    with pytest.raises(LangdockNoDataError):
        result_from_event(event)


def test_export_trigger_reports_a_connection_without_a_key(
    langdock: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, langdock.base_url, password=None)
    event = fire(LangdockUsageExportTrigger(request=REQUEST))
    assert event["error_type"] == "LangdockInputError"
    assert "has no API key" in event["message"]
    assert api_requests(langdock) == []


def test_export_trigger_times_out_during_a_storm(
    langdock: LangdockSimulator, scaled_sleeps: list[float]
) -> None:
    langdock.inject_for(30, status=429)
    started = time.monotonic()
    event = fire(LangdockUsageExportTrigger(request=REQUEST, deadline=deadline_after(1.0)))
    assert event["status"] == "timeout"
    assert "passed before Langdock finished the users export" in event["message"]
    assert 0.9 <= time.monotonic() - started < 5
    with pytest.raises(LangdockTimeoutError):
        result_from_event(event)


def test_export_trigger_times_out_during_a_slow_answer(langdock: LangdockSimulator) -> None:
    """The deadline cancels a request in flight; the trigger does not wait for the answer."""
    langdock.inject(delay=5)
    started = time.monotonic()
    event = fire(LangdockUsageExportTrigger(request=REQUEST, deadline=deadline_after(0.5)))
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 3


def test_export_trigger_rejects_a_bad_request_without_sending_it(langdock: LangdockSimulator) -> None:
    event = fire(LangdockUsageExportTrigger(request={**REQUEST, "data_type": "chats"}))
    assert event["error_type"] == "LangdockInputError"
    assert api_requests(langdock) == []


def test_fired_events_hide_signed_url_signatures(langdock: LangdockSimulator) -> None:
    """The triggerer logs each event's repr; the signed download URL must not leak through it."""

    async def first_event() -> Any:
        return await anext(LangdockUsageExportTrigger(request=REQUEST).run())

    event = asyncio.run(first_event())
    signed = event.payload["plan"]["download_url"]
    signature = signed.partition("signature=")[2]
    assert signature
    assert signature not in repr(event)
    assert "signature=***" in repr(event)


# -- events back to results and errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        LangdockError("generic", http_status=418),
        LangdockInputError("bad input"),
        LangdockAuthError("refused", http_status=403, api_error="Forbidden", api_message="scope"),
        LangdockNoDataError("no data", http_status=404, api_error="No data found"),
        LangdockBadRequestError("bad", http_status=400),
        LangdockExportTooLargeError("too large", row_count=1_500_000, row_limit=1_000_000, api_error="x"),
        LangdockRateLimitError("slow down", http_status=429, retry_after=12.0),
        LangdockServerError("oops", http_status=503),
        LangdockConnectionError("unreachable"),
        LangdockInvalidResponseError("garbled"),
        LangdockDownloadError("broken", http_status=403),
        LangdockTimeoutError("late"),
        LangdockSensorTimeoutError("late sensor"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_the_trip_through_an_event(error: LangdockError) -> None:
    details = json.loads(json.dumps(error_details(error)))
    rebuilt = error_from_details(details)
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    assert vars(rebuilt) == vars(error)


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (None, LangdockError, "resumed without a Langdock trigger event"),
        ("success", LangdockError, "resumed without a Langdock trigger event"),
        ({"status": "done"}, LangdockError, "unknown status 'done'"),
        ({}, LangdockError, "unknown status None"),
        ({"status": "success"}, LangdockInvalidResponseError, "success without a result"),
        (
            {"status": "success", "result": {"download_url": "x"}},
            LangdockInvalidResponseError,
            "valid result",
        ),
        ({"status": "error", "error_type": "KeyError", "message": "m"}, LangdockError, "KeyError: m"),
        ({"status": "timeout"}, LangdockTimeoutError, "deadline passed"),
    ],
)
def test_anything_but_a_success_event_raises(event: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        result_from_event(event)


# -- the event loop is never blocked ----------------------------------------------------------------


class _SlowCallbacks(logging.Handler):
    """Collects asyncio's debug-mode "Executing <...> took N seconds" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing "):
            self.messages.append(message)


@pytest.fixture
def slow_callbacks() -> Iterator[_SlowCallbacks]:
    handler = _SlowCallbacks()
    asyncio_log = logging.getLogger("asyncio")
    previous_level = asyncio_log.level
    asyncio_log.addHandler(handler)
    asyncio_log.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        asyncio_log.removeHandler(handler)
        asyncio_log.setLevel(previous_level)


def run_in_debug_mode(coroutine: Any, slow_callback_duration: float = 0.1) -> Any:
    """Run on an event loop in debug mode that reports any step taking ``slow_callback_duration`` s."""
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = slow_callback_duration
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _collect(trigger: Any) -> list[Any]:
    return [event.payload async for event in trigger.run()]


def test_triggers_never_block_the_event_loop(
    langdock: LangdockSimulator, slow_callbacks: _SlowCallbacks, scaled_sleeps: list[float]
) -> None:
    """Every answer takes 0.3 s: a blocking call anywhere would hold the loop that long."""
    fire(LangdockUsageExportTrigger(request=REQUEST))  # warm-up: first-use imports are not the subject
    langdock.inject(404, count=2, delay=0.3)
    langdock.inject(429, count=2, delay=0.3, retry_after="0")
    langdock.inject(delay=0.3, count=2)
    data_events = run_in_debug_mode(_collect(LangdockUsageDataTrigger(request=REQUEST, poll_interval=0.1)))
    export_events = run_in_debug_mode(_collect(LangdockUsageExportTrigger(request=REQUEST)))
    assert [e["status"] for e in data_events + export_events] == ["success", "success"]
    assert len(api_requests(langdock)) == 1 + 5 + 1
    assert slow_callbacks.messages == []


def test_the_blocking_check_catches_a_sync_http_call(
    langdock: LangdockSimulator, slow_callbacks: _SlowCallbacks
) -> None:
    """The check above can fail: the sync hook called from a coroutine is reported."""
    langdock.inject(delay=0.3)

    async def blocking_export() -> None:
        LangdockHook().run_export(ExportRequest.from_dict(REQUEST))

    run_in_debug_mode(blocking_export())
    assert len(slow_callbacks.messages) == 1
    assert "took 0.3" in slow_callbacks.messages[0]


_NO_REQUESTS = """
import asyncio, json, os, sys
from datetime import UTC, datetime, timedelta
from importlib.abc import MetaPathFinder
from pathlib import Path

# Airflow itself may use requests (Airflow 2 does): let it load first, then forget requests, so that
# any later import of it from the provider's own modules goes through the blocker below.
import airflow.providers.common.compat.sdk
import airflow.triggers.base
import airflow_provider_langdock
PACKAGE = str(Path(airflow_provider_langdock.__file__).parent)
for name in [m for m in sys.modules if m == "requests" or m.startswith("requests.")]:
    del sys.modules[name]

class BlockRequestsFromTheProvider(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "requests" and not name.startswith("requests."):
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
            frame = frame.f_back
        importer = frame.f_code.co_filename if frame is not None else ""
        if importer.startswith(PACKAGE):
            raise ImportError(f"{name} was imported by {importer}")
        return None

sys.meta_path.insert(0, BlockRequestsFromTheProvider())
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.triggers import usage_export

today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
request = ExportRequest.build("users", today - timedelta(days=1), today).to_dict()
with LangdockSimulator(api_key="k") as simulator:
    conn = {"conn_type": "langdock", "host": simulator.base_url, "password": "k"}
    os.environ["AIRFLOW_CONN_LANGDOCK_DEFAULT"] = json.dumps(conn)
    statuses = []
    for trigger in (
        usage_export.LangdockUsageExportTrigger(request=request),
        usage_export.LangdockUsageDataTrigger(request=request),
    ):
        async def first():
            return await anext(trigger.run())
        statuses.append(asyncio.run(first()).payload["status"])
print("RESULT", json.dumps({"statuses": statuses}))
"""


def _result(stdout: str) -> dict[str, Any]:
    line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


def test_the_trigger_path_does_not_import_requests(tmp_path: Any) -> None:
    """Importing and running both triggers works with ``requests`` made unimportable."""
    script = tmp_path / "no_requests.py"
    script.write_text(_NO_REQUESTS)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _result(done.stdout) == {"statuses": ["success", "success"]}
    # the check can fail: the sync hook's module does need requests
    blocked_sync = _NO_REQUESTS.replace(
        "from airflow_provider_langdock.triggers import usage_export",
        "from airflow_provider_langdock.hooks import langdock",
    )
    script.write_text(blocked_sync)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "requests was imported" in done.stderr
