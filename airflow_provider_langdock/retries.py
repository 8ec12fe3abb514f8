"""The retry policy shared by the sync hook and the async trigger client (tenacity)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from airflow_provider_langdock.api import RETRYABLE_STATUSES
from airflow_provider_langdock.exceptions import LangdockTransientError

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_RETRY_WAIT = 60.0
DEFAULT_INITIAL_WAIT = 1.0


class WarningLogger(Protocol):
    """Any logger: stdlib, Airflow's structlog-based one, or a LoggerAdapter."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


def is_retryable(error: BaseException) -> bool:
    """True for network failures and for 429, 500, 502, 503 and 504 answers."""
    if not isinstance(error, LangdockTransientError):
        return False
    return error.http_status is None or error.http_status in RETRYABLE_STATUSES


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


class _RetryAfterOrBackoff(wait_base):
    """Wait what the server asked for (``Retry-After``, capped), else exponential backoff with jitter."""

    def __init__(self, initial: float, cap: float) -> None:
        self.cap = cap
        self.backoff = wait_exponential_jitter(initial=initial, max=cap, jitter=initial)

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        requested = getattr(error, "retry_after", None)
        if requested is not None:
            return min(float(requested), self.cap)
        return min(self.backoff(retry_state), self.cap)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry 429, 500/502/503/504, connection errors and timeouts.

    The defaults (5 attempts, waits of at most 60 s) give up within about four minutes.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_wait: float = DEFAULT_MAX_RETRY_WAIT
    initial_wait: float = DEFAULT_INITIAL_WAIT

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1; got {self.max_attempts}.")
        if self.max_wait < 0 or self.initial_wait < 0:
            raise ValueError("max_retry_wait and the initial wait must not be negative.")

    def tenacity_kwargs(self, log: WarningLogger, what: str) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` or ``AsyncRetrying``; ``what`` names the call in logs."""

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "Langdock %s failed (attempt %d of %d): %s; retrying in %.1f s.",
                what,
                state.attempt_number,
                self.max_attempts,
                error,
                wait,
            )

        return {
            "stop": stop_after_attempt(self.max_attempts),
            "wait": _RetryAfterOrBackoff(self.initial_wait, self.max_wait),
            "retry": retry_if_exception(is_retryable),
            "before_sleep": log_retry,
            "sleep": lambda seconds: _sleep(seconds),
            "reraise": True,
        }
