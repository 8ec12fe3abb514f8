"""``LangdockAsyncHook``: the Usage Export API from an event loop (the triggerer), with aiohttp.

It shares everything but the transport with the sync ``LangdockHook``: the connection's settings
(:mod:`~airflow_provider_langdock.connection`), paths, bodies, parsing and error mapping
(:mod:`~airflow_provider_langdock.api`) and the retry policy (:mod:`~airflow_provider_langdock.retries`).
Nothing here blocks the event loop: the connection is read asynchronously, sleeps are asyncio sleeps,
and the one file read (a custom CA bundle) runs in a thread. This module does not import ``requests``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from types import TracebackType
from typing import Any

import aiohttp
from airflow.providers.common.compat.sdk import BaseHook
from tenacity import AsyncRetrying

from airflow_provider_langdock.api import (
    ExportRequest,
    ExportResult,
    Route,
    error_for_response,
    is_success,
    parse_export_response,
    unreachable_error,
)
from airflow_provider_langdock.connection import USER_AGENT, LangdockSettings
from airflow_provider_langdock.exceptions import LangdockError
from airflow_provider_langdock.hooks.base import LangdockBaseHook
from airflow_provider_langdock.planning import PLANNED_ERRORS, ExportPlan, ExportPlanner
from airflow_provider_langdock.retries import retry_deadline

try:  # apache-airflow-providers-common-compat with the async connection helpers
    from airflow.providers.common.compat import connection as _compat_connection
except ImportError:  # older common-compat: the sync calls run in a worker thread instead
    _compat_connection = None  # type: ignore[assignment]


async def _read_connection(hook: BaseHook, conn_id: str) -> tuple[Any, dict[str, Any]]:
    """The Airflow connection and its extras, read without blocking the event loop.

    Airflow 3.3.2+ reads and masks them asynchronously (``aget_connection``, ``aextra_dejson``);
    older versions run the sync calls in a worker thread, where waiting on the supervisor is safe.
    """
    if _compat_connection is not None:
        conn = await _compat_connection.get_async_connection(conn_id, hook=hook)
        return conn, await _compat_connection.get_async_extra_dejson(conn)
    conn = await asyncio.to_thread(hook.get_connection, conn_id)
    return conn, await asyncio.to_thread(lambda: conn.extra_dejson)


def _ssl_context(ca_bundle: str) -> ssl.SSLContext:
    """A TLS context trusting the CA bundle file (or directory) ``ca_bundle``, like ``requests``' verify."""
    if os.path.isdir(ca_bundle):
        return ssl.create_default_context(capath=ca_bundle)
    return ssl.create_default_context(cafile=ca_bundle)


class LangdockAsyncHook(LangdockBaseHook):
    """Talks to the Langdock Usage Export API from async code, through a ``langdock`` connection.

    Use it as an async context manager (or call :meth:`close`): it keeps one aiohttp session.
    The parameters are :class:`LangdockBaseHook`'s.
    """

    _settings: LangdockSettings | None = None
    _client: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LangdockAsyncHook:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def get_settings(self) -> LangdockSettings:
        """The connection, read once and checked; the API key is registered with the log masker."""
        if self._settings is None:
            conn, extra = await _read_connection(self, self.langdock_conn_id)
            self._settings = self._settings_from(conn, extra)
        return self._settings

    async def get_async_conn(self) -> aiohttp.ClientSession:
        """The reused aiohttp session (User-Agent, timeouts, TLS verification); no credentials in it."""
        if self._client is None:
            settings = await self.get_settings()
            verify = settings.verify
            tls = await asyncio.to_thread(_ssl_context, verify) if isinstance(verify, str) else verify
            self._client = aiohttp.ClientSession(
                headers={"User-Agent": f"{USER_AGENT} aiohttp/{aiohttp.__version__}"},
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=settings.timeout, sock_read=settings.timeout
                ),
                connector=aiohttp.TCPConnector(ssl=tls),
            )
        return self._client

    async def close(self) -> None:
        """Close the HTTP session (it is reopened on next use)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def run_export(self, request: ExportRequest, *, retry_until: float | None = None) -> ExportResult:
        """Send a checked :class:`ExportRequest` to the CSV route and return where to download it.

        Retries follow the connection's retry policy; with ``retry_until`` (see
        :func:`~airflow_provider_langdock.retries.retry_deadline`) retryable errors are retried
        until then instead of for a number of attempts.
        """
        self._log_request(request)
        text = await self._post(request, route=None, retry_until=retry_until)
        result = parse_export_response(text, request)
        self._log_result(result, request)
        return result

    async def plan_export(self, request: ExportRequest, *, retry_window: float | None = None) -> ExportPlan:
        """Export ``request``, split into parts at whole UTC hours if Langdock refuses it as too large.

        As ``LangdockHook.plan_export``; with ``retry_window`` each part's retryable errors are
        retried for that many seconds instead of for a number of attempts.
        """
        planner = ExportPlanner(request)
        part = planner.next_request()
        while part is not None:
            until = None if retry_window is None else retry_deadline(retry_window, self.clock)
            try:
                answer: ExportResult | LangdockError = await self.run_export(part, retry_until=until)
            except PLANNED_ERRORS as error:
                answer = error
            self._log_answer(part, answer)
            part = planner.answer(answer)
        return self._log_plan(planner.plan())

    async def _post(self, request: ExportRequest, route: Route | None, *, retry_until: float | None) -> str:
        """POST the request with retries; return the body of a 2xx answer or raise the typed error."""
        settings = await self.get_settings()
        client = await self.get_async_conn()
        url = settings.url(request.path(route))
        what = request.describe()
        policy = settings.retry.async_tenacity_kwargs(self.log, what, retry_until=retry_until)
        async for attempt in AsyncRetrying(**policy):
            with attempt:
                try:
                    async with client.post(
                        url,
                        json=request.body(),
                        headers={"Authorization": f"Bearer {settings.api_key}", "Accept": "application/json"},
                        proxy=settings.proxy_for(url),
                        allow_redirects=False,
                    ) as response:
                        text = await response.text(errors="replace")
                        if is_success(response.status):
                            return text
                        raise error_for_response(
                            response.status,
                            text,
                            what=what,
                            retry_after=response.headers.get("Retry-After"),
                            location=response.headers.get("Location"),
                        )
                except (aiohttp.ClientError, TimeoutError) as error:
                    raise unreachable_error(settings.base_url, what, error) from error
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


__all__ = ["LangdockAsyncHook"]
