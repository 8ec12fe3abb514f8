"""The Langdock simulator itself, over real loopback HTTP with plain ``requests``."""

from __future__ import annotations

import csv
import http.client
import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_langdock.testing import LangdockSimulator, columns_for

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
DAY1 = DAY0 + timedelta(days=1)
DAY2 = DAY0 + timedelta(days=2)
PATHS = ("users", "agents", "assistants", "api-keys", "projects", "models", "workflows")
DATA_TYPES = {"api-keys": "api_keys"}


def wall(moment: datetime) -> str:
    """How a client writes a UTC moment into the ``date`` field."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def export_body(start: datetime = DAY0, end: datetime = DAY1, **extra: Any) -> dict[str, Any]:
    """A valid request body for [start, end) in UTC."""
    return {
        "from": {"date": wall(start), "timezone": "UTC"},
        "to": {"date": wall(end), "timezone": "UTC"},
        **extra,
    }


def post(
    sim: LangdockSimulator,
    route: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """POST an export request (valid body and auth unless given)."""
    return requests.post(
        f"{sim.base_url}/export/{route}",
        json=export_body() if body is None else body,
        headers=AUTH if headers is None else headers,
        timeout=10,
        **kwargs,
    )


def rows(data: bytes) -> list[dict[str, str]]:
    """Parsed CSV rows."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def export_file(sim: LangdockSimulator, route: str, body: dict[str, Any] | None = None) -> bytes:
    """Export and download the file."""
    answer = post(sim, route, body)
    assert answer.status_code == 200, answer.text
    download = requests.get(answer.json()["data"]["downloadUrl"], timeout=10)
    assert download.status_code == 200
    return download.content


@pytest.fixture
def download_url(simulator: LangdockSimulator) -> str:
    """A fresh signed URL of a users export of DAY0."""
    answer = post(simulator, "users")
    return str(answer.json()["data"]["downloadUrl"])


# -- routes and data types ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p in PATHS if p != "workflows"])
@pytest.mark.parametrize("suffix", ["", "/csv"])
def test_csv_route_answers_signed_url(simulator: LangdockSimulator, path: str, suffix: str) -> None:
    answer = post(simulator, path + suffix)
    assert answer.status_code == 200
    data = answer.json()["data"]
    data_type = DATA_TYPES.get(path, path)
    assert answer.json()["success"] is True
    assert data["dataType"] == data_type
    assert data["recordCount"] == 100
    assert data["dateRange"] == {"from": wall(DAY0), "to": wall(DAY1)}
    expected_path = (
        rf"{data_type}-usage/[0-9a-f-]{{36}}/{data_type}-usage-{DAY0.date()}-{DAY1.date()}-[0-9a-f]{{8}}\.csv"
    )
    assert re.fullmatch(expected_path, data["filePath"])
    url = urlsplit(data["downloadUrl"])
    assert data["downloadUrl"].startswith(f"{simulator.download_base_url}/files/")
    query = parse_qs(url.query)
    assert int(query["expires"][0]) > time.time()
    assert re.fullmatch(r"[0-9a-f]{64}", query["signature"][0])
    content = requests.get(data["downloadUrl"], timeout=10).content
    assert content == simulator.csv_bytes(path, DAY0, DAY1)
    parsed = rows(content)
    assert len(parsed) == 100
    assert tuple(parsed[0]) == columns_for(path)
    assert {row["period_start"] for row in parsed} == {str(DAY0.date())}
    assert {row["period_end"] for row in parsed} == {str(DAY1.date())}


def _csv_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


@pytest.mark.parametrize("path", ["users", "agents", "api-keys", "projects", "models"])
def test_json_route_has_the_csv_rows_inline(simulator: LangdockSimulator, path: str) -> None:
    simulator.byok = True
    answer = post(simulator, f"{path}/json")
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["recordCount"] == len(data["records"]) == 100
    assert data["dataType"] == DATA_TYPES.get(path, path)
    assert "downloadUrl" not in data
    assert [{k: _csv_text(v) for k, v in record.items()} for record in data["records"]] == rows(
        simulator.csv_bytes(path, DAY0, DAY1)
    )
    first = data["records"][0]
    assert isinstance(first["period_start"], str)
    assert any(isinstance(value, int) and not isinstance(value, bool) for value in first.values())


