"""The deferrable triggers against a hostile or broken server (tests/hostile.py) over real loopback HTTP.

Whatever the server answers (absurd row-cap numbers, echoed secrets, redirects, garbage record counts),
each trigger fires exactly one typed event within seconds, keeps the event loop responsive, sends a
bounded number of requests and never puts the API key into its event or its log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from airflow_provider_langdock.api import MAX_RECORD_COUNT, ExportRequest
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockError,
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockInvalidResponseError,
    LangdockServerError,
)
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.planning import MAX_PARTS
from airflow_provider_langdock.sensors.usage_export import LangdockUsageExportSensor
from airflow_provider_langdock.triggers.events import LangdockTriggerEvent, plan_from_event, result_from_event
from airflow_provider_langdock.triggers.usage_export import (
    LangdockUsageDataTrigger,
    LangdockUsageExportTrigger,
)

from .conftest import HOSTILE_KEY
from .hostile import HostileServer, export_answer, send

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
#: About 300 days ending now: 7200 whole UTC hours, so a split could make thousands of pieces.
LONG_REQUEST = ExportRequest.build("users", NOW - timedelta(days=300), NOW).to_dict()
DAY_REQUEST = ExportRequest.build("users", NOW - timedelta(days=1), NOW).to_dict()
CSV_PATH = "/export/users"
#: How long one trigger may take against a server that answers at once.
BUDGET = 3.0
#: Largest gap tolerated between two 10 ms ticks of a task sharing the trigger's event loop.
MAX_TICK_GAP = 0.25
SECRET_FORMS = (HOSTILE_KEY, f"Bearer {HOSTILE_KEY}")


# -- running a trigger -------------------------------------------------------------------------------


async def _events(trigger: Any) -> list[Any]:
    return [event async for event in trigger.run()]


def checked_payload(events: list[Any]) -> dict[str, Any]:
    """The payload of the one event a trigger must fire: a plain JSON dict without the API key."""
    assert len(events) == 1, events
    assert isinstance(events[0], LangdockTriggerEvent)
    payload = events[0].payload
    assert json.loads(json.dumps(payload)) == payload
    for secret in SECRET_FORMS:
        assert secret not in json.dumps(payload)
        assert secret not in repr(events[0])
    return dict(payload)


def fire(trigger: Any) -> dict[str, Any]:
    """Run the trigger on a fresh event loop (bounded by BUDGET); return its one event's payload."""
    started = time.monotonic()
    events = asyncio.run(asyncio.wait_for(_events(trigger), BUDGET))
    assert time.monotonic() - started < BUDGET
    return checked_payload(events)


def fire_while_ticking(trigger: Any) -> tuple[dict[str, Any], float]:
    """Run the trigger next to a task ticking every 10 ms; return its payload and the largest tick gap."""

    async def race() -> tuple[list[Any], list[float]]:
        loop = asyncio.get_running_loop()
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = loop.time()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = loop.time()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)  # the ticker is running before the trigger starts
        try:
            events = await asyncio.wait_for(_events(trigger), BUDGET)
        finally:
            done.set()
            await ticking
        return events, gaps

    started = time.monotonic()
    events, gaps = asyncio.run(race())
    assert time.monotonic() - started < BUDGET
    assert gaps
    return checked_payload(events), max(gaps)


def set_connection(monkeypatch: pytest.MonkeyPatch, host: str, extra: dict[str, Any]) -> None:
    conn = {"conn_type": "langdock", "host": host, "password": HOSTILE_KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))


def too_large(rows: Any, limit: Any) -> dict[str, str]:
    return {"error": "Bad Request", "message": f"Export too large: {rows} rows exceeds limit of {limit}"}


@pytest.fixture
def warm(hostile_conn: HostileServer) -> HostileServer:
    """The hostile connection after one throw-away trigger run: first-use imports are not the subject."""
    hostile_conn.answer("POST", CSV_PATH, 404, {"error": "No data found", "message": "none"})
    fire(LangdockUsageExportTrigger(request=DAY_REQUEST))
    hostile_conn.routes.clear()
    hostile_conn.requests.clear()
    return hostile_conn


# -- 1. absurd row-cap numbers: bounded work, a responsive event loop --------------------------------


