"""The export planner on its own: no HTTP, a fake Langdock that counts rows with a density function."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_langdock.api import ExportRequest, ExportResult, format_wall_time
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockError,
    LangdockExportTooLargeError,
    LangdockNoDataError,
)
from airflow_provider_langdock.planning import ExportPart, ExportPlan, ExportPlanner

HOUR = timedelta(hours=1)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DAY0 = datetime(2026, 10, 1, tzinfo=UTC)

RowsPerHour = Callable[[datetime], float]


def rows_in(start: datetime, end: datetime, density: RowsPerHour) -> int:
    """Rows of ``[start, end)`` when hour ``h`` holds ``density(h)`` rows, spread evenly over it."""
    total = 0.0
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        overlap = min(end, hour + HOUR) - max(start, hour)
        total += density(hour) * (overlap / HOUR)
        hour += HOUR
    return round(total)


class FakeLangdock:
    """Answers the planner's requests like the API: a result, too large, or no data."""

    def __init__(self, density: RowsPerHour, cap: int) -> None:
        self.density = density
        self.cap = cap
        self.sent: list[ExportRequest] = []

    def plan(self, request: ExportRequest) -> ExportPlan:
        planner = ExportPlanner(request)
        part = planner.next_request()
        while part is not None:
            self.sent.append(part)
            part = planner.answer(self.answer(part))
        return planner.plan()

    def answer(self, part: ExportRequest) -> ExportResult | LangdockError:
        rows = rows_in(*part.utc_range(), self.density)
        if rows > self.cap:
            return LangdockExportTooLargeError("Export too large", row_count=rows, row_limit=self.cap)
        if rows == 0:
            return LangdockNoDataError("No data found")
        return result(rows, f"part-{part.utc_range()[0]:%Y%m%d%H}.csv")

    def depth_of(self, part: ExportPart) -> int:
        """How many requests sent before enclose this part's range: its level of splitting."""
        start, end = part.request.utc_range()
        enclosing = {sent.utc_range() for sent in self.sent} - {(start, end)}
        return sum(1 for first, last in enclosing if first <= start and end <= last)


def result(rows: int, name: str = "file.csv") -> ExportResult:
    return ExportResult(
        download_url=f"https://storage.example/{name}?X-Amz-Signature=abc",
        file_path=f"users-usage/org/{name}",
        data_type="users",
        record_count=rows,
        date_range={"from": "2026-10-01T00:00:00.000Z", "to": "2026-10-02T00:00:00.000Z"},
    )


def request(
    start: datetime, end: datetime, timezone: str = "UTC", group_by: str | None = None
) -> ExportRequest:
    return ExportRequest.build("users", start, end, timezone, group_by, now=NOW)


def assert_contiguous(plan: ExportPlan) -> None:
    edges = [part.request.utc_range() for part in plan.parts]
    assert edges[0][0] == plan.request.utc_range()[0]
    assert edges[-1][1] == plan.request.utc_range()[1]
    assert all(previous[1] == following[0] for previous, following in itertools.pairwise(edges))


def test_an_export_under_the_cap_is_one_part_sent_as_asked() -> None:
    langdock = FakeLangdock(lambda hour: 10, cap=1000)
    asked = request(datetime(2026, 10, 1), datetime(2026, 10, 2), "Europe/Berlin", "model")
    plan = langdock.plan(asked)
    assert langdock.sent == [asked]
    assert not plan.is_split
    assert plan.parts == (ExportPart(asked, plan.parts[0].result),)
    assert plan.record_count == 240


def test_uniform_data_is_split_by_the_ratio_of_rows_to_the_limit() -> None:
    langdock = FakeLangdock(lambda hour: 3500 / 24, cap=100_000)
    plan = langdock.plan(request(DAY0 - timedelta(days=60), DAY0 + timedelta(days=40)))
    # 350,000 rows against 90 % of 100,000: four parts of 25 days, each sent once
    assert len(langdock.sent) == 5
    assert [part.record_count for part in plan.parts] == [87_500] * 4
    assert {part.request.date_to - part.request.date_from for part in plan.parts} == {timedelta(days=25)}
    assert plan.record_count == 350_000
    assert_contiguous(plan)