def test_agents_and_assistants_export_the_same_data(simulator: LangdockSimulator) -> None:
    assert export_file(simulator, "agents") == export_file(simulator, "assistants")


def test_workflows_have_no_data_unless_enabled(simulator: LangdockSimulator) -> None:
    answer = post(simulator, "workflows")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": "No data found",
        "message": "No usage data found for the selected period",
    }
    simulator.disabled_data_types = frozenset()
    assert post(simulator, "workflows").status_code == 200


def test_unknown_path_and_wrong_method(simulator: LangdockSimulator) -> None:
    answer = post(simulator, "teams")
    assert answer.status_code == 404
    assert answer.json()["error"] == "Not Found"
    assert "message" in answer.json()
    answer = requests.get(f"{simulator.base_url}/export/users", headers=AUTH, timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_path_prefix(simulator: LangdockSimulator) -> None:
    with LangdockSimulator(api_key=KEY, path_prefix="api/public/") as prefixed:
        assert prefixed.base_url.endswith("/api/public")
        assert post(prefixed, "users").status_code == 200
        bare = requests.post(
            prefixed.base_url.removesuffix("/api/public") + "/export/users", json=export_body(), headers=AUTH
        )
        assert bare.status_code == 404


# -- auth and validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}],
)
def test_unauthorized(simulator: LangdockSimulator, headers: dict[str, str]) -> None:
    answer = post(simulator, "users", headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "Unauthorized", "message": "Invalid or missing API key"}


def test_auth_is_checked_before_the_body(simulator: LangdockSimulator) -> None:
    answer = requests.post(f"{simulator.base_url}/export/users", data=b"{not json", timeout=10)
    assert answer.status_code == 401


def test_several_keys_are_accepted() -> None:
    with LangdockSimulator(api_key=["one", "two"]) as sim:
        assert post(sim, "users", headers={"Authorization": "Bearer two"}).status_code == 200
        assert post(sim, "users", headers={"Authorization": "Bearer three"}).status_code == 401


def _with(side: str, **point: Any) -> dict[str, Any]:
    body = export_body()
    body[side] = {**body[side], **point}
    return {key: value for key, value in body.items() if value != {"drop": True}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "valid JSON"),
        ([1, 2], "valid JSON"),
        ({"to": export_body()["to"]}, "Missing required field: from"),
        ({"from": export_body()["from"]}, "Missing required field: to"),
        ({**export_body(), "from": {"timezone": "UTC"}}, "Missing required field: from.date"),
        ({**export_body(), "to": {"date": wall(DAY1)}}, "Missing required field: to.timezone"),
        (_with("from", date=DAY0.strftime("%Y-%m-%dT%H:%M:%S+00:00")), "Invalid from.date"),
        (_with("from", date=str(DAY0.date())), "Invalid from.date"),
        (_with("to", date="yesterday"), "Invalid to.date"),
        (_with("to", date=f"{DAY0.year}-13-01T00:00:00Z"), "Invalid to.date"),
        (_with("from", timezone="Mars/Olympus_Mons"), "Unknown timezone"),
        (_with("from", timezone="+02:00"), "Unknown timezone"),
        (export_body(DAY1, DAY0), "Invalid date range"),
        (export_body(DAY0, DAY0), "Invalid date range"),
        (export_body(DAY0 - timedelta(days=400), DAY0), "Data older than 12 months cannot be exported"),
    ],
)
def test_validation_errors(simulator: LangdockSimulator, body: Any, message: str) -> None:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    answer = requests.post(
        f"{simulator.base_url}/export/users",
        data=data,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "message"}
    assert message in answer.json()["message"]


@pytest.mark.parametrize(
    "date", ["{d}T00:00:00", "{d}T00:00:00Z", "{d}T00:00:00.000Z", "{d}T00:00:00.000000"]
)
def test_accepted_date_forms(simulator: LangdockSimulator, date: str) -> None:
    body = export_body()
    body["from"]["date"] = date.format(d=DAY0.date())
    answer = post(simulator, "users", body)
    assert answer.status_code == 200
    assert answer.json()["data"]["dateRange"]["from"] == wall(DAY0)