@pytest.mark.parametrize(
    ("rows", "limit", "error_type", "message"),
    [
        (900_000_000, 1, "LangdockExportTooLargeError", f"more than {MAX_PARTS} parts"),
        (10**9, 2, "LangdockExportTooLargeError", f"more than {MAX_PARTS} parts"),
        (999_999_999_999, 1, "LangdockInvalidResponseError", "numbers make no sense"),
        (MAX_RECORD_COUNT + 1, 1000, "LangdockInvalidResponseError", "numbers make no sense"),
        ("9" * 200, 1, "LangdockInvalidResponseError", "numbers make no sense"),
        (5, 0, "LangdockInvalidResponseError", "numbers make no sense"),
        (5, 10, "LangdockInvalidResponseError", "numbers make no sense"),
        (5, 5, "LangdockInvalidResponseError", "numbers make no sense"),
    ],
)
def test_absurd_row_cap_numbers_fail_fast_without_blocking_the_loop(
    warm: HostileServer, rows: Any, limit: int, error_type: str, message: str
) -> None:
    warm.answer("POST", CSV_PATH, 400, too_large(rows, limit))
    event, largest_gap = fire_while_ticking(LangdockUsageExportTrigger(request=LONG_REQUEST))
    assert (event["status"], event["error_type"]) == ("error", error_type), event
    assert message in event["message"]
    assert event["http_status"] == 400
    assert largest_gap < MAX_TICK_GAP
    assert len(warm.received(CSV_PATH)) == 1
    expected = LangdockExportTooLargeError if error_type == "LangdockExportTooLargeError" else Exception
    with pytest.raises(expected):
        plan_from_event(event)
    if error_type == "LangdockExportTooLargeError":
        assert (event["row_count"], event["row_limit"]) == (rows, limit)


def test_a_range_that_stays_too_large_gives_up_at_one_hour(warm: HostileServer) -> None:
    """Every part, however small, is "too large": the depth-first split ends at one UTC hour."""
    warm.answer("POST", CSV_PATH, 400, too_large(2_000, 1_000))
    event, largest_gap = fire_while_ticking(LangdockUsageExportTrigger(request=LONG_REQUEST))
    assert (event["status"], event["error_type"]) == ("error", "LangdockExportTooLargeError")
    assert "cannot be split further" in event["message"]
    assert largest_gap < MAX_TICK_GAP
    # 7200 h -> 2400 -> 800 -> 267 -> 89 -> 30 -> 10 -> 3 -> 1: a logarithmic number of requests
    assert 2 <= len(warm.received(CSV_PATH)) <= 12


def test_a_split_into_twenty_parts_keeps_the_loop_responsive(warm: HostileServer) -> None:
    """The first answer asks for twenty parts; each part then succeeds (the server answers slowly,
    about 40 ms a request on loopback, so twenty parts keep the test short)."""
    answered = []

    def respond(handler: BaseHTTPRequestHandler) -> None:
        answered.append(handler.path)
        if len(answered) == 1:
            send(handler, 400, json.dumps(too_large(18_000, 1_000)).encode())
        else:
            body = export_answer("http://127.0.0.1:1/file.csv?signature=abc", record_count=900)
            send(handler, 200, json.dumps(body).encode())

    warm.route("POST", CSV_PATH, respond)
    event, largest_gap = fire_while_ticking(LangdockUsageExportTrigger(request=LONG_REQUEST))
    assert event["status"] == "success", event
    plan = plan_from_event(event)
    assert plan.is_split
    assert len(plan.parts) == len(warm.received(CSV_PATH)) - 1 == 20
    assert plan.record_count == 18_000
    assert largest_gap < MAX_TICK_GAP


@pytest.mark.parametrize(
    ("rows", "limit", "status", "error_type"),
    [
        (900_000_000, 1, "success", None),
        (999_999_999_999, 1, "error", "LangdockInvalidResponseError"),
        (5, 0, "error", "LangdockInvalidResponseError"),
        (5, 10, "error", "LangdockInvalidResponseError"),
    ],
)
def test_the_data_trigger_reads_row_cap_numbers_as_carefully(
    warm: HostileServer, rows: int, limit: int, status: str, error_type: str | None
) -> None:
    warm.answer("POST", CSV_PATH, 400, too_large(rows, limit))
    event, largest_gap = fire_while_ticking(LangdockUsageDataTrigger(request=LONG_REQUEST, poll_interval=0))
    assert (event["status"], event.get("error_type")) == (status, error_type), event
    if status == "success":
        assert event["result"]["record_count"] == rows
        assert event["result"]["download_url"] is None
    assert largest_gap < MAX_TICK_GAP
    assert len(warm.received(CSV_PATH)) == 1