@pytest.mark.parametrize(
    ("busy_rows_per_hour", "busy_hours", "expected_depth"),
    [
        (75, range(12, 24), 2),  # one half-day still too large after the first split
        (500, range(12, 16), 3),  # a four-hour burst needs a third split
    ],
)
def test_dense_hours_are_split_again_until_every_part_fits(
    busy_rows_per_hour: int, busy_hours: range, expected_depth: int
) -> None:
    busy = {DAY0 + index * HOUR for index in busy_hours}
    langdock = FakeLangdock(lambda hour: busy_rows_per_hour if hour in busy else 10, cap=1000)
    plan = langdock.plan(request(DAY0, DAY0 + timedelta(days=2)))
    assert max(langdock.depth_of(part) for part in plan.parts) == expected_depth
    assert all(0 < part.record_count <= 1000 for part in plan.parts)
    assert plan.record_count == rows_in(DAY0, DAY0 + timedelta(days=2), langdock.density)
    assert_contiguous(plan)
    for part in plan.parts:
        start, end = part.request.utc_range()
        assert start.minute == start.second == end.minute == end.second == 0


def test_a_single_hour_above_the_cap_is_a_clear_error() -> None:
    hot = DAY0 + 5 * HOUR
    langdock = FakeLangdock(lambda hour: 5000 if hour == hot else 1, cap=1000)
    with pytest.raises(LangdockExportTooLargeError, match="cannot be split further") as caught:
        langdock.plan(request(DAY0, DAY0 + timedelta(days=1)))
    assert (caught.value.row_count, caught.value.row_limit) == (5000, 1000)
    assert "2026-10-01T05:00:00.000Z to 2026-10-01T06:00:00.000Z" in str(caught.value)


def test_ranges_off_the_hour_split_at_whole_hours_and_keep_their_ends() -> None:
    start, end = DAY0 + timedelta(minutes=30), DAY0 + timedelta(hours=3, minutes=15)
    langdock = FakeLangdock(lambda hour: 600, cap=600)
    plan = langdock.plan(request(start, end))
    assert [part.request.utc_range() for part in plan.parts] == [
        (start, DAY0 + HOUR),
        (DAY0 + HOUR, DAY0 + 2 * HOUR),
        (DAY0 + 2 * HOUR, DAY0 + 3 * HOUR),
        (DAY0 + 3 * HOUR, end),
    ]
    assert plan.record_count == rows_in(start, end, langdock.density)


def test_parts_are_requested_in_utc_across_a_dst_change() -> None:
    """Berlin's clocks go back on 2026-10-25: that day has 25 hours, two of them 02:xx."""
    berlin = ZoneInfo("Europe/Berlin")
    asked = request(datetime(2026, 10, 24), datetime(2026, 10, 27), "Europe/Berlin")
    langdock = FakeLangdock(lambda hour: 100, cap=2000)
    plan = langdock.plan(asked)
    assert langdock.sent[0] == asked
    assert plan.is_split
    assert all(part.request.timezone == "UTC" for part in plan.parts)
    assert_contiguous(plan)
    first, last = plan.parts[0].request.utc_range()[0], plan.parts[-1].request.utc_range()[1]
    assert first == datetime(2026, 10, 24, tzinfo=berlin).astimezone(UTC)
    assert last - first == timedelta(hours=73)
    assert plan.record_count == 7300


def test_parts_without_data_are_empty_parts() -> None:
    quiet = {DAY0 + timedelta(days=1) + index * HOUR for index in range(24)}
    langdock = FakeLangdock(lambda hour: 0 if hour in quiet else 100, cap=1000)
    plan = langdock.plan(request(DAY0, DAY0 + timedelta(days=3)))
    empty = [part for part in plan.parts if part.result is None]
    assert empty
    assert all(part.record_count == 0 for part in empty)
    assert plan.record_count == 4800
    assert_contiguous(plan)


