"""Triggers of the deferrable Langdock operator and sensor: the waiting happens in the triggerer.

Everything here runs on the triggerer's event loop, so nothing blocks it: HTTP goes through
:class:`~airflow_provider_langdock.hooks.langdock_async.LangdockAsyncHook` (aiohttp), waits are
asyncio sleeps, and the connection (with the API key) is read in the triggerer from its id; the key
is never in the trigger's kwargs or in an event. This module does not import ``requests``.

Each trigger fires exactly one event; :mod:`~airflow_provider_langdock.triggers.events` builds and
decodes them.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.clock import SYSTEM_CLOCK, Clock
from airflow_provider_langdock.connection import check_hook_params
from airflow_provider_langdock.connection_ui import DEFAULT_CONN_ID
from airflow_provider_langdock.exceptions import LangdockError, LangdockInputError
from airflow_provider_langdock.retries import DEFAULT_RETRY_WINDOW
from airflow_provider_langdock.sensing import SENSED_ERRORS, sensor_outcome
from airflow_provider_langdock.triggers.events import (
    LangdockTriggerEvent,
    error_event,
    plan_event,
    success_event,
    timeout_event,
)
from airflow_provider_langdock.validation import seconds

if TYPE_CHECKING:  # aiohttp loads in the triggerer only, not when a DAG file is parsed
    from airflow_provider_langdock.hooks.langdock_async import LangdockAsyncHook

DEFAULT_POLL_INTERVAL = 300.0


def _as_deadline(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LangdockInputError(f"deadline must be timezone-aware; got {value!r}.")
    return moment.astimezone(UTC)


class _LangdockTrigger(BaseTrigger):
    """What both triggers share: the connection id and hook_params, the request, the deadline, the event.

    ``clock`` (what it waits between polls on and reads the time from; retry waits are the hook's) is
    not a serialized kwarg: a trigger loaded in the triggerer runs on the class's :attr:`clock`.
    """

    #: The clock of triggers created without one: real time.
    clock: Clock = SYSTEM_CLOCK

    def __init__(
        self,
        *,
        request: Mapping[str, Any],
        langdock_conn_id: str = DEFAULT_CONN_ID,
        deadline: datetime | str | None = None,
        hook_params: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        if clock is not None:
            self.clock = clock
        self.request = dict(request)
        self.langdock_conn_id = langdock_conn_id
        self.deadline = _as_deadline(deadline)
        self.hook_params = check_hook_params(hook_params)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "request": dict(self.request),
            "langdock_conn_id": self.langdock_conn_id,
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "hook_params": dict(self.hook_params),
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: plain JSON values, never the API key."""
        return f"{type(self).__module__}.{type(self).__qualname__}", self._kwargs()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _LangdockTrigger):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(repr(self.serialize()))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Fire one event: success, error or timeout (the hook's session is closed first)."""
        yield LangdockTriggerEvent(payload=await self._event())

    async def _event(self) -> dict[str, Any]:
        """The one event to fire; every failure becomes a typed error event, never an exception."""
        try:
            return await self._event_or_raise()
        except LangdockError as error:
            return error_event(error)
        except AirflowNotFoundException:
            return error_event(
                LangdockInputError(
                    f"The connection {self.langdock_conn_id!r} (langdock_conn_id) is not defined in the "
                    "triggerer: create it, or set AIRFLOW_CONN_<ID> where the triggerer runs."
                )
            )
        except Exception as error:
            self.log.exception("The Langdock trigger failed unexpectedly.")
            return error_event(LangdockError(f"The Langdock trigger failed: {type(error).__name__}: {error}"))

    async def _event_or_raise(self) -> dict[str, Any]:
        request = ExportRequest.from_dict(self.request)
        when = None  # the deadline on the event loop's clock
        if self.deadline is not None:
            seconds_left = (self.deadline - self.clock.now()).total_seconds()
            if seconds_left <= 0:
                return timeout_event(self.deadline, self._goal(request))
            when = asyncio.get_running_loop().time() + seconds_left
        from airflow_provider_langdock.hooks.langdock_async import LangdockAsyncHook

        deadline_scope = asyncio.timeout_at(when)
        try:
            async with deadline_scope, LangdockAsyncHook(self.langdock_conn_id, **self.hook_params) as hook:
                return await self._wait(hook, request)
        except TimeoutError:
            if self.deadline is None or not deadline_scope.expired():
                raise
            self.log.warning("The task's deadline %s passed; giving up.", self.deadline.isoformat())
            return timeout_event(self.deadline, self._goal(request))

    @abc.abstractmethod
    async def _wait(self, hook: LangdockAsyncHook, request: ExportRequest) -> dict[str, Any]:
        """Talk to Langdock until there is an event to fire (success), or raise a LangdockError."""

    @abc.abstractmethod
    def _goal(self, request: ExportRequest) -> str:
        """What the trigger waits for, for the timeout event's message."""


class LangdockUsageExportTrigger(_LangdockTrigger):
    """Request a usage export in the triggerer and fire its metadata (the deferrable operator's trigger).

    Rate limits (429), server errors (500/502/503/504) and network failures are retried, waiting what
    ``Retry-After`` asks or backing off exponentially, each wait capped by the connection's
    ``max_retry_wait``, for ``retry_window`` seconds, and never past ``deadline``. An export above the
    row cap is split into parts (``LangdockAsyncHook.plan_export``, which plans like the sync hook),
    requested one after the other; the event carries the whole plan.

    :param request: the export, as ``ExportRequest.to_dict()`` gives it.
    :param langdock_conn_id: the ``langdock`` connection, read in the triggerer.
    :param deadline: absolute UTC time (aware datetime or ISO string) after which a timeout event fires.
    :param retry_window: seconds to keep retrying transient errors before an error event.
    :param hook_params: keyword arguments for the ``LangdockAsyncHook`` (the operator's
        ``hook_params``); ``max_attempts`` does not apply here, where ``retry_window`` bounds retries.
    :param clock: what it reads the time from and polls on (not serialized; default: real time).
    """

    def __init__(
        self,
        *,
        request: Mapping[str, Any],
        langdock_conn_id: str = DEFAULT_CONN_ID,
        deadline: datetime | str | None = None,
        retry_window: float = DEFAULT_RETRY_WINDOW,
        hook_params: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            request=request,
            langdock_conn_id=langdock_conn_id,
            deadline=deadline,
            hook_params=hook_params,
            clock=clock,
        )
        self.retry_window = seconds(retry_window, "retry_window")

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "retry_window": self.retry_window}

    async def _wait(self, hook: LangdockAsyncHook, request: ExportRequest) -> dict[str, Any]:
        return plan_event(request, await hook.plan_export(request, retry_window=self.retry_window))

    def _goal(self, request: ExportRequest) -> str:
        return f"Langdock finished the {request.describe()}"


