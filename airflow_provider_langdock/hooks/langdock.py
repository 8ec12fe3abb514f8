"""``LangdockHook``: the ``langdock`` connection and every call of the Usage Export API."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from functools import cached_property
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase
from tenacity import Retrying

from airflow_provider_langdock import columns
from airflow_provider_langdock.api import (
    DateLike,
    ExportRecords,
    ExportRequest,
    ExportResult,
    Route,
    error_for_response,
    is_success,
    parse_export_response,
    parse_records_response,
    parse_retry_after,
    recent_probe_range,
    unreachable_error,
)
from airflow_provider_langdock.columns import TableSchema
from airflow_provider_langdock.connection import USER_AGENT, LangdockSettings
from airflow_provider_langdock.connection_ui import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_langdock.download import DOWNLOAD_FAILURES, FileDownload
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockConnectionError,
    LangdockDownloadError,
    LangdockError,
    LangdockNoDataError,
    LangdockServerError,
    LangdockTransientError,
)
from airflow_provider_langdock.hooks import DEFAULT_CHUNK_SIZE
from airflow_provider_langdock.hooks.base import LangdockBaseHook
from airflow_provider_langdock.planning import PLANNED_ERRORS, ExportPlan, ExportPlanner
from airflow_provider_langdock.redaction import redact
from airflow_provider_langdock.retries import RetryPolicy

#: Redirects followed from a signed URL to the file (storage hosts use one at most).
MAX_DOWNLOAD_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class _RedactSignedUrls(logging.Filter):
    """Removes signed-URL signatures (and anything else :func:`redact` knows) from urllib3's log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _redact_urllib3_logs() -> None:
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _RedactSignedUrls) for existing in urllib3_log.filters):
        urllib3_log.addFilter(_RedactSignedUrls())


_redact_urllib3_logs()


