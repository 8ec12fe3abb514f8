"""Typed errors of the Langdock provider.

Every error is a :class:`LangdockError`, itself an ``AirflowException``, so a DAG can catch one
family or one precise cause. Messages carry the API's own ``error`` and ``message`` fields, passed
through :func:`~airflow_provider_langdock.redaction.redact` on construction: whatever a server
echoes, no API key, bearer token, URL credential or URL signature survives in an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowSensorTimeout

from airflow_provider_langdock.redaction import redact, redact_optional


class LangdockError(AirflowException):
    """Base class of every error raised by this provider."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        api_error: str | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(redact(str(message)))
        self.http_status = http_status
        self.api_error = redact_optional(api_error)
        self.api_message = redact_optional(api_message)


class LangdockInputError(LangdockError, ValueError):
    """A parameter or connection setting is invalid; raised before any request is sent."""


class LangdockAuthError(LangdockError):
    """The API key was refused (401) or lacks the ``USAGE_EXPORT_API`` scope (403)."""


class LangdockNoDataError(LangdockError):
    """The API has no usage data for the requested period (404 "No data found")."""


class LangdockBadRequestError(LangdockError):
    """The API refused the request (400): invalid range, unsupported ``group_by``, ..."""


class LangdockExportTooLargeError(LangdockBadRequestError):
    """The export exceeds the API's row cap (400 "Export too large"); narrow the date range."""

    def __init__(
        self,
        message: str,
        *,
        row_count: int,
        row_limit: int,
        api_error: str | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message, http_status=400, api_error=api_error, api_message=api_message)
        self.row_count = row_count
        self.row_limit = row_limit


class LangdockTransientError(LangdockError):
    """An error worth retrying: rate limit, server error or network failure."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        api_error: str | None = None,
        api_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, api_error=api_error, api_message=api_message)
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class LangdockRateLimitError(LangdockTransientError):
    """The API answered 429 and kept answering it until the retries ran out."""


class LangdockServerError(LangdockTransientError):
    """The API answered 5xx (after retries, for 500/502/503/504)."""


class LangdockConnectionError(LangdockTransientError):
    """The API could not be reached: connection refused or reset, DNS failure or timeout."""


class LangdockInvalidResponseError(LangdockError):
    """The API answered 2xx with a body that is not the documented shape."""


class LangdockDownloadError(LangdockError):
    """Downloading the export file from its signed URL failed."""


class LangdockVerificationError(LangdockDownloadError):
    """The downloaded file is not what Langdock reported: fewer or more bytes than announced, another
    row count than ``recordCount``, parts with different headers, or a file that changed between
    attempts. Nothing was landed."""


class LangdockTimeoutError(LangdockError):
    """The task's deadline (``execution_timeout``) passed while it waited in the triggerer."""


class LangdockSensorTimeoutError(LangdockTimeoutError, AirflowSensorTimeout):
    """The sensor's ``timeout`` passed before Langdock had data (deferrable mode); ``soft_fail`` skips it."""


_DETAIL_FIELDS = ("http_status", "api_error", "api_message")
_ERROR_CLASSES: dict[str, type[LangdockError]] = {
    cls.__name__: cls
    for cls in (
        LangdockError,
        LangdockInputError,
        LangdockAuthError,
        LangdockNoDataError,
        LangdockBadRequestError,
        LangdockExportTooLargeError,
        LangdockTransientError,
        LangdockRateLimitError,
        LangdockServerError,
        LangdockConnectionError,
        LangdockInvalidResponseError,
        LangdockDownloadError,
        LangdockVerificationError,
        LangdockTimeoutError,
        LangdockSensorTimeoutError,
    )
}


def error_details(error: LangdockError) -> dict[str, Any]:
    """JSON-serialisable form of ``error`` (trigger events): its class name, message and fields."""
    details: dict[str, Any] = {"error_type": type(error).__name__, "message": str(error)}
    details.update({name: getattr(error, name) for name in _DETAIL_FIELDS})
    if isinstance(error, LangdockTransientError):
        details["retry_after"] = error.retry_after
    if isinstance(error, LangdockExportTooLargeError):
        details.update(row_count=error.row_count, row_limit=error.row_limit)
    return details


def error_from_details(details: Mapping[str, Any]) -> LangdockError:
    """Inverse of :func:`error_details`: the same exception class with the same message and fields.

    An unknown ``error_type`` gives a plain :class:`LangdockError` that names it.
    """
    error_type = details.get("error_type")
    message = str(details.get("message") or "no message")
    fields = {name: details.get(name) for name in _DETAIL_FIELDS}
    cls = _ERROR_CLASSES.get(error_type) if isinstance(error_type, str) else None
    if cls is None:
        return LangdockError(f"{error_type or 'Unknown error'}: {message}", **fields)
    if issubclass(cls, LangdockExportTooLargeError):
        return cls(
            message,
            row_count=int(details.get("row_count") or 0),
            row_limit=int(details.get("row_limit") or 0),
            api_error=fields["api_error"],
            api_message=fields["api_message"],
        )
    if issubclass(cls, LangdockTransientError):
        return cls(message, retry_after=details.get("retry_after"), **fields)
    return cls(message, **fields)
