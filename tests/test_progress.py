"""Progress lines of a transfer: when they come, what they say, and that they never hold a URL."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_langdock import progress as progress_module
from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.destinations import LocalDestination
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.progress import TransferProgress, format_duration
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.transfer import land_plan

MIB = 1024 * 1024
_PERCENT = re.compile(r"([\d.]+) % \(by (bytes|rows)\)")
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)


class FakeClock:
    """A monotonic clock set by hand; with ``step``, every reading also moves it on by ``step`` seconds."""

    def __init__(self, now: float = 1000.0, step: float = 0.0) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> float:
        reading = self.now
        self.now += self.step
        return reading


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _progress_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=progress_module.__name__)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The progress lines logged so far."""
    return [record.getMessage() for record in caplog.records if record.name == progress_module.__name__]


def percent(line: str) -> tuple[float, str]:
    """A line's percentage and its basis."""
    found = _PERCENT.search(line)
    assert found, line
    return float(found[1]), found[2]


def by_rows(clock: FakeClock, total_rows: int = 1000, parts: int = 1, **kwargs: float) -> TransferProgress:
    progress = TransferProgress(total_rows=total_rows, parts=parts, monotonic=clock, **kwargs)
    progress.start_part(1, "users export from 2024-01-01 00:00 to 2024-01-02 00:00 (UTC)")
    return progress


# -- when lines come -------------------------------------------------------------------------------