# -- 2. secrets the server echoes never reach the event or the log -----------------------------------


def echo_authorization(status: int) -> Any:
    """A responder that sends the request's Authorization header back in an HTML page."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        page = (
            "<html><body><h1>Internal error</h1>"
            f"<pre>Authorization: {handler.headers['Authorization']}\n"
            f"you sent {handler.headers['Authorization']}</pre></body></html>"
        )
        send(handler, status, page.encode(), {"Content-Type": "text/html"})

    return respond


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything logged so far: stdlib records (Airflow 2) and what structlog printed (Airflow 3)."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        out, err = capfd.readouterr()
        return "\n".join([caplog.text, *(record.getMessage() for record in caplog.records), out, err])

    return text


def assert_no_secret_logged(logged: str) -> None:
    assert "Requesting the Langdock" in logged  # the log was captured: the check below can fail
    for secret in SECRET_FORMS:
        assert secret not in logged


def test_a_key_echoed_in_a_401_message_is_redacted(
    hostile_conn: HostileServer, logs: Callable[[], str]
) -> None:
    hostile_conn.answer(
        "POST", CSV_PATH, 401, {"error": f"Bearer {HOSTILE_KEY}", "message": f"Invalid API key {HOSTILE_KEY}"}
    )
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"], event["http_status"]) == ("error", "LangdockAuthError", 401)
    assert "Invalid API key" in event["api_message"]
    # the request did carry the key: the redaction, not the transport, kept it out of the event
    (sent,) = hostile_conn.received(CSV_PATH)
    assert sent.headers["Authorization"] == f"Bearer {HOSTILE_KEY}"
    with pytest.raises(LangdockAuthError) as raised:
        result_from_event(event)
    assert HOSTILE_KEY not in str(raised.value)
    assert_no_secret_logged(logs())


@pytest.mark.parametrize("status", [500, 503])
def test_an_authorization_header_echoed_in_a_5xx_page_is_redacted(
    hostile_conn: HostileServer, logs: Callable[[], str], status: int
) -> None:
    hostile_conn.route("POST", CSV_PATH, echo_authorization(status))
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", "LangdockServerError"), event
    assert event["http_status"] == status
    assert "Internal error" in event["message"]
    assert len(hostile_conn.received(CSV_PATH)) == 1
    with pytest.raises(LangdockServerError):
        result_from_event(event)
    assert_no_secret_logged(logs())


def test_the_data_trigger_redacts_an_echoed_key_too(
    hostile_conn: HostileServer, logs: Callable[[], str]
) -> None:
    hostile_conn.answer(
        "POST", CSV_PATH, 403, {"error": "Forbidden", "message": f"key {HOSTILE_KEY} lacks scope"}
    )
    event = fire(LangdockUsageDataTrigger(request=DAY_REQUEST, poll_interval=0))
    assert (event["status"], event["error_type"], event["http_status"]) == ("error", "LangdockAuthError", 403)
    assert_no_secret_logged(logs())


def test_a_key_in_a_redirect_location_is_redacted(hostile_conn: HostileServer) -> None:
    hostile_conn.answer("POST", CSV_PATH, 302, b"", {"Location": f"https://{HOSTILE_KEY}.evil.example/steal"})
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", "LangdockError")
    assert "redirected to" in event["message"]


# -- 3. the connection itself is broken --------------------------------------------------------------


def test_an_unknown_connection_is_an_input_error_event(hostile: HostileServer) -> None:
    trigger = LangdockUsageExportTrigger(request=DAY_REQUEST, langdock_conn_id="no_such_conn")
    event = fire(trigger)  # run() itself did not raise
    assert (event["status"], event["error_type"]) == ("error", "LangdockInputError"), event
    assert "'no_such_conn'" in event["message"]
    with pytest.raises(LangdockInputError, match="no_such_conn"):
        plan_from_event(event)
    assert hostile.requests == []


def test_the_data_trigger_reports_an_unknown_connection_too() -> None:
    event = fire(LangdockUsageDataTrigger(request=DAY_REQUEST, langdock_conn_id="no_such_conn"))
    assert (event["status"], event["error_type"]) == ("error", "LangdockInputError"), event
    assert "'no_such_conn'" in event["message"]


@pytest.mark.parametrize(
    "host", ["https://user:s3cret@127.0.0.1:1", "user:s3cret@127.0.0.1:1", "http://:s3cret@127.0.0.1:1/api"]
)
def test_credentials_in_the_host_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch, logs: Callable[[], str], host: str
) -> None:
    set_connection(monkeypatch, host, {"max_attempts": 1})
    for trigger in (
        LangdockUsageExportTrigger(request=DAY_REQUEST),
        LangdockUsageDataTrigger(request=DAY_REQUEST),
    ):
        event = fire(trigger)
        assert (event["status"], event["error_type"]) == ("error", "LangdockInputError"), event
        assert "must not carry a user name or password" in event["message"]
        assert "s3cret" not in json.dumps(event)
    assert "s3cret" not in logs()


def test_an_unknown_connection_is_not_an_unexpected_failure(logs: Callable[[], str]) -> None:
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, langdock_conn_id="no_such_conn"))
    assert event["error_type"] == "LangdockInputError"
    assert "failed unexpectedly" not in logs()  # the typed path, not the catch-all with a traceback


# -- 4. non-finite settings are refused where they are written ---------------------------------------


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), "abc", "5", -1, -0.5, True, None]
)
def test_the_export_trigger_refuses_a_bad_retry_window(value: Any) -> None:
    with pytest.raises(LangdockInputError, match="retry_window"):
        LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", -1, timedelta(seconds=-1)])
def test_the_data_trigger_refuses_a_bad_poll_interval(value: Any) -> None:
    with pytest.raises(LangdockInputError, match="poll_interval"):
        LangdockUsageDataTrigger(request=DAY_REQUEST, poll_interval=value)


def test_good_settings_survive_serialization() -> None:
    trigger = LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=timedelta(minutes=2))
    assert trigger.serialize()[1]["retry_window"] == 120.0
    trigger = LangdockUsageDataTrigger(request=DAY_REQUEST, poll_interval=0)
    assert trigger.serialize()[1]["poll_interval"] == 0.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", -1, timedelta(seconds=-5)])
def test_the_sensor_refuses_a_bad_poke_interval_at_parse_time(value: Any) -> None:
    with pytest.raises(LangdockInputError, match="poke_interval"):
        LangdockUsageExportSensor(task_id="wait", data_type="users", poke_interval=value)


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), "abc", -1])
def test_the_sensor_refuses_a_bad_timeout_at_parse_time(value: Any) -> None:
    with pytest.raises(LangdockInputError, match="timeout"):
        LangdockUsageExportSensor(task_id="wait", data_type="users", timeout=value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", -1, timedelta(seconds=-1)])
def test_the_operator_refuses_a_bad_retry_window_at_parse_time(value: Any) -> None:
    with pytest.raises(LangdockInputError, match="retry_window"):
        LangdockUsageExportOperator(task_id="export", data_type="users", retry_window=value)


# -- 5. answers outside the contract: redirects, garbage counts, another data type -------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_and_never_followed(hostile_conn: HostileServer, status: int) -> None:
    # "localhost" reaches the same server: had the client followed, /stolen would have seen the key
    port = hostile_conn.base_url.rsplit(":", 1)[1]
    hostile_conn.answer("POST", CSV_PATH, status, b"", {"Location": f"http://localhost:{port}/stolen"})
    hostile_conn.answer("POST", "/stolen", 200, export_answer("http://127.0.0.1:1/f.csv"))
    hostile_conn.answer("GET", "/stolen", 200, export_answer("http://127.0.0.1:1/f.csv"))
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"], event["http_status"]) == ("error", "LangdockError", status)
    assert "redirected to localhost" in event["message"]
    assert len(hostile_conn.requests) == 1
    assert hostile_conn.received("/stolen") == []
    with pytest.raises(LangdockError, match="redirected to localhost"):
        plan_from_event(event)


def test_a_redirect_without_a_location_is_an_error(hostile_conn: HostileServer) -> None:
    hostile_conn.answer("POST", CSV_PATH, 307, b"")
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", "LangdockError")
    assert "redirected to an unnamed location" in event["message"]
    assert len(hostile_conn.requests) == 1


def test_the_data_trigger_does_not_follow_a_redirect_either(hostile_conn: HostileServer) -> None:
    hostile_conn.answer("POST", CSV_PATH, 302, b"", {"Location": "https://evil.example/x"})
    event = fire(LangdockUsageDataTrigger(request=DAY_REQUEST, poll_interval=0))
    assert (event["status"], event["error_type"]) == ("error", "LangdockError")
    assert "redirected to evil.example" in event["message"]
    assert len(hostile_conn.requests) == 1


@pytest.mark.parametrize(
    "record_count",
    [-1, 10**12, MAX_RECORD_COUNT + 1, "many", "1e3", 1.5, None, True, [], {"n": 1}, "9" * 5000],
    ids=lambda value: repr(value)[:20],
)
def test_a_garbage_record_count_is_an_invalid_response(
    hostile_conn: HostileServer, record_count: Any
) -> None:
    hostile_conn.answer("POST", CSV_PATH, 200, export_answer("http://127.0.0.1:1/f.csv", record_count))
    for trigger in (
        LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0),
        LangdockUsageDataTrigger(request=DAY_REQUEST, poll_interval=0),
    ):
        event = fire(trigger)
        assert (event["status"], event["error_type"]) == ("error", "LangdockInvalidResponseError"), event
        assert len(event["message"]) < 1000  # a huge value is not copied whole into the event
        with pytest.raises(LangdockInvalidResponseError):
            result_from_event(event)
    assert len(hostile_conn.received(CSV_PATH)) == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b""),
        (204, b""),
        (200, b"<html>maintenance</html>"),
        (200, b"[]"),
        (200, b'{"success": false, "error": "nope"}'),
        (200, b'{"success": true}'),
        (200, json.dumps(export_answer("javascript:alert(1)")).encode()),
        (200, json.dumps(export_answer("file:///etc/passwd")).encode()),
    ],
)
def test_a_2xx_outside_the_contract_is_an_invalid_response(
    hostile_conn: HostileServer, status: int, body: bytes
) -> None:
    hostile_conn.answer("POST", CSV_PATH, status, body)
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", "LangdockInvalidResponseError"), event
    assert len(hostile_conn.received(CSV_PATH)) == 1


def test_an_answer_for_another_data_type_is_a_success_with_a_warning(
    hostile_conn: HostileServer, logs: Callable[[], str]
) -> None:
    answer = export_answer("http://127.0.0.1:1/f.csv", record_count=7, data_type="assistants")
    hostile_conn.answer("POST", CSV_PATH, 200, answer)
    warning = "with dataType 'assistants'; the file is taken as asked"
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST))
    assert event["status"] == "success", event
    plan = plan_from_event(event)
    assert (plan.record_count, plan.data_type) == (7, "assistants")
    logged = logs()
    assert warning in logged
    assert "failed unexpectedly" not in logged
    data_event = fire(LangdockUsageDataTrigger(request=DAY_REQUEST))
    assert data_event["status"] == "success", data_event
    assert result_from_event(data_event).record_count == 7
    logged = logs()
    assert warning in logged
    assert "failed unexpectedly" not in logged


# -- 6. non-finite connection extras ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_retry_wait", "nan"),
        ("max_retry_wait", "inf"),
        ("max_retry_wait", "-1"),
        ("timeout", "inf"),
        ("timeout", "nan"),
        ("timeout", "0"),
        ("timeout", "soon"),
        ("max_attempts", "nan"),
        ("max_attempts", "0"),
        ("max_attempts", "2.5"),
        ("download_timeout", "-inf"),
        ("extra__langdock__timeout", "nan"),  # Airflow 2's form field name
    ],
)
def test_a_non_finite_connection_extra_is_an_input_error_before_any_request(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    hostile.answer("POST", CSV_PATH, 200, export_answer("http://127.0.0.1:1/f.csv"))
    set_connection(monkeypatch, hostile.base_url, {name: value})
    shown = name.removeprefix("extra__langdock__")
    for trigger in (
        LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0),
        LangdockUsageDataTrigger(request=DAY_REQUEST, poll_interval=0),
    ):
        event = fire(trigger)
        assert (event["status"], event["error_type"]) == ("error", "LangdockInputError"), event
        assert f"Connection extra {shown!r}" in event["message"]
        assert repr(value) in event["message"]
    assert hostile.requests == []


def test_the_extras_check_can_pass(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same extras as numbers in strings, finite: the export goes through."""
    hostile.answer("POST", CSV_PATH, 200, export_answer("http://127.0.0.1:1/f.csv"))
    extra = {"max_retry_wait": "0", "timeout": "5", "max_attempts": "1", "download_timeout": "30"}
    set_connection(monkeypatch, hostile.base_url, extra)
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert event["status"] == "success", event
    assert len(hostile.received(CSV_PATH)) == 1