def test_wall_time_is_local_to_the_timezone(simulator: LangdockSimulator) -> None:
    summer = datetime(DAY0.year, 7, 1) if DAY0.month > 7 else datetime(DAY0.year - 1, 7, 1)
    simulator.history_days = 800
    body = {
        "from": {"date": f"{summer.date()}T00:00:00.000Z", "timezone": "Europe/Berlin"},
        "to": {"date": f"{summer.date()}T12:00:00.000Z", "timezone": "America/New_York"},
    }
    answer = post(simulator, "users", body)
    assert answer.status_code == 200
    assert answer.json()["data"]["dateRange"] == {
        "from": f"{summer.date() - timedelta(days=1)}T22:00:00.000Z",
        "to": f"{summer.date()}T16:00:00.000Z",
    }


GROUP_BY_CASES = [
    *[(path, "model", False, 200) for path in ("users", "agents", "assistants", "api-keys")],
    *[(path, "source", False, 400) for path in ("users", "agents", "assistants", "api-keys")],
    ("models", "source", False, 200),
    ("models", "deployment", False, 400),
    ("models", "deployment", True, 200),
    ("models", "model", False, 400),
    ("projects", "model", False, 400),
    ("projects", "source", False, 400),
    ("workflows", "model", False, 400),
]


@pytest.mark.parametrize(("path", "group_by", "byok", "status"), GROUP_BY_CASES)
def test_group_by_rules(
    simulator: LangdockSimulator, path: str, group_by: str, byok: bool, status: int
) -> None:
    simulator.byok = byok
    simulator.disabled_data_types = frozenset()
    answer = post(simulator, path, export_body(group_by=group_by))
    assert answer.status_code == status, answer.text
    if status == 400:
        assert "group_by" in answer.json()["message"]
        return
    content = requests.get(answer.json()["data"]["downloadUrl"], timeout=10).content
    parsed = rows(content)
    assert list(parsed[0])[-1] == group_by
    assert content == simulator.csv_bytes(path, DAY0, DAY1, group_by)
    if group_by == "source":
        assert {row["source"] for row in parsed} <= {"WEB", "MOBILE"}


def test_byok_adds_columns(simulator: LangdockSimulator) -> None:
    plain = rows(export_file(simulator, "models"))
    simulator.byok = True
    byok = rows(export_file(simulator, "models"))
    assert set(byok[0]) - set(plain[0]) == {
        "sum_prompt_tokens",
        "sum_completion_tokens",
        "sum_cached_prompt_tokens",
        "sum_cache_creation_tokens",
        "no_cache_tokens",
        "total_cost_usd",
    }
    assert {"name", "provider", "bring_your_keys", "requests"} <= set(plain[0])


def test_csv_exercises_quoting(simulator: LangdockSimulator) -> None:
    simulator.row_count = 2000
    content = export_file(simulator, "users") + export_file(simulator, "agents")
    assert b'""' in content
    parsed = rows(export_file(simulator, "users"))
    assert any("," in row["name"] or "," in row["department"] for row in parsed)
    assert any("\n" in row["department"] for row in parsed)
    assert all(isinstance(json.loads(row["agents_to_messages"]), dict) for row in parsed)
    assert any("\n" in row["agent_description"] for row in rows(export_file(simulator, "agents")))


# -- data window, caps, determinism, rows per day ----------------------------------------------


def test_data_window(simulator: LangdockSimulator) -> None:
    simulator.set_data_window(DAY1, None)
    assert post(simulator, "users", export_body(DAY0, DAY1)).status_code == 404
    assert post(simulator, "users", export_body(DAY0, DAY2)).status_code == 200
    simulator.set_data_window(None, DAY0)
    answer = post(simulator, "users", export_body(DAY0, DAY1))
    assert answer.status_code == 404
    assert answer.json()["message"] == "No usage data found for the selected period"
    simulator.set_data_window(None, None)
    assert post(simulator, "users").status_code == 200


