"""The one decision of the sensor and its trigger: keep waiting, done, or fail."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockExportTooLargeError,
    LangdockNoDataError,
    LangdockServerError,
)
from airflow_provider_langdock.sensing import sensor_outcome

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
REQUEST = ExportRequest.build("users", DAY0, DAY0 + timedelta(days=1))
RESULT = ExportResult(
    download_url="https://storage.example/users.csv?X-Amz-Signature=abc",
    file_path="users-usage/org/users.csv",
    data_type="users",
    record_count=7,
    date_range={"from": "2026-10-01T00:00:00.000Z", "to": "2026-10-02T00:00:00.000Z"},
)


def test_an_export_file_is_done_with_its_metadata() -> None:
    outcome = sensor_outcome(REQUEST, RESULT)
    assert outcome.done
    assert outcome.metadata == RESULT.to_dict()


def test_a_period_above_the_row_cap_is_done_without_a_file() -> None:
    outcome = sensor_outcome(REQUEST, LangdockExportTooLargeError("too large", row_count=5, row_limit=1))
    assert outcome.metadata is not None
    assert outcome.metadata["download_url"] is None
    assert outcome.metadata["record_count"] == 5


@pytest.mark.parametrize(
    ("answer", "level"),
    [
        (LangdockNoDataError("No data found", http_status=404), logging.INFO),
        (LangdockServerError("Langdock answered 503", http_status=503), logging.WARNING),
    ],
    ids=["no-data", "server-error"],
)
def test_no_data_and_lasting_server_errors_mean_keep_waiting(
    answer: Exception, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = sensor_outcome(REQUEST, answer)  # type: ignore[arg-type]
    assert not outcome.done
    caplog.set_level(logging.INFO)
    outcome.log_to(logging.getLogger("sensing-test"), "waiting")
    assert [record.levelno for record in caplog.records] == [level]
    assert caplog.records[0].getMessage().endswith("; waiting.")


def test_a_refused_key_fails_the_check() -> None:
    refused = LangdockAuthError("Invalid or missing API key", http_status=401)
    with pytest.raises(LangdockAuthError) as caught:
        sensor_outcome(REQUEST, refused)
    assert caught.value is refused
