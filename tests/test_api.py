"""The API module: data types, group_by rules, dates, request body, parsing and error mapping."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
import pytest

from airflow_provider_langdock import api
from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockBadRequestError,
    LangdockError,
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockInvalidResponseError,
    LangdockNoDataError,
    LangdockRateLimitError,
    LangdockServerError,
)
from airflow_provider_langdock.redaction import redact

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def build(data_type: str = "users", date_from: object = "2026-11-01", date_to: object = "2026-11-02", **kw):
    return ExportRequest.build(data_type, date_from, date_to, now=NOW, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "name", "path"),
    [
        ("users", "users", "users"),
        ("Users", "users", "users"),
        ("agents", "agents", "agents"),
        ("assistants", "assistants", "assistants"),
        ("api_keys", "api_keys", "api-keys"),
        ("api-keys", "api_keys", "api-keys"),
        ("API_KEYS", "api_keys", "api-keys"),
        ("projects", "projects", "projects"),
        ("models", "models", "models"),
        ("model", "models", "models"),
        ("workflows", "workflows", "workflows"),
    ],
)
def test_data_types_and_aliases(given: str, name: str, path: str) -> None:
    request = build(given)
    assert request.data_type.name == name
    assert request.path() == f"/export/{path}"
    assert request.path("csv") == f"/export/{path}/csv"
    assert request.path("json") == f"/export/{path}/json"


@pytest.mark.parametrize("bad", ["", "user_list", "chats", None, 3])
def test_unknown_data_type_names_the_parameter_and_allowed_values(bad: object) -> None:
    with pytest.raises(LangdockInputError, match=r"data_type.*'api_keys'.*'users'"):
        build(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data_type", "group_by"),
    [
        ("users", "model"),
        ("agents", "model"),
        ("assistants", "model"),
        ("api_keys", "model"),
        ("models", "source"),
        ("models", "deployment"),
    ],
)
def test_allowed_group_by_goes_into_the_body(data_type: str, group_by: str) -> None:
    assert build(data_type, group_by=group_by).body()["group_by"] == group_by


@pytest.mark.parametrize(
    ("data_type", "group_by", "message"),
    [
        ("projects", "model", "group_by is not supported for data_type 'projects'"),
        ("workflows", "model", "group_by is not supported for data_type 'workflows'"),
        ("users", "source", "use one of 'model'"),
        ("models", "model", "use one of 'deployment', 'source'"),
    ],
)
def test_refused_group_by(data_type: str, group_by: str, message: str) -> None:
    with pytest.raises(LangdockInputError, match=message):
        build(data_type, group_by=group_by)


def test_no_group_by_leaves_it_out_of_the_body() -> None:
    assert build("projects", group_by="").body() == {
        "from": {"date": "2026-11-01T00:00:00.000Z", "timezone": "UTC"},
        "to": {"date": "2026-11-02T00:00:00.000Z", "timezone": "UTC"},
    }


def test_naive_values_are_wall_time_in_the_timezone() -> None:
    body = build(
        date_from=datetime(2026, 11, 1, 0, 0),
        date_to=datetime(2026, 11, 2, 6, 30, 15, 250000),
        timezone="Europe/Berlin",
    ).body()
    assert body["from"] == {"date": "2026-11-01T00:00:00.000Z", "timezone": "Europe/Berlin"}
    assert body["to"] == {"date": "2026-11-02T06:30:15.250Z", "timezone": "Europe/Berlin"}


def test_aware_values_are_converted_to_the_timezone() -> None:
    body = build(
        date_from=datetime(2026, 7, 1, 0, 0, tzinfo=UTC),
        date_to=datetime(2026, 7, 2, 0, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
    ).body()
    assert body["from"]["date"] == "2026-07-01T02:00:00.000Z"  # CEST, UTC+2
    assert body["to"]["date"] == "2026-07-02T02:00:00.000Z"


def test_pendulum_values_and_iso_strings() -> None:
    start = pendulum.datetime(2026, 3, 1, tz="America/New_York")
    request = build(date_from=start, date_to="2026-03-02T05:00:00Z", timezone="UTC")
    assert request.body()["from"]["date"] == "2026-03-01T05:00:00.000Z"
    assert request.body()["to"]["date"] == "2026-03-02T05:00:00.000Z"


def test_date_objects_mean_midnight_in_the_timezone() -> None:
    request = build(date_from=date(2026, 10, 1), date_to=date(2026, 11, 1), timezone="Asia/Tokyo")
    assert request.body()["from"] == {"date": "2026-10-01T00:00:00.000Z", "timezone": "Asia/Tokyo"}


def test_dst_transition_day_keeps_wall_times() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: that day has 25 hours.
    request = build(
        date_from=datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        date_to=datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert request.body()["from"] == {"date": "2026-10-25T00:00:00.000Z", "timezone": "Europe/Berlin"}  # CEST
    assert request.body()["to"] == {"date": "2026-10-26T00:00:00.000Z", "timezone": "Europe/Berlin"}  # CET
    assert request.utc_range()[1] - request.utc_range()[0] == timedelta(hours=25)


def test_an_end_in_the_repeated_hour_is_sent_in_utc() -> None:
    # 00:00 UTC is 02:00 CEST, a wall time Berlin shows twice that night: only UTC says which one.
    start, end = datetime(2026, 10, 25, 0, 0, tzinfo=UTC), datetime(2026, 10, 26, 0, 0, tzinfo=UTC)
    request = build(date_from=start, date_to=end, timezone="Europe/Berlin")
    assert request.body()["from"] == {"date": "2026-10-25T00:00:00.000Z", "timezone": "UTC"}
    assert request.body()["to"] == {"date": "2026-10-26T00:00:00.000Z", "timezone": "UTC"}
    assert request.utc_range() == (start, end)
    assert ExportRequest.from_dict(request.to_dict()) == request


def test_a_naive_wall_time_the_zone_skips_is_refused() -> None:
    with pytest.raises(LangdockInputError, match=r"date_from .* does not exist in timezone 'Europe/Berlin'"):
        build(
            date_from=datetime(2026, 3, 29, 2, 30), date_to=datetime(2026, 3, 29, 4), timezone="Europe/Berlin"
        )


def test_dst_fold_ordering_uses_real_instants() -> None:
    # 02:30 happens twice on 2026-10-25 in Berlin; the first (fold=0) is one hour before the second.
    zone = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=zone)
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=zone)
    assert build(date_from=first, date_to=second + timedelta(minutes=1), timezone="Europe/Berlin")


def test_naive_from_with_aware_to_in_another_zone_is_refused() -> None:
    with pytest.raises(LangdockInputError, match=r"date_from and date_to mix a naive and an aware value"):
        build(
            date_from=datetime(2026, 11, 1),
            date_to=datetime(2026, 11, 2, tzinfo=ZoneInfo("America/New_York")),
            timezone="Europe/Berlin",
        )


def test_naive_with_aware_in_the_same_zone_is_fine() -> None:
    request = build(
        date_from=datetime(2026, 11, 1),
        date_to=datetime(2026, 11, 2, tzinfo=ZoneInfo("Europe/Berlin")),
        timezone="Europe/Berlin",
    )
    assert request.body()["to"]["date"] == "2026-11-02T00:00:00.000Z"


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [("2026-11-02", "2026-11-01"), ("2026-11-01", "2026-11-01"), ("2026-11-01T10:00", "2026-11-01T09:59")],
)
def test_from_must_be_before_to(date_from: str, date_to: str) -> None:
    with pytest.raises(LangdockInputError, match=r"date_from .* must be before date_to"):
        build(date_from=date_from, date_to=date_to)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "CEST+2", "../etc/passwd"])
def test_bad_timezone(bad: str) -> None:
    with pytest.raises(LangdockInputError, match=r"timezone"):
        build(timezone=bad)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "01/11/2026"])
def test_bad_date_string(bad: str) -> None:
    with pytest.raises(LangdockInputError, match=r"date_from .* is not an ISO-8601"):
        build(date_from=bad)


def test_bad_date_type() -> None:
    with pytest.raises(LangdockInputError, match=r"date_to must be a datetime"):
        build(date_to=20261102)


def test_range_older_than_twelve_months_is_refused() -> None:
    with pytest.raises(LangdockInputError, match=r"more than 12 months before today"):
        build(date_from="2025-11-24", date_to="2025-12-01")


def test_range_just_within_twelve_months_is_fine() -> None:
    assert build(date_from="2025-11-25T12:00:00Z", date_to="2025-12-01")


def test_twelve_month_bound_on_a_short_month() -> None:
    now = datetime(2026, 3, 31, tzinfo=UTC)
    assert ExportRequest.build("users", "2025-03-31", "2025-04-01", now=now)
    with pytest.raises(LangdockInputError):
        ExportRequest.build("users", "2025-03-30", "2025-04-01", now=now)


def test_describe_mentions_everything() -> None:
    text = build("users", group_by="model", timezone="Europe/Berlin").describe()
    assert text == (
        "users export grouped by model from 2026-11-01T00:00:00.000Z "
        "to 2026-11-02T00:00:00.000Z (Europe/Berlin)"
    )


# -- responses ------------------------------------------------------------------------------------

SUCCESS = {
    "success": True,
    "data": {
        "filePath": "users-usage/ws/users-usage-2026-11-01-2026-11-02-abc12345.csv",
        "downloadUrl": "https://storage.example.com/f.csv?X-Amz-Signature=deadbeef&X-Amz-Expires=600",
        "dataType": "users",
        "recordCount": 1250,
        "dateRange": {"from": "2026-11-01T00:00:00.000Z", "to": "2026-11-02T00:00:00.000Z"},
    },
}


def test_parse_export_response() -> None:
    result = api.parse_export_response(json.dumps(SUCCESS), build())
    assert result.record_count == 1250
    assert result.file_path.endswith("abc12345.csv")
    assert result.to_dict() == {
        "download_url": SUCCESS["data"]["downloadUrl"],  # type: ignore[index]
        "file_path": SUCCESS["data"]["filePath"],  # type: ignore[index]
        "data_type": "users",
        "record_count": 1250,
        "date_range": {"from": "2026-11-01T00:00:00.000Z", "to": "2026-11-02T00:00:00.000Z"},
    }
    assert api.ExportResult.from_dict(result.to_dict()) == result
    assert "deadbeef" not in repr(result)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>Bad gateway</html>", "not JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({"success": False, "error": "Oops", "message": "bad"}), "without success=true"),
        (json.dumps({"success": True}), "no 'data' object"),
        (
            json.dumps({"success": True, "data": {"filePath": "x"}}),
            "lacks downloadUrl, dataType, recordCount",
        ),
        (
            json.dumps({"success": True, "data": {**SUCCESS["data"], "recordCount": "many"}}),  # type: ignore[dict-item]
            "no recordCount between 0 and",
        ),
        (
            json.dumps({"success": True, "data": {**SUCCESS["data"], "dateRange": {}}}),  # type: ignore[dict-item]
            "lacks dateRange",
        ),
        (
            json.dumps({"success": True, "data": {**SUCCESS["data"], "downloadUrl": "ftp://x"}}),  # type: ignore[dict-item]
            "no http",
        ),
    ],
)
def test_invalid_export_responses(body: str, message: str) -> None:
    with pytest.raises(LangdockInvalidResponseError, match=message):
        api.parse_export_response(body, build())


def test_parse_records_response_shapes() -> None:
    rows = [{"user_id": "u1", "messages_total": 3}]
    nested = {
        "success": True,
        "data": {
            "dataType": "users",
            "recordCount": 1,
            "records": rows,
            "dateRange": {"from": "a", "to": "b"},
        },
    }
    flat = {"success": True, "data": rows}
    assert api.parse_records_response(json.dumps(nested), build()).records == rows
    flat_result = api.parse_records_response(json.dumps(flat), build())
    assert flat_result.records == rows
    assert flat_result.record_count == 1
    assert flat_result.data_type == "users"
    with pytest.raises(LangdockInvalidResponseError, match="no list of records"):
        api.parse_records_response(json.dumps({"success": True, "data": {"records": "x"}}), build())


@pytest.mark.parametrize(
    ("status", "body", "error_type", "message"),
    [
        (
            401,
            {"error": "Unauthorized", "message": "Invalid or missing API key"},
            LangdockAuthError,
            "401 .*Unauthorized - Invalid or missing API key",
        ),
        (
            403,
            {"error": "Forbidden", "message": "Missing scope"},
            LangdockAuthError,
            "USAGE_EXPORT_API scope",
        ),
        (
            404,
            {"error": "No data found", "message": "No usage data found for the selected period"},
            LangdockNoDataError,
            "No data found - No usage data found",
        ),
        (
            400,
            {"error": "Bad Request", "message": "Invalid date range"},
            LangdockBadRequestError,
            "Invalid date range",
        ),
        (429, {"error": "Too Many Requests", "message": "slow down"}, LangdockRateLimitError, "rate limited"),
        (500, {"error": "Internal Server Error", "message": "boom"}, LangdockServerError, "500 .*boom"),
        (503, "<html>unavailable</html>", LangdockServerError, "503 .*unavailable"),
        (418, {"error": "Teapot", "message": "short and stout"}, LangdockError, "418"),
    ],
)
def test_error_mapping(status: int, body: object, error_type: type, message: str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    error = api.error_for_response(status, text, what="users export")
    assert type(error) is error_type
    assert error.http_status == status
    with pytest.raises(error_type, match=message):
        raise error


def test_row_cap_error_parses_counts() -> None:
    body = {
        "error": "Export too large",
        "message": "Export too large: 1500000 rows exceeds limit of 1000000. Please narrow the date range.",
    }
    error = api.error_for_response(400, json.dumps(body), what="users export")
    assert isinstance(error, LangdockExportTooLargeError)
    assert isinstance(error, LangdockBadRequestError)
    assert (error.row_count, error.row_limit) == (1_500_000, 1_000_000)
    assert "Please narrow the date range" in str(error)


def test_retry_after_header_is_parsed() -> None:
    assert api.error_for_response(429, "{}", what="x", retry_after="7").retry_after == 7.0  # type: ignore[attr-defined]
    http_date = "Wed, 25 Nov 2026 12:00:30 GMT"
    assert api.parse_retry_after(http_date, now=NOW) == 30.0
    assert api.parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now=NOW) == 0.0
    assert api.parse_retry_after("soon") is None
    assert api.parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "https://api.langdock.com"),
        ("", "https://api.langdock.com"),
        ("https://api.langdock.com/", "https://api.langdock.com"),
        ("https://my-deployment.example.com/api/public", "https://my-deployment.example.com/api/public"),
        ("https://api.odeus.ai", "https://api.odeus.ai"),
        ("api.odeus.ai", "https://api.odeus.ai"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url(host: str | None, expected: str) -> None:
    assert api.normalize_base_url(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "ftp://api.langdock.com",
        "https://",
        "https://api.langdock.com?x=1",
        "https://a b.com",
        "https://api.langdock.com:port",
    ],
)
def test_malformed_base_url(host: str) -> None:
    with pytest.raises(LangdockInputError, match=r"Base URL \(host\) .* is malformed"):
        api.normalize_base_url(host)


def test_redact_url_hides_signatures_only() -> None:
    url = (
        "https://bucket.s3.amazonaws.com/f.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1"
        "&X-Amz-Signature=0123abcd&X-Amz-Expires=600&token=t0k"
    )
    redacted = redact(url)
    for secret in ("0123abcd", "AKIA", "t0k"):
        assert secret not in redacted
    assert "X-Amz-Expires=600" in redacted
    assert redacted.startswith("https://bucket.s3.amazonaws.com/f.csv?")
    assert "signature=***" in redact("http://127.0.0.1:1/files/x?expires=1&signature=ff")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@host/x", "https://***@host/x"),
        ("ftp://token@host/x", "ftp://***@host/x"),
        # Azure storage URIs: <container>@<account host> is a name, not a credential
        ("wasbs://usage@acct.blob.core.windows.net/x", "wasbs://usage@acct.blob.core.windows.net/x"),
        ("ABFSS://usage@acct.dfs.core.windows.net/x", "ABFSS://usage@acct.dfs.core.windows.net/x"),
        (
            "wasb://usage@acct.blob.core.windows.net/x?sig=abc",
            "wasb://usage@acct.blob.core.windows.net/x?sig=***",
        ),
        ("xwasbs://secret@host/x", "xwasbs://***@host/x"),
    ],
)
def test_redact_url_user_information(text: str, expected: str) -> None:
    assert redact(text) == expected