def test_row_cap(simulator: LangdockSimulator) -> None:
    simulator.row_count, simulator.row_cap = 1500, 1000
    answer = post(simulator, "users")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "Export too large",
        "message": "Export too large: 1500 rows exceeds limit of 1000. Please narrow the date range.",
    }
    assert post(simulator, "users/json").status_code == 400
    simulator.row_cap = 1500
    assert post(simulator, "users").json()["data"]["recordCount"] == 1500


def test_same_seed_same_bytes_other_seed_other_bytes(simulator: LangdockSimulator) -> None:
    with LangdockSimulator(api_key=KEY) as twin, LangdockSimulator(api_key=KEY, seed=1) as other:
        first = export_file(simulator, "users")
        assert first == export_file(twin, "users") == export_file(simulator, "users")
        assert first != export_file(other, "users")
    assert export_file(simulator, "users", export_body(DAY0, DAY2)) != first


def test_rows_per_day_counts_are_proportional(simulator: LangdockSimulator) -> None:
    simulator.rows_per_day = 480
    assert post(simulator, "users").json()["data"]["recordCount"] == 480
    assert post(simulator, "users", export_body(DAY0, DAY2)).json()["data"]["recordCount"] == 960
    half_hour = export_body(DAY0, DAY0 + timedelta(minutes=30))
    assert post(simulator, "users", half_hour).json()["data"]["recordCount"] == 10
    simulator.rows_per_day = 1
    assert post(simulator, "users", export_body(DAY0, DAY0 + timedelta(hours=1))).status_code == 404


def _without_period(parsed: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in ("period_start", "period_end")} for row in parsed]


@pytest.mark.parametrize("rate", [100.0, 2.5, 1000.0])
@pytest.mark.parametrize("split", [timedelta(hours=7), timedelta(hours=7, minutes=21, seconds=5)])
def test_rows_per_day_ranges_add_up(simulator: LangdockSimulator, rate: float, split: timedelta) -> None:
    simulator.rows_per_day = rate
    simulator.row_cap = 10**6
    start, middle, end = DAY0 + timedelta(hours=3), DAY0 + split, DAY1 + timedelta(hours=5)
    for group_by in (None, "model"):
        extra = {"group_by": group_by} if group_by else {}
        answer = post(simulator, "users", export_body(start, end, **extra))
        whole = rows(requests.get(answer.json()["data"]["downloadUrl"], timeout=10).content)
        assert answer.json()["data"]["recordCount"] == len(whole)
        head = rows(simulator.csv_bytes("users", start, middle, group_by))
        tail = rows(simulator.csv_bytes("users", middle, end, group_by))
        assert len(head) + len(tail) == len(whole)
        assert _without_period(head) + _without_period(tail) == _without_period(whole)


def test_rows_per_day_respects_the_data_window(simulator: LangdockSimulator) -> None:
    simulator.rows_per_day = 240
    simulator.set_data_window(DAY0 + timedelta(hours=12), None)
    assert post(simulator, "users", export_body(DAY0, DAY1)).json()["data"]["recordCount"] == 120


def test_busy_periods_make_the_density_uneven(simulator: LangdockSimulator) -> None:
    simulator.rows_per_day, simulator.row_cap = 240, 10**6
    simulator.add_busy_period(DAY0 + timedelta(hours=6), DAY0 + timedelta(hours=8), rows_per_day=2400)
    simulator.add_busy_period(DAY1, DAY1 + timedelta(hours=1), rows_per_day=0)

    def count(start: datetime, end: datetime) -> int:
        return int(post(simulator, "users", export_body(start, end)).json()["data"]["recordCount"])

    assert count(DAY0 + timedelta(hours=6), DAY0 + timedelta(hours=8)) == 200
    assert count(DAY0 + timedelta(hours=7), DAY0 + timedelta(hours=7, minutes=30)) == 50
    assert count(DAY0, DAY1) == 22 * 10 + 200
    assert count(DAY1, DAY2) == 23 * 10
    assert post(simulator, "users", export_body(DAY1, DAY1 + timedelta(hours=1))).status_code == 404
    simulator.clear_busy_periods()
    assert count(DAY0, DAY1) == 240


