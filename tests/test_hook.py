"""LangdockHook against the local Langdock simulator over real loopback HTTP."""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_langdock import __version__
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
    LangdockServerError,
)
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.testing import LangdockSimulator

API_KEY = "test-key"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    password: str | None = API_KEY,
    conn_id: str = "langdock_default",
    **extra: object,
) -> None:
    conn: dict[str, object] = {"conn_type": "langdock", "host": host, "extra": extra}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def hook(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]
) -> Iterator[LangdockHook]:
    set_connection(monkeypatch, simulator.base_url)
    langdock = LangdockHook()
    yield langdock
    langdock.close()


def api_requests(simulator: LangdockSimulator) -> list:
    return [r for r in simulator.requests if r.server == "api"]


# -- data types and routes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "path", "response_type"),
    [
        ("users", "/export/users", "users"),
        ("agents", "/export/agents", "agents"),
        ("assistants", "/export/assistants", "assistants"),
        ("api_keys", "/export/api-keys", "api_keys"),
        ("api-keys", "/export/api-keys", "api_keys"),
        ("projects", "/export/projects", "projects"),
        ("models", "/export/models", "models"),
    ],
)
def test_every_data_type_exports(
    hook: LangdockHook, simulator: LangdockSimulator, data_type: str, path: str, response_type: str
) -> None:
    result = hook.export_usage(data_type, YESTERDAY, TODAY)
    assert result.data_type == response_type
    assert result.record_count == 100
    assert result.download_url.startswith(simulator.download_base_url)
    assert result.date_range["from"].startswith(YESTERDAY.strftime("%Y-%m-%dT00:00:00"))
    (request,) = api_requests(simulator)
    assert request.method == "POST"
    assert request.path == path
    assert request.json == {
        "from": {"date": YESTERDAY.strftime("%Y-%m-%dT00:00:00.000Z"), "timezone": "UTC"},
        "to": {"date": TODAY.strftime("%Y-%m-%dT00:00:00.000Z"), "timezone": "UTC"},
    }
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith(f"airflow-provider-langdock/{__version__}")


def test_workflows_without_data_is_a_no_data_error(hook: LangdockHook) -> None:
    with pytest.raises(LangdockNoDataError, match="No usage data found"):
        hook.export_usage("workflows", YESTERDAY, TODAY)


def test_json_route_returns_the_same_rows_as_the_csv(
    hook: LangdockHook, simulator: LangdockSimulator
) -> None:
    records = hook.export_usage_records("models", YESTERDAY, TODAY, group_by="source")
    assert records.data_type == "models"
    assert records.record_count == len(records.records) == 100
    assert api_requests(simulator)[-1].path == "/export/models/json"
    csv_rows = list(
        csv.DictReader(io.StringIO(simulator.csv_bytes("models", YESTERDAY, TODAY, "source").decode()))
    )
    assert [row["source"] for row in csv_rows] == [str(row["source"]) for row in records.records]


def test_group_by_goes_to_the_api(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    hook.export_usage("users", YESTERDAY, TODAY, group_by="model")
    assert api_requests(simulator)[-1].json["group_by"] == "model"


def test_deployment_grouping_outside_byok_is_the_apis_bad_request(hook: LangdockHook) -> None:
    with pytest.raises(LangdockBadRequestError) as caught:
        hook.export_usage("models", YESTERDAY, TODAY, group_by="deployment")
    assert caught.value.http_status == 400


def test_dedicated_deployment_base_url_with_path(
    monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]
) -> None:
    with LangdockSimulator(api_key=API_KEY, path_prefix="/api/public") as sim:
        set_connection(monkeypatch, sim.base_url + "/")
        assert sim.base_url.endswith("/api/public")
        result = LangdockHook().export_usage("projects", YESTERDAY, TODAY)
        assert result.record_count == 100
        assert sim.requests[-1].path == "/api/public/export/projects"


