"""A task retry policy for this provider's errors (Airflow 3.3 and later).

Since Airflow 3.3 a task can take a ``retry_policy``: when the task fails, the worker shows it the
exception and the policy decides to fail at once, to retry (after a delay it may choose) or to leave
it to the task's own ``retries`` and ``retry_delay``. :func:`langdock_retry_policy` gives one that knows
the Langdock errors:

* **fail at once**, since another try would fail the same way: :class:`LangdockAuthError`,
  :class:`LangdockInputError`, :class:`LangdockExportTooLargeError`, :class:`LangdockBadRequestError`
  and :class:`LangdockVerificationError`;
* **retry** :class:`LangdockRateLimitError`, :class:`LangdockServerError`,
  :class:`LangdockConnectionError` and :class:`LangdockDownloadError`, after the ``Retry-After`` the
  API sent (at most ``max_retry_delay``), else after ``retry_delay``;
* anything else: Airflow's usual handling (the task's ``retries``).

A retry still counts against the task's ``retries``: the policy can end the retries early, never add
one. On older Airflow, :func:`langdock_retry_policy_args` returns ``{}``, so a DAG can pass
``**langdock_retry_policy_args()`` to any task or to ``default_args`` and parse everywhere.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow import __version__ as airflow_version
from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockBadRequestError,
    LangdockConnectionError,
    LangdockDownloadError,
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockRateLimitError,
    LangdockServerError,
    LangdockVerificationError,
)
from airflow_provider_langdock.validation import seconds

try:  # Airflow 3.3+
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryDecision, RetryRule

    RETRY_POLICIES_SUPPORTED = True
except ImportError:  # Airflow 2, or 3.0 to 3.2: no task retry policies
    ExceptionRetryPolicy = object  # type: ignore[misc,assignment]
    RETRY_POLICIES_SUPPORTED = False

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Longest delay taken from a ``Retry-After`` unless ``max_retry_delay`` says otherwise.
DEFAULT_MAX_RETRY_DELAY = timedelta(hours=1)

# (error class, fail at once?, reason). The first matching rule wins, so a subclass with another
# outcome than its parent comes first: LangdockVerificationError is a LangdockDownloadError.
_RULES: tuple[tuple[type[Exception], bool, str], ...] = (
    (LangdockAuthError, True, "Langdock refused the API key or it lacks the USAGE_EXPORT_API scope"),
    (LangdockInputError, True, "a parameter or connection setting is invalid"),
    (LangdockExportTooLargeError, True, "the export exceeds the API's row cap; narrow the date range"),
    (LangdockBadRequestError, True, "the Langdock API refused the request (400)"),
    (LangdockVerificationError, True, "the downloaded file is not what Langdock reported"),
    (LangdockRateLimitError, False, "the Langdock API is rate limiting (429)"),
    (LangdockServerError, False, "the Langdock API answered with a server error"),
    (LangdockConnectionError, False, "the Langdock API could not be reached"),
    (LangdockDownloadError, False, "downloading the export file failed"),
)


def _require_retry_policies() -> None:
    if not RETRY_POLICIES_SUPPORTED:
        raise AirflowOptionalProviderFeatureException(
            f"Task retry policies need Airflow 3.3 or later; this is Airflow {airflow_version}. Leave "
            "retry_policy unset (the task's retries and retry_delay apply) or pass "
            "**langdock_retry_policy_args(), which is empty on older Airflow."
        )


class LangdockRetryPolicy(ExceptionRetryPolicy):
    """An ``ExceptionRetryPolicy`` for the Langdock errors whose retries wait what the API asked.

    Build it with :func:`langdock_retry_policy`. :attr:`rules` are Airflow ``RetryRule`` objects, in
    the order they are tried.

    :param retry_delay: seconds (or a timedelta) before retrying an error without ``Retry-After``;
        ``None``: the task's ``retry_delay`` (and ``retry_exponential_backoff``).
    :param max_retry_delay: the longest delay taken from a ``Retry-After``.
    """

    def __init__(
        self,
        *,
        retry_delay: timedelta | float | None = None,
        max_retry_delay: timedelta | float = DEFAULT_MAX_RETRY_DELAY,
    ) -> None:
        _require_retry_policies()
        self.retry_delay = None if retry_delay is None else seconds(retry_delay, "retry_delay")
        self.max_retry_delay = seconds(max_retry_delay, "max_retry_delay")
        delay = None if self.retry_delay is None else timedelta(seconds=self.retry_delay)
        super().__init__(
            rules=[
                RetryRule(
                    exception=error,
                    action=RetryAction.FAIL if fail else RetryAction.RETRY,
                    retry_delay=None if fail else delay,
                    reason=reason,
                )
                for error, fail, reason in _RULES
            ],
        )

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        """Fail, retry (after ``Retry-After``, capped, when the error has one) or leave it to Airflow."""
        rule = next((rule for rule in self.rules if rule.matches(exception)), None)
        if rule is None:
            return RetryDecision.default()
        if rule.action is RetryAction.FAIL:
            return RetryDecision.fail(f"{rule.reason}; a retry cannot help.")
        requested = getattr(exception, "retry_after", None)
        if isinstance(requested, int | float) and math.isfinite(requested) and requested >= 0:
            wait = min(float(requested), self.max_retry_delay)
            capped = " (capped by max_retry_delay)" if wait < requested else ""
            return RetryDecision.retry(
                timedelta(seconds=wait),
                f"{rule.reason}; retrying in {wait:g}s as its Retry-After of {requested:g}s asked{capped}.",
            )
        if rule.retry_delay is None:
            return RetryDecision.retry(None, f"{rule.reason}; retrying after the task's retry_delay.")
        return RetryDecision.retry(
            rule.retry_delay, f"{rule.reason}; retrying in {rule.retry_delay.total_seconds():g}s."
        )

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": "LangdockRetryPolicy",
            "retry_delay": self.retry_delay,
            "max_retry_delay": self.max_retry_delay,
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> LangdockRetryPolicy:
        return cls(retry_delay=data.get("retry_delay"), max_retry_delay=data["max_retry_delay"])


def langdock_retry_policy(
    *,
    retry_delay: timedelta | float | None = None,
    max_retry_delay: timedelta | float = DEFAULT_MAX_RETRY_DELAY,
) -> LangdockRetryPolicy:
    """A task ``retry_policy`` for the Langdock errors (Airflow 3.3+); see the module documentation.

    :param retry_delay: seconds (or a timedelta) before retrying a rate limit, server, network or
        download error that came without ``Retry-After``; ``None`` (default): the task's ``retry_delay``.
    :param max_retry_delay: the longest delay taken from a ``Retry-After`` (default one hour).
    :raises AirflowOptionalProviderFeatureException: on Airflow older than 3.3, naming the version needed.
    """
    return LangdockRetryPolicy(retry_delay=retry_delay, max_retry_delay=max_retry_delay)


def langdock_retry_policy_args(
    *,
    retry_delay: timedelta | float | None = None,
    max_retry_delay: timedelta | float = DEFAULT_MAX_RETRY_DELAY,
) -> dict[str, Any]:
    """``{"retry_policy": langdock_retry_policy(...)}`` on Airflow 3.3+, ``{}`` on older Airflow.

    For task arguments or ``default_args`` in a DAG that has to parse on any Airflow version.
    """
    if not RETRY_POLICIES_SUPPORTED:
        return {}
    return {"retry_policy": langdock_retry_policy(retry_delay=retry_delay, max_retry_delay=max_retry_delay)}


__all__ = [
    "DEFAULT_MAX_RETRY_DELAY",
    "RETRY_POLICIES_SUPPORTED",
    "LangdockRetryPolicy",
    "langdock_retry_policy",
    "langdock_retry_policy_args",
]