@pytest.mark.parametrize("split", [timedelta(hours=7), timedelta(hours=7, minutes=21, seconds=5)])
def test_ranges_across_busy_periods_add_up(simulator: LangdockSimulator, split: timedelta) -> None:
    simulator.rows_per_day = 100
    simulator.add_busy_period(DAY0 + timedelta(hours=5), DAY0 + timedelta(hours=9), rows_per_day=5000)
    start, middle, end = DAY0 + timedelta(hours=3), DAY0 + split, DAY1 + timedelta(hours=5)
    whole = rows(simulator.csv_bytes("users", start, end))
    head, tail = (
        rows(simulator.csv_bytes("users", start, middle)),
        rows(simulator.csv_bytes("users", middle, end)),
    )
    assert len(whole) == len(head) + len(tail) > 800
    assert _without_period(head) + _without_period(tail) == _without_period(whole)


def test_busy_periods_are_checked(simulator: LangdockSimulator) -> None:
    simulator.add_busy_period(DAY0, DAY0 + timedelta(hours=2), rows_per_day=10)
    with pytest.raises(ValueError, match="whole UTC hour"):
        simulator.add_busy_period(DAY0 + timedelta(minutes=30), DAY1, rows_per_day=10)
    with pytest.raises(ValueError, match="overlap"):
        simulator.add_busy_period(DAY0 + timedelta(hours=1), DAY1, rows_per_day=10)
    with pytest.raises(ValueError, match="start < end"):
        simulator.add_busy_period(DAY1, DAY1, rows_per_day=10)
    control = f"{simulator.base_url}/_simulator/busy-period"
    body = {"start": DAY1.isoformat(), "end": DAY2.isoformat(), "rows_per_day": 480}
    assert requests.post(control, json=body, timeout=10).status_code == 200
    assert requests.post(control, json=body, timeout=10).status_code == 400
    simulator.rows_per_day = 240
    assert post(simulator, "users", export_body(DAY1, DAY2)).json()["data"]["recordCount"] == 480


def test_big_files_are_generated_fast_in_constant_memory(simulator: LangdockSimulator) -> None:
    simulator.row_cap = 10**7
    simulator.row_count = 10
    post(simulator, "users")  # builds the value pools, which are cached
    simulator.row_count = 100_000
    started = time.perf_counter()
    answer = post(simulator, "users")
    elapsed = time.perf_counter() - started
    size = int(requests.head(answer.json()["data"]["downloadUrl"], timeout=10).headers["Content-Length"])
    assert size > 40_000_000
    assert size / elapsed > 40_000_000, f"{size / elapsed / 1e6:.0f} MB/s"
    tracemalloc.start()
    try:
        assert post(simulator, "users", export_body(DAY0, DAY2)).status_code == 200
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 2**20


# -- downloads ----------------------------------------------------------------------------------


def test_download_with_authorization_header_is_refused(download_url: str) -> None:
    answer = requests.get(download_url, headers=AUTH, timeout=10)
    assert answer.status_code == 400
    assert "Authorization" in answer.text


@pytest.mark.parametrize(
    "mangle",
    [
        lambda url: re.sub(r"signature=[0-9a-f]+", "signature=" + "0" * 64, url),
        lambda url: url.split("&signature=")[0],
        lambda url: re.sub(r"expires=\d+", "expires=9999999999", url),
    ],
)
def test_download_with_bad_signature_is_forbidden(download_url: str, mangle: Any) -> None:
    assert requests.get(mangle(download_url), timeout=10).status_code == 403


def test_download_of_unknown_file(download_url: str) -> None:
    answer = requests.get(re.sub(r"/files/[0-9a-f]+", "/files/" + "a" * 32, download_url), timeout=10)
    assert answer.status_code == 404


def test_expired_urls(simulator: LangdockSimulator, download_url: str) -> None:
    simulator.expire_download_urls()
    answer = requests.get(download_url, timeout=10)
    assert answer.status_code == 403
    assert "Request has expired" in answer.text
    assert requests.get(post(simulator, "users").json()["data"]["downloadUrl"], timeout=10).status_code == 200
    simulator.url_ttl = 0.2
    short_lived = post(simulator, "users").json()["data"]["downloadUrl"]
    time.sleep(0.3)
    assert requests.get(short_lived, timeout=10).status_code == 403


