"""``LangdockUsageExportSensor``: wait until Langdock has usage data for a period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_langdock.api import DateLike
from airflow_provider_langdock.connection_ui import DEFAULT_CONN_ID
from airflow_provider_langdock.exceptions import LangdockNoDataError, LangdockTransientError
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.params import check_literal_parameters, export_request_for_run

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class LangdockUsageExportSensor(BaseSensorOperator):
    """Wait until a usage export for the period succeeds; return its metadata as XCom.

    Each poke asks the export endpoint: "No data found" (404) means keep waiting, success means
    done, and the export's metadata (as for ``LangdockUsageExportOperator``) becomes the return
    value. A refused key (401/403) or a bad request (400) fails at once with the typed error; rate
    limits and server errors that outlast the hook's retries count as "not yet". ``soft_fail``
    skips the task only when the sensor times out.

    :param data_type: users, agents, assistants, api_keys, projects, models or workflows.
    :param date_from: start of the period (templated). Default: the run's ``data_interval_start``.
    :param date_to: end of the period (templated). Default: the run's ``data_interval_end``.
    :param timezone: IANA zone of the period.
    :param group_by: optional grouping, as for the operator.
    :param langdock_conn_id: the ``langdock`` connection.
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
        poke_interval: float | timedelta = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        check_literal_parameters(data_type, group_by)
        self.data_type = data_type
        self.date_from = date_from
        self.date_to = date_to
        self.timezone = timezone
        self.group_by = group_by
        self.langdock_conn_id = langdock_conn_id

    def poke(self, context: Context) -> PokeReturnValue | bool:
        request = export_request_for_run(
            context, self.data_type, self.date_from, self.date_to, self.timezone, self.group_by
        )
        hook = LangdockHook(self.langdock_conn_id)
        try:
            result = hook.run_export(request)
        except LangdockNoDataError:
            self.log.info("No usage data yet for the %s; waiting.", request.describe())
            return False
        except LangdockTransientError as error:
            self.log.warning("Langdock is not answering normally (%s); waiting.", error)
            return False
        finally:
            hook.close()
        return PokeReturnValue(is_done=True, xcom_value=result.to_dict())