class _BearerAuth(AuthBase):
    """Adds the API key as a Bearer token; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class LangdockHook(LangdockBaseHook):
    """Talks to the Langdock Usage Export API through a ``langdock`` connection.

    The connection's password is the API key and its host the base URL (default
    ``https://api.langdock.com``; a dedicated deployment's ``https://<host>/api/public`` works as given).
    Extras: ``timeout``, ``verify``, ``proxies``, ``max_attempts``, ``max_retry_wait``,
    ``download_timeout``, ``download_connections`` and ``download_range_size`` (see
    :class:`~airflow_provider_langdock.connection.RangePolicy`). The parameters are
    :class:`LangdockBaseHook`'s.
    """

    # -- connection -------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form layout for Airflow 2.11 (Airflow 3 reads the same data from the provider info)."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 2.11, built from the same declaration as the provider info."""
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, PasswordField, StringField

        try:  # the styled inputs of Airflow 2's FAB-based UI
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget

            text_widget: dict[str, Any] = {"widget": BS3TextFieldWidget()}
            password_widget: dict[str, Any] = {"widget": BS3PasswordFieldWidget()}
        except ImportError:
            text_widget, password_widget = {}, {}
        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            kind = next(t for t in spec["schema"]["type"] if t != "null")
            label = lazy_gettext(spec["label"])
            description = spec.get("description")
            if kind == "boolean":
                widgets[name] = BooleanField(label, description=description)
            elif kind == "integer":
                widgets[name] = IntegerField(label, description=description, **text_widget)
            elif spec["schema"].get("format") == "password":
                widgets[name] = PasswordField(label, description=description, **password_widget)
            else:
                widgets[name] = StringField(label, description=description, **text_widget)
        return widgets

    @cached_property
    def settings(self) -> LangdockSettings:
        """The connection, read once and checked; the API key is registered with the log masker."""
        conn = self.get_connection(self.langdock_conn_id)
        return self._settings_from(conn, conn.extra_dejson)

    def get_conn(self) -> requests.Session:
        """The reused API session (Bearer auth, User-Agent, proxies, TLS verification)."""
        return self._api_session

    @cached_property
    def _api_session(self) -> requests.Session:
        session = self._new_session()
        session.auth = _BearerAuth(self.settings.api_key)
        session.headers["Content-Type"] = "application/json"
        session.headers["Accept"] = "application/json"
        return session

    @cached_property
    def _download_session(self) -> requests.Session:
        """A separate session for signed URLs that carries no credentials of any kind.

        ``trust_env`` is off, so ``requests`` never adds ``~/.netrc`` credentials, on the first request
        or on a redirect; redirects are followed by :meth:`open_download` itself. Proxies still come
        from the ``proxies`` extra and ``HTTPS_PROXY``/``NO_PROXY`` & co. (chosen per URL, see
        :meth:`LangdockSettings.proxy_for`), and a ``REQUESTS_CA_BUNDLE`` still applies.
        """
        session = self._new_session()
        session.trust_env = False
        session.proxies.clear()  # chosen per URL in _get_file, so a bypassed host gets no proxy
        if session.verify is True:
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        # Byte offsets (Range, Content-Length) must refer to the file itself, not to a compressed body.
        session.headers["Accept-Encoding"] = "identity"
        return session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = f"{USER_AGENT} {requests.utils.default_user_agent()}"
        session.verify = self.settings.verify
        session.proxies.update(self.settings.proxies)
        return session

    def close(self) -> None:
        """Close the HTTP sessions (they are reopened on next use)."""
        for name in ("_api_session", "_download_session"):
            session = self.__dict__.pop(name, None)
            if session is not None:
                session.close()

    # -- exports ----------------------------------------------------------------------------------

    def export_usage(
        self,
        data_type: str,
        date_from: DateLike,
        date_to: DateLike,
        timezone: str = "UTC",
        group_by: str | None = None,
    ) -> ExportResult:
        """Ask Langdock for a CSV export and return where to download it.

        Dates may be aware datetimes, pendulum values, ``date`` objects or ISO strings; naive values
        are wall time in ``timezone``. Everything is checked before a request is sent.
        """
        return self.run_export(ExportRequest.build(data_type, date_from, date_to, timezone, group_by))

    def run_export(self, request: ExportRequest) -> ExportResult:
        """Send a checked :class:`ExportRequest` to the CSV route."""
        self._log_request(request)
        text = self._post(request, route=None)
        result = parse_export_response(text, request)
        self._log_result(result, request)
        return result

    def plan_export(self, request: ExportRequest) -> ExportPlan:
        """Export ``request``, split into parts at whole UTC hours if Langdock refuses it as too large.

        Parts are requested one at a time (each with the usual retries, ``Retry-After`` included) and
        split again while still too large. An export under the row cap is one part, sent as asked.

        :raises LangdockExportTooLargeError: a range within a single UTC hour is still too large.
        :raises LangdockNoDataError: the range has no usage data.
        """
        planner = ExportPlanner(request)
        part = planner.next_request()
        while part is not None:
            try:
                answer: ExportResult | LangdockError = self.run_export(part)
            except PLANNED_ERRORS as error:
                answer = error
            self._log_answer(part, answer)
            part = planner.answer(answer)
        return self._log_plan(planner.plan())

    def export_usage_records(
        self,
        data_type: str,
        date_from: DateLike,
        date_to: DateLike,
        timezone: str = "UTC",
        group_by: str | None = None,
    ) -> ExportRecords:
        """Export through the JSON route, which returns the rows inline (for small ranges)."""
        request = ExportRequest.build(data_type, date_from, date_to, timezone, group_by)
        self.log.info("Requesting the Langdock %s as JSON records.", request.describe())
        return parse_records_response(self._post(request, route="json"), request)

    def _post(self, request: ExportRequest, route: Route | None, policy: RetryPolicy | None = None) -> str:
        """POST the request with retries; return the body of a 2xx answer or raise the typed error."""
        url = self.settings.url(request.path(route))
        what = request.describe()
        for attempt in Retrying(**(policy or self.settings.retry).tenacity_kwargs(self.log, what)):
            with attempt:
                try:
                    response = self.get_conn().post(
                        url, json=request.body(), timeout=self.settings.timeout, allow_redirects=False
                    )
                except (requests.ConnectionError, requests.Timeout) as error:
                    raise unreachable_error(self.settings.base_url, what, error) from error
                if is_success(response.status_code):
                    return response.text
                raise error_for_response(
                    response.status_code,
                    response.text,
                    what=what,
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                )
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # -- downloads --------------------------------------------------------------------------------

    def iter_download(self, download_url: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the export file at a signed URL, ``chunk_size`` bytes at a time.

        The request goes out on its own session, without the Langdock ``Authorization`` header.
        Opening is retried like API calls; a connection dropped mid-way is resumed (``Range``) within
        the same retry budget, and the yielded bytes are exactly the file's. A body that stays cut
        short raises :class:`LangdockDownloadError`. The URL's signature never reaches a log or an error.
        With ``download_connections`` above 1, a large file comes in ranges over that many connections
        (:class:`~airflow_provider_langdock.download.FileDownload`), still yielded in order.
        """
        yield from FileDownload(
            download_url,
            opener=self.open_download,
            retry=self.settings.retry,
            chunk_size=chunk_size,
            deadline=self.settings.transfer_deadline,
            ranges=self.settings.ranges,
        )

    def open_download(
        self, url: str, *, start: int = 0, end: int | None = None, if_range: str | None = None
    ) -> requests.Response:
        """GET a signed URL for streaming, from byte ``start`` to byte ``end`` (inclusive; ``Range``).

        Without ``end`` and with ``start`` 0 the whole file is asked for. ``if_range`` (an ETag or a
        Last-Modified date) goes out with a ``Range`` only. No credentials go out, redirects included (at
        most ``MAX_DOWNLOAD_REDIRECTS``, http(s) only). 429, 5xx and network failures are retried like
        API calls; any other non-2xx answer raises :class:`LangdockDownloadError` carrying the status
        (403 is what an expired URL answers).
        """
        safe_url = redact(url)
        what = f"download of {safe_url}"
        headers = _range_headers(start, end, if_range)
        if end is None:
            where = f" from byte {start}" if start else ""
            self.log.info("Downloading the export file from %s%s.", safe_url, where)
        else:  # one of many ranges of a file: the download logs them once
            self.log.debug("Downloading bytes %d-%d of the export file from %s.", start, end, safe_url)
        try:
            for attempt in Retrying(**self.settings.retry.tenacity_kwargs(self.log, what)):
                with attempt:
                    return self._get_file(url, headers, what)
        except LangdockTransientError as error:
            raise LangdockDownloadError(str(error), http_status=error.http_status) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _get_file(self, url: str, headers: dict[str, str], what: str) -> requests.Response:
        """One attempt: GET ``url``, following redirects by hand; a 2xx response or the typed error."""
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            scheme = _checked_download_scheme(url, what)
            proxy = self.settings.proxy_for(url)
            try:
                response = self._download_session.get(
                    url,
                    headers=headers,
                    stream=True,
                    timeout=self.settings.timeout,
                    allow_redirects=False,
                    proxies={scheme: proxy} if proxy else {},
                )
            except DOWNLOAD_FAILURES as error:
                raise LangdockConnectionError(f"The {what} failed: {type(error).__name__}") from None
            except ValueError:  # requests parses a redirect's Location even when not following it
                raise LangdockDownloadError(f"The {what} led to a malformed URL; refused.") from None
            if is_success(response.status_code):
                return response
            response.close()
            location = response.headers.get("Location")
            if response.status_code in _REDIRECT_STATUSES and location:
                try:
                    url = urljoin(url, location)
                except ValueError:
                    raise LangdockDownloadError(f"The {what} led to a malformed URL; refused.") from None
                continue
            raise _download_error(response, what)
        raise LangdockDownloadError(f"The {what} was redirected more than {MAX_DOWNLOAD_REDIRECTS} times.")

    # -- table schema -----------------------------------------------------------------------------

    def table_schema(
        self, data_type: str, group_by: str | None = None, byok: bool = False, personal_data: str = "keep"
    ) -> TableSchema:
        """The typed columns of an export as it lands, for creating its warehouse table (no request).

        See :func:`~airflow_provider_langdock.columns.table_schema`; render it with the ``columns``
        module's ``bigquery_schema``, ``postgres_ddl`` or ``snowflake_ddl``.
        """
        return columns.table_schema(data_type, group_by=group_by, byok=byok, personal_data=personal_data)

    # -- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and the base URL with a small recent export; no usage data is needed."""
        ok, message = self._probe()
        return ok, redact(message)

    def _probe(self) -> tuple[bool, str]:
        try:
            base_url = self.settings.base_url
            start, end = recent_probe_range()
            request = ExportRequest.build("users", start, end, "UTC")
            self._post(
                request, route=None, policy=RetryPolicy(max_attempts=2, max_wait=2.0, clock=self.clock)
            )
        except LangdockNoDataError:
            return True, f"Connected to {base_url}: the API key is valid (no usage data in the last hour)."
        except LangdockAuthError as error:
            return False, f"Langdock refused the API key: {error}"
        except LangdockConnectionError as error:
            return False, f"Cannot reach {base_url}: {error.__cause__ or error}"
        except LangdockError as error:
            return False, str(error)
        except Exception as error:  # e.g. the connection does not exist
            return False, f"{type(error).__name__}: {error}"
        return True, f"Connected to {base_url}: the API key is valid."


def _range_headers(start: int, end: int | None, if_range: str | None) -> dict[str, str]:
    """``Range`` (and ``If-Range``) headers for bytes ``start`` to ``end`` (None: to the file's end)."""
    if end is not None and not 0 <= start <= end:
        raise ValueError(f"not a byte range: {start}-{end}")
    if not start and end is None:
        return {}
    headers = {"Range": f"bytes={start}-{'' if end is None else end}"}
    if if_range:
        headers["If-Range"] = if_range
    return headers


def _checked_download_scheme(url: str, what: str) -> str:
    """The scheme of a URL the download may fetch: http(s), no user information, parseable."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise LangdockDownloadError(f"The {what} led to a malformed URL; refused.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise LangdockDownloadError(f"The {what} was redirected to a {scheme or 'relative'}: URL; refused.")
    if "@" in parts.netloc:  # requests would send it as Basic credentials
        raise LangdockDownloadError(f"The {what} led to a URL with a user name or password; refused.")
    return scheme


def _download_error(response: requests.Response, what: str) -> LangdockError:
    """The error of a storage host's non-2xx answer: 429 and 5xx are retryable, others are not."""
    message = f"The storage host answered {response.status_code} {response.reason} to the {what}"
    if response.status_code >= 500 or response.status_code == 429:
        return LangdockServerError(
            message,
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return LangdockDownloadError(message + ".", http_status=response.status_code)


__all__ = ["DEFAULT_CHUNK_SIZE", "MAX_DOWNLOAD_REDIRECTS", "LangdockHook"]