def test_range_and_head(simulator: LangdockSimulator, download_url: str) -> None:
    expected = simulator.csv_bytes("users", DAY0, DAY1)
    head = requests.head(download_url, timeout=10)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(expected))
    assert head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Type"] == "text/csv"
    partial = requests.get(download_url, headers={"Range": "bytes=1000-"}, timeout=10)
    assert partial.status_code == 206
    assert partial.content == expected[1000:]
    assert partial.headers["Content-Range"] == f"bytes 1000-{len(expected) - 1}/{len(expected)}"
    bounded = requests.get(download_url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert bounded.content == expected[10:20]
    beyond = requests.get(download_url, headers={"Range": f"bytes={len(expected)}-"}, timeout=10)
    assert beyond.status_code == 416


def test_ranges_can_be_switched_off(simulator: LangdockSimulator, download_url: str) -> None:
    simulator.accept_ranges = False
    answer = requests.get(download_url, headers={"Range": "bytes=1000-"}, timeout=10)
    assert answer.status_code == 200
    assert "Accept-Ranges" not in answer.headers
    assert answer.content == simulator.csv_bytes("users", DAY0, DAY1)


# -- faults -------------------------------------------------------------------------------------


def test_injected_status_with_retry_after(simulator: LangdockSimulator) -> None:
    simulator.inject(429, count=2, retry_after="7")
    for _ in range(2):
        answer = post(simulator, "users")
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "7"
        assert answer.json()["error"] == "Too Many Requests"
    assert post(simulator, "users").status_code == 200


def test_injected_faults_are_fifo_and_path_filtered(simulator: LangdockSimulator) -> None:
    simulator.inject(503, path="/export/models")
    simulator.inject(502, body="<html>bad gateway</html>")
    simulator.inject(500, body={"error": "Boom", "message": "custom"})
    answer = post(simulator, "users")
    assert (answer.status_code, answer.headers["Content-Type"]) == (502, "text/html; charset=utf-8")
    assert answer.text == "<html>bad gateway</html>"
    assert post(simulator, "users").json() == {"error": "Boom", "message": "custom"}
    assert post(simulator, "users").status_code == 200
    assert post(simulator, "models").status_code == 503
    assert post(simulator, "models").status_code == 200


def test_injected_delay_and_reset(simulator: LangdockSimulator) -> None:
    simulator.inject(delay=0.3)
    started = time.monotonic()
    assert post(simulator, "users").status_code == 200
    assert time.monotonic() - started >= 0.3
    simulator.inject(reset=True)
    with pytest.raises(requests.ConnectionError, match="reset"):
        post(simulator, "users")
    assert post(simulator, "users").status_code == 200


def test_rate_limit_storm(simulator: LangdockSimulator) -> None:
    simulator.inject_for(0.3, retry_after="1")
    assert [post(simulator, "users").status_code for _ in range(3)] == [429] * 3
    time.sleep(0.35)
    assert post(simulator, "users").status_code == 200


def test_download_faults(simulator: LangdockSimulator, download_url: str) -> None:
    expected = simulator.csv_bytes("users", DAY0, DAY1)
    simulator.inject_download(503, count=2)
    assert [requests.get(download_url, timeout=10).status_code for _ in range(2)] == [503, 503]
    simulator.inject_download(truncate_after=100)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(download_url, timeout=10)
    simulator.inject_download(reset_after=100)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError), match="reset"):
        requests.get(download_url, timeout=10)
    simulator.inject_download(delay=0.2)
    started = time.monotonic()
    assert requests.get(download_url, timeout=10).content == expected
    assert time.monotonic() - started >= 0.2


def test_malformed_body_framing_is_a_400(simulator: LangdockSimulator) -> None:
    headers = {**AUTH, "Content-Length": "many"}
    assert requests.post(f"{simulator.base_url}/export/users", headers=headers, timeout=10).status_code == 400


