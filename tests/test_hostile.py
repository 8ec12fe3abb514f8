"""The sync hook, downloads and the operator against a hostile or broken server (tests/hostile.py).

Each case ends within seconds with a typed error that names the cause and holds no secret, or with
the right file; no credential reaches the storage host.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from airflow_provider_langdock import planning
from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.destinations import destination_for
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockDownloadError,
    LangdockError,
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockInvalidResponseError,
    LangdockServerError,
)
from airflow_provider_langdock.hooks.langdock import MAX_DOWNLOAD_REDIRECTS, LangdockHook
from airflow_provider_langdock.transfer import land_plan
from tests.conftest import HOSTILE_KEY, set_langdock_default
from tests.hostile import HostileServer, export_answer, send, trickle

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = TODAY - timedelta(days=1)
CSV = b"user_id,messages\r\nu1,3\r\n"


def set_connection(
    monkeypatch: pytest.MonkeyPatch, host: str, password: str = HOSTILE_KEY, **extra: object
) -> None:
    set_langdock_default(monkeypatch, host, password, **{"max_retry_wait": 0, "max_attempts": 1, **extra})


def too_large(rows: str, limit: str) -> dict[str, str]:
    return {"error": "Bad Request", "message": f"Export too large: {rows} rows exceeds limit of {limit}"}


def plan_export(data_type: str, start: datetime, end: datetime) -> object:
    return LangdockHook().plan_export(ExportRequest.build(data_type, start, end))


def serve_file(hostile: HostileServer, path: str = "/files/users.csv", body: bytes = CSV) -> str:
    hostile.answer("GET", path, 200, body, {"Content-Type": "text/csv"})
    return hostile.url(path + "?X-Amz-Signature=deadbeefcafe&X-Amz-Expires=600")


# -- 1. bounded planning ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "limit"), [("999999999999", "1"), ("5", "0"), ("5", "10"), ("1" + "0" * 5000, "1")]
)
def test_row_cap_numbers_that_make_no_sense_are_an_invalid_response(
    hostile_conn: HostileServer, rows: str, limit: str
) -> None:
    hostile_conn.answer("POST", "/export/users", 400, too_large(rows, limit))
    started = time.monotonic()
    with pytest.raises(LangdockInvalidResponseError, match="make no sense"):
        plan_export("users", TODAY - timedelta(days=300), TODAY)
    assert time.monotonic() - started < 5
    assert len(hostile_conn.received("/export/users")) == 1


def test_a_huge_but_plausible_row_count_splits_within_the_part_bound(hostile_conn: HostileServer) -> None:
    hostile_conn.answer("POST", "/export/users", 400, too_large("900000000", "1"))
    started = time.monotonic()
    with pytest.raises(LangdockExportTooLargeError, match=f"more than {planning.MAX_PARTS} parts"):
        plan_export("users", TODAY - timedelta(days=300), TODAY)
    assert time.monotonic() - started < 5
    assert len(hostile_conn.received("/export/users")) == 1


def test_a_server_that_is_always_too_large_stops_at_the_part_bound(hostile_conn: HostileServer) -> None:
    hostile_conn.answer("POST", "/export/users", 400, too_large("2", "1"))
    with pytest.raises(LangdockExportTooLargeError):
        plan_export("users", TODAY - timedelta(days=300), TODAY)
    assert len(hostile_conn.received("/export/users")) <= planning.MAX_PARTS


# -- 2. no credentials towards the storage host, redirects included ---------------------------------


@pytest.fixture
def netrc_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ~/.netrc with credentials for 127.0.0.1, localhost and every other host."""
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine 127.0.0.1 login netrc-user password netrc-pass-127\n"
        "machine localhost login netrc-user password netrc-pass-localhost\n"
        "default login netrc-user password netrc-pass-default\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.mark.usefixtures("netrc_everywhere")
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirected_download_carries_no_credentials(hostile_conn: HostileServer, status: int) -> None:
    port = hostile_conn.base_url.rsplit(":", 1)[1]
    serve_file(hostile_conn, "/final/users.csv")
    hostile_conn.answer("GET", "/signed/users.csv", status, headers={"Location": "/hop"})
    hostile_conn.answer(
        "GET", "/hop", status, headers={"Location": f"http://localhost:{port}/final/users.csv"}
    )
    body = b"".join(LangdockHook().iter_download(hostile_conn.url("/signed/users.csv?Signature=abc")))
    assert body == CSV
    downloads = [r for r in hostile_conn.requests if r.method == "GET"]
    assert [r.path.split("?")[0] for r in downloads] == ["/signed/users.csv", "/hop", "/final/users.csv"]
    for request in downloads:
        assert not {"authorization", "proxy-authorization", "cookie"} & {h.lower() for h in request.headers}


