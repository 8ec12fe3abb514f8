"""Split exports and their landing, with faults, against the simulator and real storage servers.

Every test ends in one of two ways: the landed file equals a direct, fault-free export of the same
range (byte for byte; split parts differ only in their period_start/period_end columns), or nothing
landed and the typed error names the cause.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.connection import LangdockSettings
from airflow_provider_langdock.destinations import LocalDestination, destination_for
from airflow_provider_langdock.download import FileDownload
from airflow_provider_langdock.exceptions import (
    LangdockDownloadError,
    LangdockExportTooLargeError,
    LangdockVerificationError,
)
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.planning import ExportPart, ExportPlan
from airflow_provider_langdock.retries import RetryPolicy
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.transfer import land_plan

from .conftest import refuse_gcs_chunk, refuse_s3_part

HOUR = timedelta(hours=1)
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
MIB = 1024 * 1024
_ROW_START_WITH_PERIODS = re.compile(rb"\r\n\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2},")


@pytest.fixture
def hook(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, recorded_waits: list[float]
) -> Iterator[LangdockHook]:
    conn = {"conn_type": "langdock", "host": simulator.base_url, "password": "test-key"}
    monkeypatch.setenv("AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps(conn))
    langdock = LangdockHook()
    yield langdock
    langdock.close()


def two_level_split(simulator: LangdockSimulator) -> tuple[datetime, datetime]:
    """Two days where the afternoon of the first is dense: 1,260 rows, cap 1,000, split twice."""
    simulator.rows_per_day, simulator.row_cap = 240, 1000
    simulator.add_busy_period(DAY0 + 12 * HOUR, DAY0 + 24 * HOUR, rows_per_day=1800)
    return DAY0, DAY0 + timedelta(days=2)


def three_level_split(simulator: LangdockSimulator) -> tuple[datetime, datetime]:
    """Two days with a four-hour burst: 2,440 rows, cap 1,000, split three times."""
    simulator.rows_per_day, simulator.row_cap = 240, 1000
    simulator.add_busy_period(DAY0 + 12 * HOUR, DAY0 + 16 * HOUR, rows_per_day=12_000)
    return DAY0, DAY0 + timedelta(days=2)


def without_periods(data: bytes) -> bytes:
    """The CSV bytes without each row's leading period_start,period_end cells."""
    return _ROW_START_WITH_PERIODS.sub(b"\r\n", data)


def assert_is_the_direct_export(
    landed: bytes, simulator: LangdockSimulator, start: datetime, end: datetime, group_by: str | None = None
) -> None:
    direct = simulator.csv_bytes("users", start, end, group_by)
    header = direct.split(b"\r\n", 1)[0]
    assert landed.split(b"\r\n", 1)[0] == header
    assert landed.count(header) == 1
    assert without_periods(landed) == without_periods(direct)


def export_requests(simulator: LangdockSimulator) -> list[tuple[datetime, datetime]]:
    """The UTC ranges of the export requests the API received, in order."""
    ranges = []
    for recorded in simulator.requests:
        if recorded.server == "api" and isinstance(recorded.json, dict):
            start, end = (recorded.json[side]["date"] for side in ("from", "to"))
            assert recorded.json["from"]["timezone"] == recorded.json["to"]["timezone"] == "UTC"
            ranges.append((_utc(start), _utc(end)))
    return ranges


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def split_depth(simulator: LangdockSimulator, plan: ExportPlan) -> int:
    """The deepest part's number of enclosing requests: how many times a range was split."""
    sent = set(export_requests(simulator))
    depths = []
    for part in plan.parts:
        start, end = part.request.utc_range()
        depths.append(sum(1 for a, b in sent if a <= start and end <= b and (a, b) != (start, end)))
    return max(depths)


def downloads(simulator: LangdockSimulator) -> list[Any]:
    return [recorded for recorded in simulator.requests if recorded.server == "download"]


def users_request(start: datetime, end: datetime, group_by: str | None = None) -> ExportRequest:
    return ExportRequest.build("users", start, end, "UTC", group_by)


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


# -- splitting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "depth", "records"), [(two_level_split, 2, 1260), (three_level_split, 3, 2440)]
)
@pytest.mark.parametrize("group_by", [None, "model"])
def test_split_export_lands_as_one_csv(
    hook: LangdockHook,
    simulator: LangdockSimulator,
    tmp_path: Path,
    scenario: Any,
    depth: int,
    records: int,
    group_by: str | None,
) -> None:
    start, end = scenario(simulator)
    plan = hook.plan_export(users_request(start, end, group_by))
    assert split_depth(simulator, plan) == depth
    assert plan.record_count == records
    assert all(0 < part.record_count <= 1000 for part in plan.parts)

    landing = land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=4096)

    landed = (tmp_path / "users.csv").read_bytes()
    assert_is_the_direct_export(landed, simulator, start, end, group_by)
    assert landing.bytes == len(landed)
    metadata = landing.to_dict()
    assert metadata["record_count"] == records
    assert metadata["download_url"] is None
    assert metadata["file_path"] is None
    assert len(metadata["parts"]) == len(plan.parts) == len(downloads(simulator))
    assert leftovers(tmp_path) == ["users.csv"]