def test_no_data_for_the_whole_range_raises_the_apis_error() -> None:
    planner = ExportPlanner(request(DAY0, DAY0 + timedelta(days=1)))
    error = LangdockNoDataError("No data found", http_status=404)
    with pytest.raises(LangdockNoDataError) as caught:
        planner.no_data(error)
    assert caught.value is error


def test_split_parts_that_all_turn_out_empty_are_no_data() -> None:
    planner = ExportPlanner(request(DAY0, DAY0 + timedelta(days=1)))
    planner.too_large(3000, 1000)
    while planner.next_request() is not None:
        planner.no_data(LangdockNoDataError("No data found"))
    with pytest.raises(LangdockNoDataError, match="Every part"):
        planner.plan()


def test_an_answer_says_what_to_send_next() -> None:
    asked = request(DAY0, DAY0 + timedelta(days=1))
    planner = ExportPlanner(asked)
    first = planner.answer(LangdockExportTooLargeError("too large", row_count=3000, row_limit=1000))
    assert first is not None
    assert first.utc_range()[0] == DAY0
    second = planner.answer(LangdockNoDataError("No data found"))
    assert second is not None
    assert second.utc_range()[0] == first.utc_range()[1]
    refused = LangdockAuthError("Invalid or missing API key", http_status=401)
    with pytest.raises(LangdockAuthError) as caught:
        planner.answer(refused)
    assert caught.value is refused
    assert planner.next_request() == second


def test_the_planner_refuses_answers_out_of_turn() -> None:
    planner = ExportPlanner(request(DAY0, DAY0 + timedelta(days=1)))
    with pytest.raises(RuntimeError, match="not finished"):
        planner.plan()
    planner.succeeded(result(10))
    assert planner.done
    assert planner.next_request() is None
    with pytest.raises(RuntimeError, match="finished"):
        planner.succeeded(result(10))


def test_one_part_metadata_is_the_result_plus_parts() -> None:
    asked = request(datetime(2026, 10, 1), datetime(2026, 10, 2), "Europe/Berlin")
    plan = ExportPlan(asked, (ExportPart(asked, result(42)),))
    metadata = plan.to_dict()
    assert metadata == {
        **result(42).to_dict(),
        "parts": [
            {
                "date_from": "2026-10-01T00:00:00.000Z",
                "date_to": "2026-10-02T00:00:00.000Z",
                "timezone": "Europe/Berlin",
                "file_path": "users-usage/org/file.csv",
                "record_count": 42,
                "download_url": result(42).download_url,
            }
        ],
    }
    assert ExportPlan.from_dict(json.loads(json.dumps(metadata)), asked) == plan


def test_split_metadata_names_each_part_and_round_trips() -> None:
    langdock = FakeLangdock(lambda hour: 100, cap=2000)
    asked = request(datetime(2026, 10, 24), datetime(2026, 10, 27), "Europe/Berlin", "model")
    plan = langdock.plan(asked)
    metadata = plan.to_dict()
    assert metadata["download_url"] is None
    assert metadata["file_path"] is None
    assert metadata["record_count"] == sum(part["record_count"] for part in metadata["parts"]) == 7300
    assert metadata["date_range"] == {"from": "2026-10-23T22:00:00.000Z", "to": "2026-10-26T23:00:00.000Z"}
    assert [part["date_from"] for part in metadata["parts"]] == [
        format_wall_time(part.request.date_from) for part in plan.parts
    ]
    restored = ExportPlan.from_dict(json.loads(json.dumps(metadata)), asked)
    assert [part.request for part in restored.parts] == [part.request for part in plan.parts]
    assert [part.result and part.result.download_url for part in restored.parts] == [
        part.result and part.result.download_url for part in plan.parts
    ]
    assert restored.to_dict() == metadata


def test_a_plain_result_dict_is_a_one_part_plan() -> None:
    asked = request(DAY0, DAY0 + timedelta(days=1))
    plan = ExportPlan.from_dict(result(7).to_dict(), asked)
    assert plan.parts == (ExportPart(asked, result(7)),)
