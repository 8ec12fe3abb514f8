"""The events of the Langdock triggers: built in the triggerer, decoded when the task resumes.

Each trigger fires exactly one event (a plain dict):

- ``{"status": "success", "result": {...}}`` (sensor): ``result`` is ``ExportResult.to_dict()``.
- ``{"status": "success", "request": {...}, "plan": {...}}`` (operator): the export request and its
  :class:`~airflow_provider_langdock.planning.ExportPlan` (several parts when it was split).
- ``{"status": "error", "error_type": ..., "message": ..., ...}``: a :class:`LangdockError`, as
  :func:`~airflow_provider_langdock.exceptions.error_details` describes it.
- ``{"status": "timeout", "message": ..., "deadline": ...}``: the task's deadline passed first.

:func:`result_from_event` and :func:`plan_from_event` turn an event back into the result or the plan,
or raise the typed error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.exceptions import (
    LangdockError,
    LangdockInvalidResponseError,
    LangdockSensorTimeoutError,
    LangdockTimeoutError,
    error_details,
    error_from_details,
)
from airflow_provider_langdock.planning import ExportPlan
from airflow_provider_langdock.redaction import redact


class LangdockTriggerEvent(TriggerEvent):
    """A ``TriggerEvent`` whose repr hides signed-URL signatures: the triggerer logs every event."""

    def __repr__(self) -> str:
        return f"TriggerEvent<{redact(repr(self.payload))}>"


def success_event(result: ExportResult | Mapping[str, Any]) -> dict[str, Any]:
    """The event of a sensor's success: the export's result, or the metadata of a period over the cap."""
    return {
        "status": "success",
        "result": result.to_dict() if isinstance(result, ExportResult) else dict(result),
    }


def error_event(error: LangdockError) -> dict[str, Any]:
    """The event of a failure; :func:`result_from_event` raises it again as the same class."""
    return {"status": "error", **error_details(error)}


def timeout_event(deadline: datetime, what: str) -> dict[str, Any]:
    """The event of a deadline that passed before ``what`` was done."""
    return {
        "status": "timeout",
        "message": f"The task's deadline ({deadline.isoformat()}) passed before {what}.",
        "deadline": deadline.isoformat(),
    }


def plan_event(request: ExportRequest, plan: ExportPlan) -> dict[str, Any]:
    """The event of a finished export (one part, or several when it was split)."""
    return {"status": "success", "request": request.to_dict(), "plan": plan.to_dict()}


def _success_payload(event: Any, what: str, timeout_error: type[LangdockTimeoutError]) -> Mapping[str, Any]:
    """A success event's payload; raise the typed error of an error, timeout, missing or unknown event."""
    if not isinstance(event, Mapping):
        raise LangdockError(
            f"The task resumed without a Langdock trigger event (got {type(event).__name__}); "
            "nothing was exported."
        )
    status = event.get("status")
    if status == "success":
        if what not in event:
            raise LangdockInvalidResponseError(f"The Langdock trigger reported success without a {what}.")
        return event
    if status == "error":
        raise error_from_details(event)
    if status == "timeout":
        raise timeout_error(str(event.get("message") or "The task's deadline passed in the triggerer."))
    raise LangdockError(f"The Langdock trigger sent an event of unknown status {status!r}.")


def result_from_event(
    event: Any, *, timeout_error: type[LangdockTimeoutError] = LangdockTimeoutError
) -> ExportResult:
    """The export result a sensor trigger's event carries; raise the typed error of any other event.

    An error event raises its own class (e.g. :class:`LangdockAuthError`), a timeout event
    ``timeout_error``, and a missing, malformed or unknown event a :class:`LangdockError`.
    """
    payload = _success_payload(event, "result", timeout_error)
    try:
        return ExportResult.from_dict(payload["result"])
    except (KeyError, TypeError, ValueError) as error:
        raise LangdockInvalidResponseError(
            f"The Langdock trigger reported success without a valid result ({type(error).__name__})."
        ) from None


def sensor_metadata_from_event(event: Any) -> dict[str, Any]:
    """The metadata a sensor trigger's success event carries (no single file above the row cap)."""
    payload = _success_payload(event, "result", LangdockSensorTimeoutError)
    metadata = payload["result"]
    if isinstance(metadata, Mapping) and metadata.get("download_url") is None and "record_count" in metadata:
        return dict(metadata)
    return result_from_event(event, timeout_error=LangdockSensorTimeoutError).to_dict()


def plan_from_event(event: Any) -> ExportPlan:
    """The export plan an export trigger's event carries; raise the typed error of any other event."""
    payload = _success_payload(event, "plan", LangdockTimeoutError)
    try:
        return ExportPlan.from_dict(payload["plan"], ExportRequest.from_dict(payload["request"]))
    except (KeyError, TypeError, ValueError) as error:
        raise LangdockInvalidResponseError(
            f"The Langdock trigger reported success without a valid plan ({type(error).__name__})."
        ) from None


__all__ = [
    "LangdockTriggerEvent",
    "error_event",
    "plan_event",
    "plan_from_event",
    "result_from_event",
    "sensor_metadata_from_event",
    "success_event",
    "timeout_event",
]