def test_an_hour_above_the_cap_fails_before_any_download(
    hook: LangdockHook, simulator: LangdockSimulator
) -> None:
    simulator.rows_per_day, simulator.row_cap = 240, 1000
    simulator.add_busy_period(DAY0 + 5 * HOUR, DAY0 + 6 * HOUR, rows_per_day=48_000)
    with pytest.raises(LangdockExportTooLargeError, match="cannot be split further") as caught:
        hook.plan_export(users_request(DAY0, DAY0 + timedelta(days=1)))
    assert caught.value.row_count == 2000
    last_start, last_end = export_requests(simulator)[-1]
    assert (last_start, last_end) == (DAY0 + 5 * HOUR, DAY0 + 6 * HOUR)
    assert not downloads(simulator)


def test_rate_limits_and_server_errors_while_splitting_are_waited_out(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path, recorded_waits: list[float]
) -> None:
    start, end = two_level_split(simulator)
    simulator.inject(429, count=2, retry_after="7")
    simulator.inject(503, count=2)
    plan = hook.plan_export(users_request(start, end))
    simulator.inject_download(503, count=2)
    simulator.inject_download(429)
    land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"))
    assert_is_the_direct_export((tmp_path / "users.csv").read_bytes(), simulator, start, end)
    assert recorded_waits[:2] == [7.0, 7.0]  # Retry-After, as asked
    assert len(recorded_waits) == 2 + 2 + 2 + 1


# -- download faults --------------------------------------------------------------------------------


def test_a_truncated_download_resumes_with_range(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    """The body stops after 20,000 bytes although Content-Length announced the whole file."""
    start, end = three_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    simulator.inject_download(truncate_after=20_000)
    land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=1000)
    assert_is_the_direct_export((tmp_path / "users.csv").read_bytes(), simulator, start, end)
    ranges = [recorded.headers.get("Range") for recorded in downloads(simulator)]
    assert ranges == [None, "bytes=20000-"] + [None] * (len(plan.parts) - 1)


def test_a_connection_reset_half_way_resumes(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end, "model"))
    simulator.inject_download(reset_after=30_000)
    land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=1000)
    assert_is_the_direct_export((tmp_path / "users.csv").read_bytes(), simulator, start, end, "model")
    assert len(downloads(simulator)) == len(plan.parts) + 1


def test_without_range_support_a_broken_download_restarts_and_skips_what_was_sent(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    simulator.accept_ranges = False
    plan = hook.plan_export(users_request(start, end))
    simulator.inject_download(reset_after=20_000)
    simulator.inject_download(truncate_after=10_000)
    land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=4096)
    assert_is_the_direct_export((tmp_path / "users.csv").read_bytes(), simulator, start, end)
    assert not any("Range" in recorded.headers for recorded in downloads(simulator))
    assert len(downloads(simulator)) == len(plan.parts) + 2