def test_no_line_before_30_seconds_without_a_quarter_crossed(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    progress = by_rows(clock)
    for rows in range(10, 250, 10):  # up to 24 %
        clock.now += 1.2
        progress.advance(100, rows)
    assert clock.now - progress.started < 30
    assert len(logged(caplog)) == 0
    clock.now = progress.started + 30
    progress.advance(100, 249)
    assert len(logged(caplog)) == 1
    assert "24.9 % (by rows)" in logged(caplog)[0]


def test_one_line_per_quarter_crossed_and_none_at_100(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    progress = by_rows(clock)
    for rows in (100, 249, 250, 300, 499, 500, 501, 749, 760, 999, 1000):
        progress.advance(10, rows)
    assert [percent(line) for line in logged(caplog)] == [(25.0, "rows"), (50.0, "rows"), (76.0, "rows")]


def test_quarters_crossed_by_one_chunk_make_one_line(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    progress = by_rows(clock)
    progress.advance(10, 600)  # 25 and 50 %
    progress.advance(10, 700)
    progress.advance(10, 800)  # 75 %
    progress.advance(10, 1000)
    assert len(logged(caplog)) == 2
    assert "60.0 %" in logged(caplog)[0]
    assert "80.0 %" in logged(caplog)[1]


def test_a_line_at_most_every_interval(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    progress = by_rows(clock, total_rows=10**9, interval=5)
    for _ in range(100):  # 100 chunks a second apart, far below the first quarter
        clock.now += 1
        progress.advance(1, 1)
    assert len(logged(caplog)) == 20
    assert progress.lines == 20


def test_a_quarter_line_restarts_the_interval(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    progress = by_rows(clock)
    clock.now += 20
    progress.advance(10, 300)  # 25 % crossed at 20 s
    clock.now += 29
    progress.advance(10, 310)  # 49 s: 29 s after the last line
    assert len(logged(caplog)) == 1
    clock.now += 1
    progress.advance(10, 320)
    assert len(logged(caplog)) == 2


def test_no_line_is_formatted_unless_one_is_due(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    formatted: list[float] = []

    class Counted(TransferProgress):
        def line(self, now: float) -> str:
            formatted.append(now)
            return super().line(now)

    progress = Counted(total_rows=10**9, parts=1, monotonic=clock)
    for rows in range(10_000):
        progress.advance(1024, rows)
    assert formatted == []
    clock.now += 30
    progress.advance(1024, 10_000)
    assert len(formatted) == len(logged(caplog)) == 1


# -- what lines say --------------------------------------------------------------------------------


def test_a_line_by_rows_names_the_part_bytes_rows_speed_and_time_left(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    progress = TransferProgress(total_rows=3000, parts=3, monotonic=clock)
    progress.start_part(1, "users export from 2024-01-01 00:00 to 2024-01-02 00:00 (UTC)")
    progress.advance(4 * MIB, 1000, 4 * MIB)  # a part's own size does not make a split plan's total
    progress.start_part(2, "users export from 2024-01-02 00:00 to 2024-01-03 00:00 (UTC)")
    clock.now += 4
    progress.advance(6 * MIB, 1500, 6 * MIB)  # 50 % of the rows in 4 s
    assert logged(caplog)[-1] == (
        "Transfer progress, part 2 of 3 (users export from 2024-01-02 00:00 to 2024-01-03 00:00 (UTC)): "
        "10,485,760 bytes, 1,500 of 3,000 rows, 50.0 % (by rows), 2.50 MiB/s, about 4 s left."
    )


def test_a_line_by_bytes_when_the_single_files_size_is_known(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    progress = TransferProgress(total_rows=800_000, parts=1, monotonic=clock)
    progress.start_part(1)
    clock.now += 10
    progress.advance(2 * MIB, 190_000, 8 * MIB)  # 25 % of the bytes, fewer of the rows
    assert logged(caplog) == [
        "Transfer progress, part 1 of 1: 2,097,152 of 8,388,608 bytes, 190,000 of 800,000 rows, "
        "25.0 % (by bytes), 0.20 MiB/s, about 30 s left."
    ]


def test_a_line_before_any_progress_has_no_speed_or_time_left(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    progress = by_rows(clock, total_rows=0)
    progress.advance(0, 0)
    clock.now += 30
    progress.advance(0, 0)
    assert logged(caplog)[0].endswith(
        ": 0 bytes, 0 of 0 rows, 0.0 % (by rows), 0.00 MiB/s, time left unknown."
    )
    assert progress.line(progress.started).endswith("? MiB/s, time left unknown.")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s"), (7620, "2 h 07 min")],
)
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "description",
    [
        "users export https://downloads.example.com/files/abc?signature=s3cr3t&expires=1",
        "HTTP://Downloads.Example.com/files/abc?X-Amz-Signature=s3cr3t",
        "see www.downloads.example.com/files/abc?sig=s3cr3t",
    ],
)
def test_no_url_even_in_a_description(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, description: str
) -> None:
    progress = TransferProgress(total_rows=100, parts=2, monotonic=clock)
    progress.start_part(2, description)
    progress.advance(100, 50)
    assert len(logged(caplog)) == 1
    for fragment in ("://", "downloads.example", "files/abc", "s3cr3t", "signature", "sig="):
        assert fragment not in logged(caplog)[0].lower()
    assert "<URL removed>" in logged(caplog)[0]


# -- through land_plan -----------------------------------------------------------------------------


@pytest.fixture
def hook(langdock_conn: LangdockSimulator) -> Iterator[LangdockHook]:
    langdock = LangdockHook()
    yield langdock
    langdock.close()


def test_landing_a_split_plan_logs_progress_without_the_signed_url(
    hook: LangdockHook, langdock_conn: LangdockSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1,260 rows in several files, a chunk every 10 s of a fast fake clock: lines every 30 s, no URL."""
    caplog.set_level(logging.DEBUG)
    simulator = langdock_conn
    simulator.rows_per_day, simulator.row_cap = 240, 1000
    simulator.add_busy_period(DAY0 + timedelta(hours=12), DAY0 + timedelta(hours=24), rows_per_day=1800)
    plan = hook.plan_export(ExportRequest.build("users", DAY0, DAY0 + timedelta(days=2), "UTC"))
    parts = len(plan.parts)
    assert parts > 1

    land_plan(
        hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=2000, monotonic=FakeClock(step=10)
    )

    lines = logged(caplog)
    assert len(lines) >= 4
    assert {percent(line)[1] for line in lines} == {"rows"}  # a split plan's byte size is not known
    assert 0 < min(percent(line)[0] for line in lines) < max(percent(line)[0] for line in lines) < 100
    assert all(line.startswith("Transfer progress, part ") and f" of {parts} (" in line for line in lines)
    assert any(line.startswith(f"Transfer progress, part {parts} of {parts} ") for line in lines)
    signatures = {
        parse_qs(urlsplit(part.result.download_url).query)["signature"][0]
        for part in plan.parts
        if part.result
    }
    assert not any(simulator.download_base_url in line or "://" in line for line in lines)
    assert not any(signature in caplog.text for signature in signatures)


def test_landing_a_single_file_counts_progress_by_bytes(
    hook: LangdockHook, langdock_conn: LangdockSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One file of 1,200 rows in 1,000-byte chunks on a clock that stands still: the three quarter lines."""
    langdock_conn.rows_per_day = 400
    plan = hook.plan_export(ExportRequest.build("users", DAY0, DAY0 + timedelta(days=3), "UTC"))
    assert len(plan.parts) == 1

    land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=1000, monotonic=FakeClock())

    size = (tmp_path / "users.csv").stat().st_size
    lines = logged(caplog)
    assert [(int(share // 25 * 25), basis) for share, basis in map(percent, lines)] == [
        (25, "bytes"),
        (50, "bytes"),
        (75, "bytes"),
    ]
    assert all(f" of {size:,} bytes, " in line and " of 1,200 rows, " in line for line in lines)
    assert all(line.startswith("Transfer progress, part 1 of 1 (users export from ") for line in lines)
