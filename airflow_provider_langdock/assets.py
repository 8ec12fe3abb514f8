"""Asset events of a landed export: what a consumer DAG scheduled on the file learns about it.

After the operator lands an export at its destination, :func:`emit_export_events` fills in the
events Airflow records for the task's ``outlets`` when it succeeds:

- every ``Asset`` in ``outlets`` gets :func:`export_event_extra` as its event's ``extra``;
- every ``AssetAlias`` gets an event for ``Asset(uri=<destination>)`` with the same ``extra``, so a
  DAG scheduled on the alias learns the exact file (Airflow creates that asset on first use).

On Airflow 2.11 the same classes are ``Dataset`` and ``DatasetAlias``. The ``extra`` holds the data
type, the period (``date_from``/``date_to`` as ISO UTC instants, plus the export's ``timezone``), the
record count, the byte count, the destination URI and the number of parts with a file; never the
signed download URL nor anything of the connection.

Partitions: when the producing DAG decides its partition keys at runtime
(``schedule=PartitionedAtRuntime()``, Airflow 3.3+) and its run has no partition key of its own, each
``Asset`` event also gets :func:`period_partition_key`. Otherwise no key is added: Airflow gives every
event the run's own partition key if it has one, and an event with a partition key does not queue
consumers scheduled plainly on the asset (``schedule=[asset]``), so a key is never added to the
events of a run that is not partitioned. Airflow versions without per-event keys are left as they
are. This module does no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Asset, AssetAlias

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_langdock.api import ExportRequest
    from airflow_provider_langdock.transfer import Landing

log = logging.getLogger(__name__)

#: Partition keys are the period's start in Airflow's default key format (``CronPartitionTimetable``'s
#: ``key_format``, the temporal partition mappers' ``input_format``).
PARTITION_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"


def export_event_extra(landing: Landing) -> dict[str, Any]:
    """The ``extra`` of a landed export's asset events (JSON-serialisable, no download URL)."""
    plan = landing.plan
    start, end = plan.request.utc_range()
    return {
        "data_type": plan.data_type,
        "group_by": plan.request.group_by,
        "record_count": plan.record_count,
        "bytes": landing.bytes,
        "destination": landing.destination,
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "timezone": plan.request.timezone,
        "parts": sum(1 for part in plan.parts if part.result),
        "personal_data": landing.personal_data,
    }


def period_partition_key(request: ExportRequest) -> str:
    """The period's start as a partition key: wall time in the export's timezone, ``%Y-%m-%dT%H:%M:%S``.

    Like ``CronPartitionTimetable``'s keys, a wall time in the schedule's zone, so a daily export in
    ``Europe/Berlin`` is keyed by its own day; temporal mappers (``StartOfDayMapper``...) read it
    with their default ``input_format``. The whole period is in the event's ``extra``.
    """
    return request.date_from.strftime(PARTITION_KEY_FORMAT)


def emit_export_events(
    outlets: Iterable[Any], context: Context, landing: Landing | None, *, logger: Any = None
) -> list[str]:
    """Give the task's asset outlets the events of ``landing``; return the URIs of the events filled in.

    ``landing`` None (nothing landed: the task has no destination) adds nothing and warns when there
    are asset outlets. Airflow still records its own event, with an empty ``extra``, for every
    ``Asset`` in ``outlets`` when the task succeeds; an ``AssetAlias`` gets none.
    """
    logger = logger or log
    assets = [outlet for outlet in outlets if isinstance(outlet, Asset)]
    aliases = [outlet for outlet in outlets if isinstance(outlet, AssetAlias)]
    if not assets and not aliases:
        return []
    if landing is None:
        logger.warning(
            "This task has asset outlets but no destination, so no file landed: its asset events carry "
            "no export metadata and its asset aliases get no event. Set destination to describe the "
            "landed file in the events."
        )
        return []
    outlet_events = context.get("outlet_events")
    if outlet_events is None:
        logger.warning("This Airflow version gives tasks no outlet_events; asset events carry no metadata.")
        return []
    extra = export_event_extra(landing)
    partition_key = _runtime_partition_key(context, landing)
    emitted, keyed = [], ""
    for asset in assets:
        accessor = outlet_events[asset]
        accessor.extra.update(extra)
        if partition_key is not None and hasattr(accessor, "add_partitions"):  # Airflow 3.3+
            accessor.add_partitions(partition_key)
            keyed = f" (partition key {partition_key!r} on the assets' events)"
        emitted.append(asset.uri)
    for alias in aliases:  # an alias's events get the run's partition key, if any, from Airflow
        outlet_events[alias].add(Asset(uri=landing.destination), extra=dict(extra))
        emitted.append(landing.destination)
    logger.info(
        "Asset events for %s: %d %s records, %s to %s%s.",
        ", ".join(dict.fromkeys(emitted)),
        extra["record_count"],
        extra["data_type"],
        extra["date_from"],
        extra["date_to"],
        keyed,
    )
    return emitted


def _runtime_partition_key(context: Context, landing: Landing) -> str | None:
    """The period's partition key when the DAG sets its keys at runtime and this run has none, else None."""
    if context.get("partition_key") is not None:  # the run's own key goes on every event (Airflow 3.2+)
        return None
    timetable = getattr(context.get("dag"), "timetable", None)
    if not getattr(timetable, "partitioned_at_runtime", False):  # PartitionedAtRuntime, Airflow 3.3+
        return None
    return period_partition_key(landing.plan.request)


__all__ = ["PARTITION_KEY_FORMAT", "emit_export_events", "export_event_extra", "period_partition_key"]