def test_a_download_that_keeps_breaking_lands_nothing(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    simulator.inject_download(truncate_after=1000, count=20)
    with pytest.raises(LangdockDownloadError, match=r"broke off after 5000 of \d+ bytes .* 5 attempts"):
        land_plan(hook, plan, LocalDestination(tmp_path / "out" / "users.csv"), chunk_size=500)
    assert leftovers(tmp_path / "out") == []


def test_expired_urls_are_exported_again_once(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    sent_before = len(export_requests(simulator))
    simulator.expire_download_urls()  # e.g. the task waited in the queue longer than the URLs live

    landing = land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"))

    assert_is_the_direct_export((tmp_path / "users.csv").read_bytes(), simulator, start, end)
    again = export_requests(simulator)[sent_before:]
    assert again == [part.request.utc_range() for part in plan.parts]
    old_paths = [urlsplit(part.result.download_url).path for part in plan.parts if part.result]
    new_paths = [urlsplit(part["download_url"]).path for part in landing.to_dict()["parts"]]
    assert set(old_paths).isdisjoint(new_paths)
    # per part: the expired URL (403), then the fresh one
    expected = [path for pair in zip(old_paths, new_paths, strict=True) for path in pair]
    assert [urlsplit(recorded.path).path for recorded in downloads(simulator)] == expected


def test_a_url_refused_again_after_a_fresh_export_is_an_error(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    simulator.url_ttl = -1  # every URL is already expired when handed out
    plan = hook.plan_export(users_request(start, end))
    with pytest.raises(LangdockDownloadError, match="403 Forbidden .* fresh export .* refused too") as caught:
        land_plan(hook, plan, LocalDestination(tmp_path / "out" / "users.csv"))
    assert caught.value.http_status == 403
    assert "signature=***" in str(caught.value)
    assert leftovers(tmp_path / "out") == []


def test_a_url_expiring_mid_download_resumes_from_a_fresh_export(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    simulator.inject_download(truncate_after=25_000)
    simulator.inject_download(403)  # the resume finds the URL expired
    landing = land_plan(hook, plan, LocalDestination(tmp_path / "users.csv"), chunk_size=1000)
    assert_is_the_direct_export((tmp_path / "users.csv").read_bytes(), simulator, start, end)
    ranges = [recorded.headers.get("Range") for recorded in downloads(simulator)]
    assert ranges[:3] == [None, "bytes=25000-", None]  # the fresh file is read from its start
    assert landing.plan.parts[0].result != plan.parts[0].result
    urls = [part.result.download_url for part in (*plan.parts, *landing.plan.parts) if part.result]
    signatures = {parse_qs(urlsplit(url).query)["signature"][0] for url in urls}
    assert len(signatures) == len(plan.parts) + 1
    assert "signature=***" in caplog.text
    assert not any(signature in caplog.text for signature in signatures)


def test_a_fresh_export_with_other_bytes_cannot_continue_a_download(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    simulator.seed = 1  # the data changed at Langdock meanwhile
    simulator.inject_download(truncate_after=25_000)
    simulator.inject_download(403)
    with pytest.raises(
        LangdockVerificationError, match="does not start with the 25000 bytes already streamed"
    ):
        land_plan(hook, plan, LocalDestination(tmp_path / "out" / "users.csv"), chunk_size=1000)
    assert leftovers(tmp_path / "out") == []


# -- verification -------------------------------------------------------------------------------------


def test_a_row_count_other_than_langdocks_lands_nothing(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    last = len(plan.parts) - 1
    result = plan.parts[last].result
    assert result is not None
    tampered = plan.with_result(last, dataclasses.replace(result, record_count=result.record_count + 1))
    with pytest.raises(
        LangdockVerificationError,
        match=rf"holds {result.record_count} data rows .* reported {result.record_count + 1} \(recordCount",
    ):
        land_plan(hook, tampered, LocalDestination(tmp_path / "out" / "users.csv"))
    assert leftovers(tmp_path / "out") == []


def test_parts_with_different_headers_land_nothing(
    hook: LangdockHook, simulator: LangdockSimulator, tmp_path: Path
) -> None:
    first = hook.run_export(users_request(DAY0, DAY0 + timedelta(days=1)))
    second = hook.run_export(users_request(DAY0 + timedelta(days=1), DAY0 + timedelta(days=2), "model"))
    whole = users_request(DAY0, DAY0 + timedelta(days=2))
    plan = ExportPlan(
        whole,
        (
            ExportPart(whole.for_utc_range(DAY0, DAY0 + timedelta(days=1)), first),
            ExportPart(whole.for_utc_range(DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)), second),
        ),
    )
    with pytest.raises(LangdockVerificationError, match="header of file of part 2 of 2 .* differs"):
        land_plan(hook, plan, LocalDestination(tmp_path / "out" / "users.csv"))
    assert leftovers(tmp_path / "out") == []


def fake_response(body: bytes, headers: dict[str, str], status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response.raw = io.BytesIO(body)
    return response


@pytest.mark.parametrize(
    ("body", "length", "error", "message"),
    [
        (b"a,b\r\n1,2\r\n", 20, LangdockDownloadError, "broke off after 10 of 20 bytes .* 2 attempts"),
        (b"a,b\r\n1,2\r\n", 6, LangdockVerificationError, "sent more than the 6 bytes it announced"),
    ],
)
def test_the_body_must_match_content_length(
    recorded_waits: list[float], body: bytes, length: int, error: type[Exception], message: str
) -> None:
    """A server that closes early without urllib3 noticing, or sends more than it announced."""

    def opener(url: str, *, start: int = 0, if_range: str | None = None) -> requests.Response:
        return fake_response(body, {"Content-Length": str(length)})

    download = FileDownload(
        "https://storage.example/file.csv", opener=opener, retry=RetryPolicy(max_attempts=2), chunk_size=4
    )
    with pytest.raises(error, match=message):
        b"".join(download)


# -- storage ------------------------------------------------------------------------------------------


def large_split(simulator: LangdockSimulator) -> tuple[datetime, datetime]:
    """Two days of 13,000 users rows a day (about 13 MB), cap 10,000: three parts."""
    simulator.rows_per_day, simulator.row_cap = 13_000, 10_000
    return DAY0, DAY0 + timedelta(days=2)


def test_split_export_to_s3_and_an_s3_error_half_way(
    hook: LangdockHook,
    simulator: LangdockSimulator,
    s3_client: Any,
    s3_bucket: str,
    aws_conn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import ClientError

    start, end = large_split(simulator)
    plan = hook.plan_export(users_request(start, end))
    assert len(plan.parts) == 3
    uri = f"s3://{s3_bucket}/langdock/users.csv"

    land_plan(hook, plan, destination_for(uri, aws_conn, part_size=5 * MIB))
    landed = s3_client.get_object(Bucket=s3_bucket, Key="langdock/users.csv")["Body"].read()
    assert len(landed) > 10 * MIB
    assert_is_the_direct_export(landed, simulator, start, end)
    s3_client.delete_object(Bucket=s3_bucket, Key="langdock/users.csv")

    refuse_s3_part(monkeypatch, 2)
    with pytest.raises(ClientError, match="InvalidArgument"):
        land_plan(hook, plan, destination_for(uri, aws_conn, part_size=5 * MIB))
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert not s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_split_export_to_gcs_and_a_gcs_error_half_way(
    hook: LangdockHook,
    simulator: LangdockSimulator,
    gcs_client: Any,
    gcs_bucket: str,
    gcp_conn: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    start, end = two_level_split(simulator)
    plan = hook.plan_export(users_request(start, end, "model"))
    uri = f"gs://{gcs_bucket}/langdock/users.csv"
    chunk = 256 * 1024

    land_plan(hook, plan, destination_for(uri, gcp_conn, part_size=chunk))
    landed = gcs_client.bucket(gcs_bucket).get_blob("langdock/users.csv").download_as_bytes()
    assert len(landed) > 2 * chunk
    assert_is_the_direct_export(landed, simulator, start, end, "model")
    gcs_client.bucket(gcs_bucket).delete_blob("langdock/users.csv")

    sent_chunks = refuse_gcs_chunk(monkeypatch, 2)
    with pytest.raises(Exception, match="400"):
        land_plan(hook, plan, destination_for(uri, gcp_conn, part_size=chunk))
    assert len(sent_chunks) == 2
    assert [blob.name for blob in gcs_client.list_blobs(gcs_bucket)] == []


def test_landing_again_overwrites_with_identical_content(
    hook: LangdockHook, simulator: LangdockSimulator, s3_client: Any, s3_bucket: str, aws_conn: str
) -> None:
    start, end = three_level_split(simulator)
    uri = f"s3://{s3_bucket}/users.csv"
    landed = []
    for _ in range(2):
        plan = hook.plan_export(users_request(start, end))
        land_plan(hook, plan, destination_for(uri, aws_conn))
        landed.append(s3_client.get_object(Bucket=s3_bucket, Key="users.csv")["Body"].read())
    assert landed[0] == landed[1]
    assert [obj["Key"] for obj in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]] == ["users.csv"]


class FilesClient:
    """A stand-in for the hook that serves fixed files at fake URLs (for byte-level edge cases)."""

    settings = LangdockSettings("http://127.0.0.1:1", "unused-key", retry=RetryPolicy(max_attempts=1))

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def run_export(self, request: ExportRequest) -> Any:
        raise AssertionError("no fresh export expected")

    def open_download(self, url: str, *, start: int = 0, if_range: str | None = None) -> requests.Response:
        body = self.files[url]
        return fake_response(body, {"Content-Length": str(len(body))})


def test_parts_without_a_final_line_break_are_joined_with_one(tmp_path: Path) -> None:
    """One data row each; the first file starts with a byte-order mark, the second has a quoted line break."""
    files = {"https://s/1": b"\xef\xbb\xbfa,b\r\n1,2", "https://s/2": b'a,b\r\n"3\r\n3",4'}
    whole = users_request(DAY0, DAY0 + timedelta(days=2))
    middle = DAY0 + timedelta(days=1)
    plan = ExportPlan(
        whole,
        (
            ExportPart(whole.for_utc_range(DAY0, middle), ExportResult("https://s/1", "1", "users", 1, {})),
            ExportPart(
                whole.for_utc_range(middle, whole.utc_range()[1]),
                ExportResult("https://s/2", "2", "users", 1, {}),
            ),
        ),
    )
    landing = land_plan(FilesClient(files), plan, LocalDestination(tmp_path / "users.csv"), chunk_size=3)
    assert (tmp_path / "users.csv").read_bytes() == b'\xef\xbb\xbfa,b\r\n1,2\r\n"3\r\n3",4'
    assert landing.bytes == len(b'\xef\xbb\xbfa,b\r\n1,2\r\n"3\r\n3",4')
