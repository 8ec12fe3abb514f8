"""Keep waiting or done: one decision for the sensor's pokes and for its trigger's polls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_langdock.api import ExportRequest, ExportResult, over_row_cap_metadata
from airflow_provider_langdock.exceptions import (
    LangdockError,
    LangdockExportTooLargeError,
    LangdockNoDataError,
    LangdockTransientError,
)
from airflow_provider_langdock.retries import WarningLogger

#: The errors that answer a check ("not yet", or "there, above the row cap") instead of failing it.
SENSED_ERRORS = (LangdockExportTooLargeError, LangdockNoDataError, LangdockTransientError)


class _Logger(WarningLogger, Protocol):
    def info(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class SensorOutcome:
    """What one check found: the export's metadata once done (None: keep waiting), and why."""

    metadata: dict[str, Any] | None
    reason: str | None = None
    warning: bool = False

    @property
    def done(self) -> bool:
        return self.metadata is not None

    def log_to(self, log: _Logger, next_check: str) -> None:
        """Log the reason; ``next_check`` says when the next check comes (while waiting)."""
        if self.reason is None:
            return
        template = "%s" if self.done else f"%s; {next_check}."
        (log.warning if self.warning else log.info)(template, self.reason)


def sensor_outcome(request: ExportRequest, answer: ExportResult | LangdockError) -> SensorOutcome:
    """Decide a check of ``request`` from Langdock's answer, a result or an error.

    Done: an export file, or a period refused as too large (its data exists, in no single file).
    Keep waiting: "No data found" (404), or a rate limit, server or network error that outlasted
    the retries. Any other error (a refused key, a bad request) is raised again.
    """
    if isinstance(answer, ExportResult):
        return SensorOutcome(answer.to_dict())
    if isinstance(answer, LangdockExportTooLargeError):
        return SensorOutcome(
            over_row_cap_metadata(request, answer.row_count),
            f"{answer}: the data is there (the export operator splits such a range).",
        )
    if isinstance(answer, LangdockNoDataError):
        return SensorOutcome(None, f"No usage data yet for the {request.describe()}")
    if isinstance(answer, LangdockTransientError):
        return SensorOutcome(None, f"Langdock is not answering normally ({answer})", warning=True)
    raise answer


__all__ = ["SENSED_ERRORS", "SensorOutcome", "sensor_outcome"]