class LangdockUsageDataTrigger(_LangdockTrigger):
    """Wait in the triggerer until an export for the period succeeds (the deferrable sensor's trigger).

    Every ``poll_interval`` seconds it asks for the export: "No data found" (404) and rate limits or
    server errors that outlast the connection's retries mean "not yet"; success fires the metadata; a
    refused key (401/403) or a bad request (400) fires an error at once. At ``deadline`` it fires a
    timeout event.

    :param request: the export, as ``ExportRequest.to_dict()`` gives it.
    :param langdock_conn_id: the ``langdock`` connection, read in the triggerer.
    :param deadline: absolute UTC time (aware datetime or ISO string) after which a timeout event fires.
    :param poll_interval: seconds between two checks.
    :param hook_params: keyword arguments for the ``LangdockAsyncHook`` (the sensor's ``hook_params``).
    :param clock: what it reads the time from and polls on (not serialized; default: real time).
    """

    def __init__(
        self,
        *,
        request: Mapping[str, Any],
        langdock_conn_id: str = DEFAULT_CONN_ID,
        deadline: datetime | str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        hook_params: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            request=request,
            langdock_conn_id=langdock_conn_id,
            deadline=deadline,
            hook_params=hook_params,
            clock=clock,
        )
        self.poll_interval = seconds(poll_interval, "poll_interval")

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "poll_interval": self.poll_interval}

    async def _wait(self, hook: LangdockAsyncHook, request: ExportRequest) -> dict[str, Any]:
        while True:
            try:
                answer: ExportResult | LangdockError = await hook.run_export(request)
            except SENSED_ERRORS as error:
                answer = error
            outcome = sensor_outcome(request, answer)
            outcome.log_to(self.log, f"checking again in {self.poll_interval:g} s")
            if outcome.metadata is not None:
                return success_event(outcome.metadata)
            await self.clock.async_sleep(self.poll_interval)

    def _goal(self, request: ExportRequest) -> str:
        return f"Langdock had usage data for the {request.describe()}"


__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RETRY_WINDOW",
    "LangdockUsageDataTrigger",
    "LangdockUsageExportTrigger",
]