def test_invalid_injections_are_rejected(simulator: LangdockSimulator) -> None:
    with pytest.raises(ValueError, match="needs"):
        simulator.inject()
    with pytest.raises(ValueError, match="count"):
        simulator.inject(500, count=0)
    with pytest.raises(ValueError, match="needs"):
        simulator.inject_download()


# -- plumbing -----------------------------------------------------------------------------------


def test_requests_are_recorded(simulator: LangdockSimulator, download_url: str) -> None:
    requests.get(download_url, timeout=10)
    api, download = simulator.requests
    assert (api.server, api.method, api.path) == ("api", "POST", "/export/users")
    assert api.headers["authorization"] == api.headers["Authorization"] == f"Bearer {KEY}"
    assert api.json == export_body()
    assert (download.server, download.method, download.json) == ("download", "GET", None)
    assert download.path.startswith("/files/")
    assert "Authorization" not in download.headers
    simulator.clear_requests()
    assert simulator.requests == []


def _same_connection_throughout(url: str, calls: list[tuple[str, str, Any, dict[str, str]]]) -> list[int]:
    """Send ``calls`` (method, path, JSON body, headers) on one connection; fail if it is ever closed."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.connect()
    assert connection.sock is not None
    local_address = connection.sock.getsockname()
    statuses = []
    try:
        for method, path, body, headers in calls:
            payload = None if body is None else json.dumps(body)
            connection.request(method, parts.path + path, body=payload, headers=headers)
            answer = connection.getresponse()
            answer.read()
            assert not answer.will_close
            assert connection.sock is not None
            assert connection.sock.getsockname() == local_address
            statuses.append(answer.status)
    finally:
        connection.close()
    return statuses


def test_keep_alive_on_every_kind_of_answer(simulator: LangdockSimulator, download_url: str) -> None:
    simulator.inject(503, path="faulted")
    api_calls = [
        ("POST", "/export/users", export_body(), AUTH),
        ("POST", "/export/users/json", export_body(), AUTH),
        ("POST", "/export/users", export_body(DAY1, DAY0), AUTH),
        ("POST", "/export/teams", export_body(), AUTH),
        ("POST", "/export/users", export_body(), {}),
        ("POST", "/export/workflows", export_body(), AUTH),
        ("GET", "/export/users", None, AUTH),
        ("POST", "/export/users?faulted", export_body(), AUTH),
    ]
    statuses = _same_connection_throughout(simulator.base_url, api_calls)
    assert statuses == [200, 200, 400, 404, 401, 404, 405, 503]
    file = urlsplit(download_url)
    file_path = f"{file.path}?{file.query}"
    download_calls = [
        ("GET", file_path, None, {}),
        ("HEAD", file_path, None, {}),
        ("GET", file_path, None, {"Range": "bytes=5-"}),
        ("GET", file_path, None, AUTH),
        ("GET", "/files/nothing", None, {}),
        ("GET", file_path, None, {}),
    ]
    statuses = _same_connection_throughout(simulator.download_base_url, download_calls)
    assert statuses == [200, 200, 206, 400, 404, 200]


def test_one_requests_session_for_everything(simulator: LangdockSimulator) -> None:
    with requests.Session() as session:
        session.headers.update(AUTH)
        for _ in range(3):
            answer = session.post(f"{simulator.base_url}/export/users", json=export_body(), timeout=10)
            url = answer.json()["data"]["downloadUrl"]
            download = session.get(url, headers={"Authorization": None}, timeout=10)
            assert download.content == simulator.csv_bytes("users", DAY0, DAY1)
            assert session.post(f"{simulator.base_url}/export/nothing", timeout=10).status_code == 404


def test_concurrent_exports(simulator: LangdockSimulator) -> None:
    results: list[int] = []

    def export() -> None:
        results.append(post(simulator, "users").status_code)

    threads = [threading.Thread(target=export) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 8


def test_stop_closes_idle_connections_and_cleans_up() -> None:
    sim = LangdockSimulator(api_key=KEY).start()
    session = requests.Session()
    assert post(sim, "users").status_code == 200
    session.post(f"{sim.base_url}/export/users", json=export_body(), headers=AUTH, timeout=10)
    storage = sim._storage
    assert storage is not None
    assert any(storage.iterdir())
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2
    assert not storage.exists()
    with pytest.raises(requests.ConnectionError):
        session.post(f"{sim.base_url}/export/users", json=export_body(), headers=AUTH, timeout=10)


# -- command line -------------------------------------------------------------------------------


@pytest.fixture
def cli() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """The simulator as a process on free ports: (process, base_url, download_url)."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_langdock.testing",
        "--port",
        "0",
        "--download-port",
        "0",
    ]
    command += ["--api-key", KEY, "--path-prefix", "/api/public", "--byok", "--row-count", "7"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"LANGDOCK_SIMULATOR base_url=(\S+) download_url=(\S+)\n", line)
        assert match, line
        yield process, match.group(1), match.group(2)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_cli_serves_until_sigterm(cli: tuple[subprocess.Popen[str], str, str]) -> None:
    process, base_url, download_url = cli
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/public", base_url)
    root = base_url.removesuffix("/api/public")
    assert requests.get(f"{root}/_simulator/health", timeout=10).json()["download_url"] == download_url
    answer = requests.post(f"{base_url}/export/models", json=export_body(group_by="deployment"), headers=AUTH)
    assert answer.json()["data"]["recordCount"] == 7
    assert requests.get(answer.json()["data"]["downloadUrl"], timeout=10).status_code == 200

    assert requests.post(f"{root}/_simulator/faults", json={"status": 503, "count": 1}).status_code == 200
    assert requests.post(f"{base_url}/export/users", json=export_body(), headers=AUTH).status_code == 503
    assert requests.post(f"{root}/_simulator/faults", json={"bogus": 1}).status_code == 400
    window = {"start": None, "end": DAY0.isoformat()}
    assert requests.post(f"{base_url}/_simulator/data-window", json=window).status_code == 200
    assert requests.post(f"{base_url}/export/users", json=export_body(), headers=AUTH).status_code == 404
    assert requests.post(f"{root}/_simulator/download-faults", json={"status": 500}).status_code == 200
    recorded = requests.get(f"{root}/_simulator/requests", timeout=10).json()["requests"]
    assert [(r["server"], r["path"]) for r in recorded][:2] == [
        ("api", "/api/public/export/models"),
        (
            "download",
            urlsplit(answer.json()["data"]["downloadUrl"]).path
            + "?"
            + urlsplit(answer.json()["data"]["downloadUrl"]).query,
        ),
    ]
    assert recorded[0]["json"]["group_by"] == "deployment"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    assert process.stderr.read() == ""