def test_redirects_are_limited_in_number_and_to_http(hostile_conn: HostileServer) -> None:
    hostile_conn.answer("GET", "/loop", 302, headers={"Location": "/loop"})
    with pytest.raises(LangdockDownloadError, match=f"more than {MAX_DOWNLOAD_REDIRECTS} times"):
        b"".join(LangdockHook().iter_download(hostile_conn.url("/loop")))
    assert len(hostile_conn.received("/loop")) == MAX_DOWNLOAD_REDIRECTS + 1
    hostile_conn.answer("GET", "/to-file", 302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(LangdockDownloadError, match="redirected to a file: URL"):
        b"".join(LangdockHook().iter_download(hostile_conn.url("/to-file")))
    port = hostile_conn.base_url.rsplit(":", 1)[1]
    hostile_conn.answer("GET", "/to-userinfo", 302, headers={"Location": f"http://u:pw@127.0.0.1:{port}/f"})
    with pytest.raises(LangdockDownloadError, match="URL with a user name or password") as caught:
        b"".join(LangdockHook().iter_download(hostile_conn.url("/to-userinfo")))
    assert "pw" not in str(caught.value)
    assert hostile_conn.received("/f") == []
    hostile_conn.answer("GET", "/to-garbage", 302, headers={"Location": "http://[::1/x"})
    with pytest.raises(LangdockDownloadError, match="malformed URL"):
        b"".join(LangdockHook().iter_download(hostile_conn.url("/to-garbage")))


def test_a_proxy_gets_its_credentials_and_a_bypassed_host_none(
    hostile_conn: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxied_path = hostile_conn.url("/files/users.csv")  # what a proxy sees: the absolute URL
    hostile_conn.answer("GET", proxied_path, 200, CSV)
    monkeypatch.setenv("HTTP_PROXY", f"http://proxy-user:proxy-pass@{hostile_conn.base_url.split('://')[1]}")
    monkeypatch.setenv("NO_PROXY", "")
    for name in ("http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert b"".join(LangdockHook().iter_download(hostile_conn.url("/files/users.csv"))) == CSV
    (through_proxy,) = hostile_conn.received(proxied_path)
    assert "proxy-authorization" in {h.lower() for h in through_proxy.headers}

    serve_file(hostile_conn)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert b"".join(LangdockHook().iter_download(hostile_conn.url("/files/users.csv"))) == CSV
    (direct,) = hostile_conn.received("/files/users.csv")
    assert not {"authorization", "proxy-authorization"} & {h.lower() for h in direct.headers}


# -- 3. secrets echoed by the server ---------------------------------------------------------------


def echo_authorization(status: int):
    def respond(handler: BaseHTTPRequestHandler) -> None:
        page = f"<html><pre>Authorization: {handler.headers.get('Authorization')}\n</pre></html>"
        send(handler, status, page.encode(), {"Content-Type": "text/html"})

    return respond


@pytest.mark.parametrize(
    ("answer", "error_class"),
    [
        (
            {"status": 401, "body": {"error": "Unauthorized", "message": f"Invalid API key {HOSTILE_KEY}"}},
            LangdockAuthError,
        ),
        ({"status": 401, "body": {"message": f"Invalid API key '  {HOSTILE_KEY}  '"}}, LangdockAuthError),
        ({"status": 500}, LangdockServerError),
        ({"status": 400}, LangdockError),
    ],
)
def test_a_key_echoed_by_the_server_is_redacted_everywhere(
    hostile: HostileServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    answer: dict,
    error_class: type[LangdockError],
) -> None:
    caplog.set_level(logging.DEBUG)
    set_connection(monkeypatch, hostile.base_url, password=f" {HOSTILE_KEY} ", max_attempts=2)
    if "body" in answer:
        hostile.answer("POST", "/export/users", answer["status"], answer["body"])
    else:
        hostile.route("POST", "/export/users", echo_authorization(answer["status"]))
    hook = LangdockHook()
    with pytest.raises(error_class) as caught:
        hook.export_usage("users", YESTERDAY, TODAY)
    ok, message = hook.test_connection()
    assert not ok
    error = caught.value
    out, err = capfd.readouterr()
    texts = [
        str(error),
        repr(error),
        str(error.api_message),
        str(error.api_error),
        message,
        caplog.text,
        out,
        err,
    ]
    assert all(HOSTILE_KEY not in text for text in texts), texts
    assert hostile.received("/export/users")[0].headers["Authorization"] == f"Bearer {HOSTILE_KEY}"


# -- 4. settings are finite or refused -------------------------------------------------------------


def test_nan_max_retry_wait_cannot_switch_the_cap_off(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.answer("POST", "/export/users", 429, {"message": "slow down"}, {"Retry-After": "99999"})
    set_connection(monkeypatch, hostile.base_url, max_retry_wait="nan", max_attempts=2)
    with pytest.raises(LangdockInputError, match="extra 'max_retry_wait' must be a finite number"):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert hostile.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": float("nan")}, "timeout must be a finite number greater than 0"),
        ({"timeout": float("inf")}, "timeout must be a finite number greater than 0"),
        ({"max_attempts": float("inf")}, "max_attempts must be a whole number"),
        ({"max_retry_wait": float("nan")}, "max_retry_wait must be a finite number"),
        ({"download_timeout": 0}, "download_timeout must be a finite number greater than 0"),
        ({"timeout": "5"}, "timeout must be a finite number"),
    ],
)
def test_hook_arguments_are_finite_or_refused(
    hostile_conn: HostileServer, kwargs: dict, message: str
) -> None:
    with pytest.raises(LangdockInputError, match=message):
        LangdockHook(**kwargs).export_usage("users", YESTERDAY, TODAY)
    assert hostile_conn.requests == []


# -- 5. credentials in the base URL ----------------------------------------------------------------


@pytest.mark.parametrize("host", ["https://user:pa55word@api.langdock.com", "user:pa55word@api.langdock.com"])
def test_credentials_in_the_base_url_are_refused_without_showing_them(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    set_connection(monkeypatch, host)
    hook = LangdockHook()
    with pytest.raises(LangdockInputError, match="must not carry a user name or password") as caught:
        hook.export_usage("users", YESTERDAY, TODAY)
    ok, message = hook.test_connection()
    assert not ok
    assert "must not carry a user name or password" in message
    for text in (str(caught.value), repr(caught.value), message, repr(hook)):
        assert "pa55word" not in text


# -- 6. strict answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 300, 304])
def test_a_3xx_from_the_api_is_an_error_naming_where_it_pointed(
    hostile_conn: HostileServer, status: int
) -> None:
    hostile_conn.answer(
        "POST", "/export/users", status, b"", {"Location": "https://elsewhere.example/export"}
    )
    with pytest.raises(LangdockError, match=f"answered {status} .*redirected to elsewhere.example"):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert len(hostile_conn.requests) == 1


@pytest.mark.parametrize("count", [-1, 10**12, "1e3", 2.5, None, True])
def test_a_record_count_out_of_bounds_is_an_invalid_response(
    hostile_conn: HostileServer, count: object
) -> None:
    hostile_conn.answer("POST", "/export/users", 200, export_answer(serve_file(hostile_conn), count))
    with pytest.raises(LangdockInvalidResponseError, match="recordCount between 0 and"):
        LangdockHook().export_usage("users", YESTERDAY, TODAY)


def test_another_data_type_in_the_answer_is_a_warning_only(
    hostile_conn: HostileServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING)
    answer = export_answer(serve_file(hostile_conn), 1, data_type="assistants")
    hostile_conn.answer("POST", "/export/users", 200, answer)
    result = LangdockHook().export_usage("users", YESTERDAY, TODAY)
    assert result.record_count == 1
    assert "dataType 'assistants'" in caplog.text + "".join(capfd.readouterr())


# -- 7. a trickling download has a whole-transfer deadline -----------------------------------------


def test_a_trickling_download_fails_within_its_deadline(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, hostile.base_url, download_timeout=1, max_attempts=2)
    hostile.route("GET", "/slow.csv", trickle(CSV * 50, every=0.1))
    started = time.monotonic()
    with pytest.raises(LangdockDownloadError, match="no complete transfer within 1 s"):
        b"".join(LangdockHook().iter_download(hostile.url("/slow.csv?sig=1")))
    assert time.monotonic() - started < 6
    assert len(hostile.received("/slow.csv")) == 2  # retried like a dropped connection


def test_a_trickling_download_lands_nothing(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_connection(monkeypatch, hostile.base_url, download_timeout=1)
    hostile.answer("POST", "/export/users", 200, export_answer(hostile.url("/slow.csv"), 50))
    hostile.route("GET", "/slow.csv", trickle(CSV * 50, every=0.1))
    hook = LangdockHook()
    plan = hook.plan_export(ExportRequest.build("users", YESTERDAY, TODAY))
    target = tmp_path / "new" / "users.csv"
    with pytest.raises(LangdockDownloadError):
        land_plan(hook, plan, destination_for(str(target)))
    assert not (tmp_path / "new").exists()


def test_the_default_deadline_grows_with_the_file(
    monkeypatch: pytest.MonkeyPatch, hostile: HostileServer
) -> None:
    set_connection(monkeypatch, hostile.base_url, timeout=30)
    settings = LangdockHook().settings
    assert settings.transfer_deadline(0) == 30
    assert settings.transfer_deadline(1024**3) == pytest.approx(30 + 4096)
    assert settings.transfer_deadline(None) == 3600
    set_connection(monkeypatch, hostile.base_url, download_timeout="90")
    assert LangdockHook().settings.transfer_deadline(1024**3) == 90


def test_the_netrc_file_of_the_fixture_is_real(netrc_everywhere: None) -> None:
    """Guards the .netrc tests: requests itself would use the file, so dropping it matters."""
    import requests.utils

    assert requests.utils.get_netrc_auth("http://127.0.0.1:1/x") == ("netrc-user", "netrc-pass-127")
    assert os.environ["NETRC"].endswith("netrc")