def test_wall_time_in_timezone_reaches_the_api(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    start = datetime(TODAY.year, TODAY.month, TODAY.day) - timedelta(days=2)
    hook.export_usage("users", start, start + timedelta(days=1), timezone="Europe/Berlin")
    body = api_requests(simulator)[-1].json
    assert body["from"] == {"date": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "timezone": "Europe/Berlin"}


# -- input checked before any request -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_type": "chats"}, "data_type 'chats' is not supported"),
        (
            {"data_type": "projects", "group_by": "model"},
            "group_by is not supported for data_type 'projects'",
        ),
        ({"date_from": TODAY, "date_to": YESTERDAY}, "must be before date_to"),
        (
            {"date_from": "2026-01-01T00:00:00", "date_to": "2026-01-02T00:00:00+05:00", "timezone": "UTC"},
            "mix a naive and an aware value",
        ),
        ({"timezone": "Mars/Base"}, "timezone 'Mars/Base'"),
        ({"date_from": TODAY - timedelta(days=400), "date_to": TODAY}, "more than 12 months"),
    ],
)
def test_bad_input_sends_no_request(
    hook: LangdockHook, simulator: LangdockSimulator, kwargs: dict, message: str
) -> None:
    args = {"data_type": "users", "date_from": YESTERDAY, "date_to": TODAY, **kwargs}
    with pytest.raises(LangdockInputError, match=message):
        hook.export_usage(**args)
    assert simulator.requests == []


@pytest.mark.parametrize(
    ("host", "password", "message"),
    [
        (None, "", "has no API key"),
        (None, None, "has no API key"),
        ("ftp://api.langdock.com", API_KEY, r"Base URL \(host\) 'ftp://api.langdock.com' is malformed"),
        ("https://exa mple.com", API_KEY, "is malformed"),
    ],
)
def test_bad_connection_sends_no_request(
    simulator: LangdockSimulator,
    monkeypatch: pytest.MonkeyPatch,
    host: str | None,
    password: str | None,
    message: str,
) -> None:
    set_connection(monkeypatch, host or simulator.base_url, password=password)
    with pytest.raises(LangdockInputError, match=message):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert simulator.requests == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout": "soon"}, "extra 'timeout' must be a finite number greater than 0"),
        ({"timeout": 0}, "extra 'timeout' must be a finite number greater than 0"),
        ({"timeout": "nan"}, "extra 'timeout' must be a finite number greater than 0"),
        ({"timeout": "inf"}, "extra 'timeout' must be a finite number greater than 0"),
        ({"max_attempts": 2.5}, "extra 'max_attempts' must be a whole number"),
        ({"max_attempts": "inf"}, "extra 'max_attempts' must be a whole number"),
        ({"max_retry_wait": -1}, "extra 'max_retry_wait' must be a finite number at least 0"),
        ({"max_retry_wait": "nan"}, "extra 'max_retry_wait' must be a finite number at least 0"),
        ({"download_timeout": "-inf"}, "extra 'download_timeout' must be a finite number greater than 0"),
        ({"proxies": "http://proxy"}, "'proxies' must be a JSON object"),
    ],
)
def test_bad_extras_name_the_setting(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, extra: dict, message: str
) -> None:
    set_connection(monkeypatch, simulator.base_url, **extra)
    with pytest.raises(LangdockInputError, match=message):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)


def test_extras_and_arguments_configure_the_hook(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch,
        simulator.base_url,
        timeout="12.5",
        extra__langdock__max_attempts="3",
        max_retry_wait=7,
        verify="false",
        proxies={"https": "http://proxy.internal:3128"},
    )
    settings = LangdockHook().settings
    assert settings.timeout == 12.5
    assert settings.retry.max_attempts == 3
    assert settings.retry.max_wait == 7
    assert settings.verify is False
    assert settings.proxies == {"https": "http://proxy.internal:3128"}
    assert LangdockHook(timeout=3, max_attempts=1, max_retry_wait=0).settings.retry.max_attempts == 1


# -- errors from the API ---------------------------------------------------------------------------


