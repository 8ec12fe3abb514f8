"""Export parameters shared by the operator and the sensor: parse-time checks and the default range."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_langdock.api import DateLike, ExportRequest, resolve_data_type, validate_group_by
from airflow_provider_langdock.exceptions import LangdockInputError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def is_literal(value: object) -> bool:
    """True for a plain string that holds no Jinja template (so it can be checked at parse time)."""
    return isinstance(value, str) and "{{" not in value and "{%" not in value


def resolve_range(
    date_from: DateLike | None, date_to: DateLike | None, context: Context
) -> tuple[DateLike, DateLike]:
    """The export range: the given dates, else the run's data interval."""
    start = date_from if date_from not in (None, "") else context.get("data_interval_start")
    end = date_to if date_to not in (None, "") else context.get("data_interval_end")
    if start is None or end is None:
        missing = "date_from" if start is None else "date_to"
        raise LangdockInputError(
            f"{missing} is not set and this run has no data interval; pass date_from and date_to "
            "(templates such as '{{ data_interval_start }}' work) or give the DAG a schedule."
        )
    if date_from in (None, "") and date_to in (None, "") and start == end:
        raise LangdockInputError(
            f"This run's data interval is empty ({start} to {end}), so there is no period to export. "
            "Airflow 3 schedules a cron string or preset like '@daily' with CronTriggerTimetable, "
            "whose runs have no interval: use CronDataIntervalTimetable (or a timedelta schedule), "
            "or pass date_from and date_to."
        )
    return start, end


def check_literal_parameters(data_type: object, group_by: object) -> None:
    """Fail at DAG parse time on a data type or grouping that can never work (templates are checked later)."""
    if is_literal(data_type):
        spec = resolve_data_type(str(data_type))
        if group_by is None or is_literal(group_by):
            validate_group_by(spec, None if group_by is None else str(group_by))


def export_request_for_run(
    context: Context,
    data_type: str,
    date_from: DateLike | None,
    date_to: DateLike | None,
    timezone: str,
    group_by: str | None,
) -> ExportRequest:
    """The checked export request of a task run (rendered parameters, default range filled in)."""
    start, end = resolve_range(date_from, date_to, context)
    return ExportRequest.build(data_type, start, end, timezone, group_by or None)
