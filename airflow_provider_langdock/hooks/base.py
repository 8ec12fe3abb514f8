"""What the sync and the async Langdock hooks share: the connection id, overrides and settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.clock import SYSTEM_CLOCK, Clock
from airflow_provider_langdock.connection import LangdockSettings, extra_names, settings_from_connection
from airflow_provider_langdock.connection_ui import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME
from airflow_provider_langdock.exceptions import LangdockError, LangdockExportTooLargeError
from airflow_provider_langdock.planning import ExportPlan
from airflow_provider_langdock.redaction import redact, register_secret


class LangdockBaseHook(BaseHook):
    """A ``langdock`` connection and the per-hook overrides of its extras.

    :param langdock_conn_id: Airflow connection id.
    :param timeout: connect and read timeout in seconds of each request (overrides the extra).
    :param max_attempts: attempts per request on 429, 5xx, timeouts and resets (overrides the extra).
    :param max_retry_wait: cap in seconds of one backoff or ``Retry-After`` wait (overrides the extra).
    :param download_timeout: seconds one transfer of an export file may take in all (overrides the
        extra; default: ``timeout`` plus one second per 256 KiB of the file).
    :param download_connections: connections one export file is downloaded over, 1 to 8 (overrides
        the extra; see :class:`~airflow_provider_langdock.connection.RangePolicy`).
    :param download_range_size: bytes per range when downloading over several connections
        (overrides the extra).
    :param clock: what retry and download waits sleep on (default: the class's :attr:`clock`).
    """

    conn_name_attr = "langdock_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME
    #: The clock of hooks created without one: real time.
    clock: Clock = SYSTEM_CLOCK

    def __init__(
        self,
        langdock_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        max_attempts: int | None = None,
        max_retry_wait: float | None = None,
        download_timeout: float | None = None,
        download_connections: int | None = None,
        download_range_size: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        if clock is not None:
            self.clock = clock
        self.langdock_conn_id = langdock_conn_id
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_wait = max_retry_wait
        self.download_timeout = download_timeout
        self.download_connections = download_connections
        self.download_range_size = download_range_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(langdock_conn_id={self.langdock_conn_id!r})"

    def _settings_from(self, conn: Any, extra: Mapping[str, Any]) -> LangdockSettings:
        """Check the connection; its API key is registered with Airflow's log masker and ours first."""
        key_fields = extra_names("pseudonymization_key")
        for secret in (conn.password, *(extra.get(name) for name in key_fields)):
            if isinstance(secret, str) and secret.strip():
                for form in {secret, secret.strip()}:
                    mask_secret(form)
                register_secret(secret)
        return settings_from_connection(
            self.langdock_conn_id,
            conn.host,
            conn.password,
            extra,
            port=conn.port,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            max_retry_wait=self.max_retry_wait,
            download_timeout=self.download_timeout,
            download_connections=self.download_connections,
            download_range_size=self.download_range_size,
            clock=self.clock,
        )

    def _log_request(self, request: ExportRequest) -> None:
        self.log.info("Requesting the Langdock %s.", request.describe())

    def _log_result(self, result: ExportResult, request: ExportRequest) -> None:
        if result.data_type != request.data_type.name:  # Langdock's own examples answer "assistants"
            self.log.warning(
                "Langdock answered the %s with dataType %r; the file is taken as asked.",
                request.describe(),
                result.data_type,
            )
        self.log.info(
            "Langdock export ready: %d records in %s (%s).",
            result.record_count,
            result.file_path,
            redact(result.download_url),
        )

    def _log_answer(self, part: ExportRequest, answer: ExportResult | LangdockError) -> None:
        """Log a part refused as too large (it is split) or without data (an empty part)."""
        if isinstance(answer, LangdockExportTooLargeError):
            self.log.warning(
                "Langdock refused the %s as too large (%d rows, limit %d); splitting it at whole UTC hours.",
                part.describe(),
                answer.row_count,
                answer.row_limit,
            )
        elif not isinstance(answer, ExportResult):
            self.log.info("No usage data in the %s; it is an empty part.", part.describe())

    def _log_plan(self, plan: ExportPlan) -> ExportPlan:
        if plan.is_split:
            self.log.info(
                "The %s was exported in %d parts holding %d records.",
                plan.request.describe(),
                len(plan.parts),
                plan.record_count,
            )
        return plan