def test_wrong_key_is_an_auth_error(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, simulator.base_url, password="wrong-key")
    with pytest.raises(LangdockAuthError, match="401 .*Invalid or missing API key") as caught:
        LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert caught.value.api_error == "Unauthorized"
    assert len(simulator.requests) == 1  # never retried


def test_period_without_data_is_a_no_data_error(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    simulator.set_data_window(None, YESTERDAY - timedelta(days=3))
    with pytest.raises(LangdockNoDataError) as caught:
        hook.export_usage("users", YESTERDAY, TODAY)
    assert caught.value.api_error == "No data found"
    assert len(simulator.requests) == 1


def test_row_cap_is_export_too_large(monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]) -> None:
    with LangdockSimulator(api_key=API_KEY, row_count=1500, row_cap=1000) as sim:
        set_connection(monkeypatch, sim.base_url)
        with pytest.raises(LangdockExportTooLargeError, match="1500 rows exceeds limit of 1000") as caught:
            LangdockHook().export_usage("users", YESTERDAY, TODAY)
        assert (caught.value.row_count, caught.value.row_limit) == (1500, 1000)
        assert len(sim.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_never_retried(
    hook: LangdockHook, simulator: LangdockSimulator, status: int
) -> None:
    simulator.inject(status, count=3)
    with pytest.raises((LangdockBadRequestError, LangdockAuthError, LangdockNoDataError)):
        hook.export_usage("users", YESTERDAY, TODAY)
    assert len(simulator.requests) == 1


def test_success_false_is_an_invalid_response(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    simulator.inject(200, body={"success": False, "error": "Internal", "message": "export failed"})
    with pytest.raises(LangdockInvalidResponseError, match="export failed"):
        hook.export_usage("users", YESTERDAY, TODAY)


def test_non_json_body_is_an_invalid_response(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    simulator.inject(200, body="<html>maintenance</html>")
    with pytest.raises(LangdockInvalidResponseError, match="not JSON"):
        hook.export_usage("users", YESTERDAY, TODAY)


# -- retries ---------------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_is_honoured(
    hook: LangdockHook, simulator: LangdockSimulator, recorded_waits: list[float]
) -> None:
    simulator.inject(429, count=2, retry_after="3")
    assert hook.export_usage("users", YESTERDAY, TODAY).record_count == 100
    assert recorded_waits == [3.0, 3.0]
    assert len(simulator.requests) == 3


def test_429_with_retry_after_http_date_is_honoured(
    hook: LangdockHook, simulator: LangdockSimulator, recorded_waits: list[float]
) -> None:
    from email.utils import format_datetime

    simulator.inject(429, retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True))
    hook.export_usage("users", YESTERDAY, TODAY)
    assert len(recorded_waits) == 1
    assert 17 <= recorded_waits[0] <= 20


def test_retry_after_is_capped(
    hook: LangdockHook, simulator: LangdockSimulator, recorded_waits: list[float]
) -> None:
    simulator.inject(429, retry_after="3600")
    hook.export_usage("users", YESTERDAY, TODAY)
    assert recorded_waits == [60.0]


def test_429_without_retry_after_backs_off_exponentially(
    hook: LangdockHook, simulator: LangdockSimulator, recorded_waits: list[float]
) -> None:
    simulator.inject(429, count=4)
    hook.export_usage("users", YESTERDAY, TODAY)
    assert len(recorded_waits) == 4
    for attempt, wait in enumerate(recorded_waits):
        assert 2**attempt <= wait <= 2**attempt + 1  # initial 1 s, doubling, up to 1 s of jitter


def test_429_storm_ends_as_rate_limit_error(
    hook: LangdockHook, simulator: LangdockSimulator, recorded_waits: list[float]
) -> None:
    simulator.inject(429, count=10)
    with pytest.raises(LangdockRateLimitError, match="429"):
        hook.export_usage("users", YESTERDAY, TODAY)
    assert len(simulator.requests) == 5
    assert len(recorded_waits) == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(hook: LangdockHook, simulator: LangdockSimulator, status: int) -> None:
    simulator.inject(status, count=2)
    assert hook.export_usage("users", YESTERDAY, TODAY).record_count == 100
    assert len(simulator.requests) == 3


def test_persistent_server_error(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]
) -> None:
    set_connection(monkeypatch, simulator.base_url, max_attempts=3)
    simulator.inject(503, count=5)
    with pytest.raises(LangdockServerError, match="503"):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert len(simulator.requests) == 3


