"""``LangdockUsageExportSensor``: wait until Langdock has usage data for a period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_langdock.api import DateLike
from airflow_provider_langdock.connection import check_hook_params
from airflow_provider_langdock.connection_ui import DEFAULT_CONN_ID
from airflow_provider_langdock.params import check_literal_parameters, export_request_for_run
from airflow_provider_langdock.validation import deadline_after, seconds

# Only what checks literal parameters loads when a DAG file is parsed (Airflow re-parses DAG files
# all the time); the hook (requests) and the trigger load when the task runs.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_langdock.api import ExportResult
    from airflow_provider_langdock.exceptions import LangdockError


class LangdockUsageExportSensor(BaseSensorOperator):
    """Wait until a usage export for the period succeeds; return its metadata as XCom.

    Each poke asks the export endpoint: "No data found" (404) means keep waiting, success means
    done, and the export's metadata (as for ``LangdockUsageExportOperator``) becomes the return
    value. A refused key (401/403) or a bad request (400) fails at once with the typed error; rate
    limits and server errors that outlast the hook's retries count as "not yet". ``soft_fail``
    skips the task only when the sensor times out.

    With ``deferrable=True`` the waiting happens in the triggerer, which checks every
    ``poke_interval`` seconds (``mode`` and ``exponential_backoff`` do not apply) until ``timeout``
    seconds after the deferral.

    :param data_type: users, agents, assistants, api_keys, projects, models or workflows.
    :param date_from: start of the period (templated). Default: the run's ``data_interval_start``.
    :param date_to: end of the period (templated). Default: the run's ``data_interval_end``.
    :param timezone: IANA zone of the period.
    :param group_by: optional grouping, as for the operator.
    :param langdock_conn_id: the ``langdock`` connection.
    :param hook_params: keyword arguments for the Langdock hook of each poke (and for the trigger's),
        overriding the connection's extras, as for the operator; e.g. ``{"max_attempts": 1}`` for
        pokes that do not retry. Checked when the DAG is parsed; not templated.
    :param deferrable: wait in the triggerer instead of a worker slot (default:
        ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "data_type",
        "date_from",
        "date_to",
        "timezone",
        "group_by",
        "langdock_conn_id",
    )
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        data_type: str,
        date_from: DateLike | None = None,
        date_to: DateLike | None = None,
        timezone: str = "UTC",
        group_by: str | None = None,
        langdock_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        poke_interval: float | timedelta = 300,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        seconds(poke_interval, "poke_interval")
        if kwargs.get("timeout") is not None:
            deadline_after(kwargs["timeout"])  # nan or a negative timeout fails here, at parse time
        super().__init__(poke_interval=poke_interval, **kwargs)
        check_literal_parameters(data_type, group_by)
        self.data_type = data_type
        self.date_from = date_from
        self.date_to = date_to
        self.timezone = timezone
        self.group_by = group_by
        self.langdock_conn_id = langdock_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_langdock.triggers.usage_export import LangdockUsageDataTrigger

        request = export_request_for_run(
            context, self.data_type, self.date_from, self.date_to, self.timezone, self.group_by
        )
        self.defer(
            trigger=LangdockUsageDataTrigger(
                request=request.to_dict(),
                langdock_conn_id=self.langdock_conn_id,
                deadline=deadline_after(self.timeout),
                poll_interval=self.poke_interval,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the export's metadata, or the typed error (a timeout included)."""
        from airflow_provider_langdock.triggers.events import sensor_metadata_from_event

        return sensor_metadata_from_event(event)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """As Airflow's, except that ``soft_fail`` skips a timeout only, never an error (e.g. a bad key).

        Airflow's sensor turns every error on resumption into a skip when ``soft_fail`` is set.
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skip:
            error = skip.__cause__
            if error is None or isinstance(error, AirflowSensorTimeout) or getattr(self, "never_fail", False):
                raise
            raise error from error.__cause__

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airflow_provider_langdock.hooks.langdock import LangdockHook
        from airflow_provider_langdock.sensing import SENSED_ERRORS, sensor_outcome

        request = export_request_for_run(
            context, self.data_type, self.date_from, self.date_to, self.timezone, self.group_by
        )
        hook = LangdockHook(self.langdock_conn_id, **self.hook_params)
        try:
            answer: ExportResult | LangdockError = hook.run_export(request)
        except SENSED_ERRORS as error:
            answer = error
        finally:
            hook.close()
        outcome = sensor_outcome(request, answer)
        outcome.log_to(self.log, "waiting")
        if outcome.metadata is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=outcome.metadata)