def test_busy_port_fails_start_without_leftovers(simulator: LangdockSimulator) -> None:
    clash = LangdockSimulator(port=urlsplit(simulator.base_url).port or 0)
    with pytest.raises(OSError, match="in use"):
        clash.start()
    assert clash._storage is None
    with pytest.raises(RuntimeError, match="not started"):
        _ = clash.base_url


def test_cli_reports_a_busy_port(simulator: LangdockSimulator) -> None:
    busy = urlsplit(simulator.base_url).port
    command = [sys.executable, "-m", "airflow_provider_langdock.testing", "--port", str(busy)]
    finished = subprocess.run([*command, "--download-port", "0"], capture_output=True, text=True, timeout=30)
    assert finished.returncode == 1
    assert "cannot listen" in finished.stderr


def test_reuse_exports_answers_a_repeated_request_with_the_same_file(simulator: LangdockSimulator) -> None:
    first = post(simulator, "users").json()["data"]
    assert post(simulator, "users").json()["data"]["downloadUrl"] != first["downloadUrl"]
    simulator.reuse_exports = True
    reused = post(simulator, "users").json()["data"]
    assert post(simulator, "users").json()["data"] == reused
    assert post(simulator, "users", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert post(simulator, "projects").json()["data"]["downloadUrl"] != reused["downloadUrl"]
    simulator.row_count = 7  # other data settings: a new file
    assert post(simulator, "users").json()["data"]["recordCount"] == 7
