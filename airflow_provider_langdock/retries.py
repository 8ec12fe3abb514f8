"""The retry policy shared by the sync hook and the async trigger client (tenacity)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from airflow_provider_langdock.api import RETRYABLE_STATUSES
from airflow_provider_langdock.clock import SYSTEM_CLOCK, Clock
from airflow_provider_langdock.exceptions import LangdockTransientError
from airflow_provider_langdock.validation import finite_number, whole_number

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_RETRY_WAIT = 60.0
DEFAULT_INITIAL_WAIT = 1.0
#: Shortest wait between two attempts when retries are bounded by time instead of attempts.
MIN_WAIT_IN_RETRY_WINDOW = 1.0
#: Seconds the export trigger keeps retrying rate limits, server errors and network failures.
DEFAULT_RETRY_WINDOW = 900.0


class WarningLogger(Protocol):
    """Any logger: stdlib, Airflow's structlog-based one, or a LoggerAdapter."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


def is_retryable(error: BaseException) -> bool:
    """True for network failures and for 429, 500, 502, 503 and 504 answers."""
    if not isinstance(error, LangdockTransientError):
        return False
    return error.http_status is None or error.http_status in RETRYABLE_STATUSES


def retry_deadline(window: float, clock: Clock = SYSTEM_CLOCK) -> float:
    """A ``retry_until`` for :meth:`RetryPolicy.async_tenacity_kwargs`: ``window`` seconds from now."""
    return clock.monotonic() + window


class _StopBeforeDeadline(stop_base):
    """Stop when the next attempt would start after ``deadline`` (a :func:`retry_deadline` value)."""

    def __init__(self, deadline: float, clock: Clock) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        upcoming = float(getattr(retry_state, "upcoming_sleep", 0.0) or 0.0)
        return self.clock.monotonic() + upcoming > self.deadline


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry 429, 500/502/503/504, connection errors and timeouts.

    The defaults (5 attempts, waits of at most 60 s) give up within about four minutes. API requests
    and downloads wait the same way (:meth:`backoff`), on ``clock``.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_wait: float = DEFAULT_MAX_RETRY_WAIT
    initial_wait: float = DEFAULT_INITIAL_WAIT
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False, repr=False)

    def __post_init__(self) -> None:
        whole_number(self.max_attempts, "max_attempts")
        finite_number(self.max_wait, "max_retry_wait")
        finite_number(self.initial_wait, "initial_wait")

    def backoff(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failed attempts, at most ``max_wait``.

        What the server asked for (``Retry-After``) if it did, else ``initial_wait`` doubled per
        failed attempt plus up to ``initial_wait`` of jitter.
        """
        if retry_after is not None:
            return min(float(retry_after), self.max_wait)
        try:
            exponential = self.initial_wait * 2 ** (failed_attempts - 1)
        except OverflowError:
            return self.max_wait
        return min(exponential + random.uniform(0, self.initial_wait), self.max_wait)

    def tenacity_kwargs(self, log: WarningLogger, what: str) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying``; ``what`` names the call in logs."""
        return {
            "stop": stop_after_attempt(self.max_attempts),
            "wait": self._wait,
            "retry": retry_if_exception(is_retryable),
            "before_sleep": _retry_logger(
                log, what, lambda state: f"attempt {state.attempt_number} of {self.max_attempts}"
            ),
            "sleep": self.clock.sleep,
            "reraise": True,
        }

    def async_tenacity_kwargs(
        self, log: WarningLogger, what: str, *, retry_until: float | None = None
    ) -> dict[str, Any]:
        """Arguments for ``tenacity.AsyncRetrying``: the same waits and retryable errors, sleeping
        without blocking the event loop.

        With ``retry_until`` (from :func:`retry_deadline`) the budget is time instead of attempts:
        retryable errors are retried, each wait still capped by ``max_wait`` but at least
        ``MIN_WAIT_IN_RETRY_WINDOW``, until the next attempt would start after ``retry_until``.
        """
        kwargs = self.tenacity_kwargs(log, what)
        kwargs["sleep"] = self.clock.async_sleep
        if retry_until is not None:
            # a time budget must not turn into a tight loop of requests, even with max_retry_wait=0
            wait = kwargs["wait"]
            kwargs["wait"] = lambda state: max(wait(state), MIN_WAIT_IN_RETRY_WINDOW)
            kwargs["stop"] = _StopBeforeDeadline(retry_until, self.clock)
            kwargs["before_sleep"] = _retry_logger(
                log,
                what,
                lambda state: (
                    f"attempt {state.attempt_number}, "
                    f"giving up in {max(retry_until - self.clock.monotonic(), 0.0):.0f} s"
                ),
            )
        return kwargs

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.backoff(state.attempt_number, getattr(error, "retry_after", None))


def _retry_logger(
    log: WarningLogger, what: str, budget: Callable[[RetryCallState], str]
) -> Callable[[RetryCallState], None]:
    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("Langdock %s failed (%s): %s; retrying in %.1f s.", what, budget(state), error, wait)

    return log_retry