# -- 7. answers built to cost: infinite waits, bad redirects, deep JSON, backtracking, huge text ------


@pytest.mark.parametrize(
    "retry_after",
    [
        "120",
        "nan",
        "inf",
        "1e400",
    ],
)
def test_a_retry_after_beyond_the_calendar_keeps_the_event_finite(
    hostile_conn: HostileServer, retry_after: str
) -> None:
    hostile_conn.answer("POST", CSV_PATH, 503, {"error": "Busy"}, {"Retry-After": retry_after})
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", "LangdockServerError"), event
    json.dumps(event, allow_nan=False)  # strict JSON, as a metadata database stores it
    assert event["retry_after"] is None or math.isfinite(event["retry_after"])
    assert len(hostile_conn.received(CSV_PATH)) == 1


@pytest.mark.parametrize("location", ["http://[::1/stolen", "https://[evil.example/"])
def test_a_redirect_to_a_malformed_location_is_still_a_redirect_error(
    hostile_conn: HostileServer, logs: Callable[[], str], location: str
) -> None:
    hostile_conn.answer("POST", CSV_PATH, 302, b"", {"Location": location})
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"], event["http_status"]) == ("error", "LangdockError", 302)
    assert "redirected to" in event["message"]
    assert "failed unexpectedly" not in logs()


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(200, "LangdockInvalidResponseError"), (500, "LangdockServerError"), (400, "LangdockBadRequestError")],
)
def test_deeply_nested_json_is_read_as_a_broken_answer(
    hostile_conn: HostileServer, status: int, error_type: str
) -> None:
    hostile_conn.answer("POST", CSV_PATH, status, b"[" * 100_000)
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", error_type), event


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (400, b"1 " * 8_000, "LangdockBadRequestError"),
        (
            400,
            json.dumps({"error": "Bad Request", "message": "1 " * 8_000}).encode(),
            "LangdockBadRequestError",
        ),
        (500, json.dumps({"error": "Internal", "message": "?sig" * 450}).encode(), "LangdockServerError"),
        (500, json.dumps({"error": "Internal", "message": "a-" * 5_000}).encode(), "LangdockServerError"),
    ],
    ids=["row-cap-text", "row-cap-json", "signed-query", "url-userinfo"],
)
def test_error_text_built_to_backtrack_does_not_block_the_loop(
    warm: HostileServer, status: int, body: bytes, error_type: str
) -> None:
    warm.answer("POST", CSV_PATH, status, body)
    event, largest_gap = fire_while_ticking(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert (event["status"], event["error_type"]) == ("error", error_type), event
    assert largest_gap < MAX_TICK_GAP


@pytest.mark.parametrize("status", [500, 400, 200])
def test_the_event_stays_small_whatever_the_server_says(hostile_conn: HostileServer, status: int) -> None:
    body = {"success": False, "error": "E" * 1_000, "message": "x" * 1_000_000}
    hostile_conn.answer("POST", CSV_PATH, status, body)
    event = fire(LangdockUsageExportTrigger(request=DAY_REQUEST, retry_window=0))
    assert event["status"] == "error"
    assert len(json.dumps(event)) < 64 * 1024