def test_501_is_not_retried(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    simulator.inject(501, count=3)
    with pytest.raises(LangdockServerError, match="501"):
        hook.export_usage("users", YESTERDAY, TODAY)
    assert len(simulator.requests) == 1


def test_reset_connection_is_retried(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    simulator.inject(reset=True, count=2)
    assert hook.export_usage("users", YESTERDAY, TODAY).record_count == 100


def test_read_timeout_is_retried(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]
) -> None:
    set_connection(monkeypatch, simulator.base_url, timeout=0.5)
    simulator.inject(delay=1.5)
    assert LangdockHook().export_usage("users", YESTERDAY, TODAY).record_count == 100
    assert len(recorded_waits) == 1


def test_unreachable_host_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]
) -> None:
    set_connection(monkeypatch, f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(LangdockConnectionError, match="Could not reach Langdock"):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert len(recorded_waits) == 1


def test_each_retry_is_logged_with_its_reason(
    hook: LangdockHook,
    simulator: LangdockSimulator,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.inject(503, retry_after="2")
    hook.export_usage("users", YESTERDAY, TODAY)
    logged = caplog.text + "".join(capfd.readouterr())
    assert "failed (attempt 1 of 5)" in logged
    assert "503" in logged
    assert "retrying in 2.0 s" in logged


# -- downloads -------------------------------------------------------------------------------------


def test_download_streams_the_file_without_authorization(
    hook: LangdockHook, simulator: LangdockSimulator
) -> None:
    result = hook.export_usage("users", YESTERDAY, TODAY)
    chunks = list(hook.iter_download(result.download_url, chunk_size=1024))
    assert b"".join(chunks) == simulator.csv_bytes("users", YESTERDAY, TODAY)
    assert max(len(chunk) for chunk in chunks) <= 1024
    downloads = [r for r in simulator.requests if r.server == "download"]
    assert len(downloads) == 1
    assert "authorization" not in {name.lower() for name in downloads[0].headers}


def test_expired_download_url(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    result = hook.export_usage("users", YESTERDAY, TODAY)
    simulator.expire_download_urls()
    with pytest.raises(LangdockDownloadError, match="403") as caught:
        b"".join(hook.iter_download(result.download_url))
    assert caught.value.http_status == 403
    assert "signature=" not in str(caught.value) or "signature=***" in str(caught.value)


def test_tampered_signature_is_refused(hook: LangdockHook) -> None:
    result = hook.export_usage("users", YESTERDAY, TODAY)
    with pytest.raises(LangdockDownloadError, match="403"):
        b"".join(hook.iter_download(result.download_url.replace("signature=", "signature=00")))


def test_truncated_download_resumes_where_it_broke_off(
    hook: LangdockHook, simulator: LangdockSimulator
) -> None:
    result = hook.export_usage("users", YESTERDAY, TODAY)
    simulator.inject_download(truncate_after=100)
    data = b"".join(hook.iter_download(result.download_url, chunk_size=10))
    assert data == simulator.csv_bytes("users", YESTERDAY, TODAY)
    downloads = [r for r in simulator.requests if r.server == "download"]
    assert [r.headers.get("Range") for r in downloads] == [None, "bytes=100-"]


def test_download_that_keeps_breaking_off_is_an_error(
    hook: LangdockHook, simulator: LangdockSimulator, recorded_waits: list[float]
) -> None:
    result = hook.export_usage("users", YESTERDAY, TODAY)
    size = len(simulator.csv_bytes("users", YESTERDAY, TODAY))
    simulator.inject_download(truncate_after=100, count=10)
    with pytest.raises(LangdockDownloadError, match=rf"broke off after 500 of {size} bytes .* 5 attempts"):
        b"".join(hook.iter_download(result.download_url, chunk_size=10))
    assert len([r for r in simulator.requests if r.server == "download"]) == 5
    assert len(recorded_waits) == 4
    for attempt, wait in enumerate(recorded_waits):  # the requests' backoff: doubling, with jitter
        assert 2**attempt <= wait <= 2**attempt + 1


def test_download_server_errors_are_retried(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    result = hook.export_usage("users", YESTERDAY, TODAY)
    simulator.inject_download(503, count=2)
    assert b"".join(hook.iter_download(result.download_url)) == simulator.csv_bytes("users", YESTERDAY, TODAY)


# -- test_connection -------------------------------------------------------------------------------


def test_connection_ok(hook: LangdockHook) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert "API key is valid" in message


def test_connection_ok_without_usage_data(hook: LangdockHook, simulator: LangdockSimulator) -> None:
    simulator.set_data_window(None, TODAY - timedelta(days=30))
    ok, message = hook.test_connection()
    assert ok, message
    assert "no usage data" in message


def test_connection_bad_key(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, simulator.base_url, password="wrong-key")
    ok, message = LangdockHook().test_connection()
    assert not ok
    assert "refused the API key" in message
    assert "wrong-key" not in message


def test_connection_unreachable(monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]) -> None:
    set_connection(monkeypatch, f"http://127.0.0.1:{free_port()}")
    ok, message = LangdockHook().test_connection()
    assert not ok
    assert message.startswith("Cannot reach http://127.0.0.1:")


def test_connection_missing_key(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, simulator.base_url, password="")
    ok, message = LangdockHook().test_connection()
    assert not ok
    assert "has no API key" in message


# -- secret hygiene --------------------------------------------------------------------------------

SECRET = "ld-SECRET-key-0123456789"


def test_api_key_never_appears_in_logs_errors_or_reprs(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    recorded_waits: list[float],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with LangdockSimulator(api_key=SECRET, row_cap=50) as sim:
        set_connection(monkeypatch, sim.base_url, password=SECRET, max_attempts=2)
        hook = LangdockHook()
        texts += [repr(hook), repr(hook.settings), repr(hook.get_conn().auth), str(hook.get_conn().headers)]
        sim.inject(429, count=1)
        sim.inject(500, count=1)
        sim.inject(reset=True)
        for call in (
            lambda: hook.export_usage("users", YESTERDAY, TODAY),  # 429, 500: fails after 2 attempts
            lambda: hook.export_usage("users", YESTERDAY, TODAY),  # reset, then cap exceeded
            lambda: hook.export_usage("models", YESTERDAY, TODAY, group_by="deployment"),
            lambda: hook.export_usage_records("workflows", YESTERDAY, TODAY),
        ):
            with pytest.raises(LangdockError) as caught:
                call()
            texts += [str(caught.value), repr(caught.value), str(caught.value.__cause__)]
        with LangdockSimulator(api_key=SECRET) as ok_sim:
            set_connection(monkeypatch, ok_sim.base_url, password=SECRET)
            good = LangdockHook()
            result = good.export_usage("users", YESTERDAY, TODAY)
            texts += [repr(result), str(result.to_dict()), str(good.test_connection())]
            b"".join(good.iter_download(result.download_url))
            ok_sim.expire_download_urls()
            with pytest.raises(LangdockDownloadError) as expired:
                b"".join(good.iter_download(result.download_url))
            texts += [str(expired.value)]
            downloads = [r for r in ok_sim.requests if r.server == "download"]
            assert downloads
            assert all("authorization" not in {h.lower() for h in r.headers} for r in downloads)
            signature = result.download_url.split("signature=")[1].split("&")[0]
    out, err = capfd.readouterr()
    everything = "\n".join([*texts, caplog.text, out, err])
    assert SECRET not in everything
    assert signature not in caplog.text + out + err
    assert "signature=***" in caplog.text + out + err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
