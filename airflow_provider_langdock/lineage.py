"""Lineage of an export: OpenLineage datasets and facets, and Airflow's hook-level lineage.

Dataset naming follows the OpenLineage naming spec (https://openlineage.io/docs/spec/naming):

- **Input**, the Langdock export: namespace ``langdock://<host>[:<port>]`` from the connection's base
  URL, like the spec's other services reached over HTTPS (``azurecosmos://<host>``,
  ``azurekusto://<host>``): a scheme naming the system and the instance's authority. The name is
  ``usage/<data type>``, or ``usage/<data type>/by_<group_by>`` for a grouped export, whose rows
  and columns differ. The period is not part of the name; it is the run's ``executionParameters``.
  Neither the download URL nor anything of the connection besides its host appears.
- **Output**, the destination, named by its own ``openlineage_naming`` as the spec says for its
  storage: e.g. ``s3://<bucket>`` + key, ``gs://<bucket>`` + object name, ``file`` + absolute path.

Facets: ``schema`` (the CSV header's columns, with type and description where the catalogue of
:mod:`airflow_provider_langdock.columns` knows them) on both datasets; ``inputStatistics`` (rows) and
``outputStatistics`` (rows and bytes); the run facet ``executionParameters`` with data type,
grouping, period (``date_from``/``date_to`` as UTC instants) and timezone.

Nothing here imports OpenLineage, its Airflow provider or Airflow's lineage modules at module level:
DAG files that use the operator parse without them, and exports run without them installed (the
OpenLineage provider, the ``openlineage`` extra, is what calls the operator's lineage methods).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo

from airflow_provider_langdock.api import resolve_data_type, validate_group_by
from airflow_provider_langdock.columns import known_columns

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_langdock.api import ExportRequest
    from airflow_provider_langdock.destinations.base import Destination

log = logging.getLogger(__name__)

LANGDOCK_SCHEME = "langdock"
_DEFAULT_PORTS = {"https": 443, "http": 80}


# -- naming ---------------------------------------------------------------------------------------


def export_namespace(base_url: str) -> str:
    """OpenLineage namespace of a Langdock workspace: ``langdock://<host>[:<port>]`` of its base URL.

    The scheme's default port is left out, host names are lower-cased; the base URL's path (e.g. a
    dedicated deployment's ``/api/public``) is not part of it.
    """
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return f"{LANGDOCK_SCHEME}://{host}"


def export_name(data_type: str, group_by: str | None = None) -> str:
    """OpenLineage name of an export: ``usage/<data type>`` or ``usage/<data type>/by_<group_by>``.

    The data type is canonical (``api-keys`` and ``api_key`` name ``usage/api_keys``).
    """
    spec = resolve_data_type(data_type)
    grouping = validate_group_by(spec, group_by)
    return f"usage/{spec.name}" + (f"/by_{grouping}" if grouping else "")


def export_asset_uri(base_url: str, data_type: str, group_by: str | None = None) -> str:
    """The export as an Airflow asset URI: namespace and name joined, ``langdock://<host>/usage/...``."""
    return f"{export_namespace(base_url)}/{export_name(data_type, group_by)}"


def destination_naming(destination: Destination) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a destination, per the naming spec (its own rule)."""
    return destination.openlineage_naming()


# -- OpenLineage ----------------------------------------------------------------------------------


def operator_lineage(
    *,
    data_type: str,
    group_by: str | None,
    base_url: str | None,
    destination: Destination | None,
    metadata: Mapping[str, Any] | None = None,
    period: tuple[str, str] | None = None,
    timezone: str | None = None,
) -> OperatorLineage:
    """The OpenLineage inputs, outputs and run facets of an export.

    :param data_type: the data type; one that is not valid (e.g. an unrendered template) leaves out
        the input.
    :param base_url: the connection's base URL; None leaves out the input (connection unreadable).
    :param destination: where the file lands; None for an export without destination (no output).
    :param metadata: the task's return value once it ran (row and byte counts, columns, parts);
        None before it runs or when it pushed nothing.
    :param period: start and end of the exported period as UTC ISO instants, if known.
    :param timezone: the timezone the operator was given (the parts of a split export are in UTC).
    """
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    metadata = metadata or {}
    record_count = _whole(metadata.get("record_count"))
    dataset_facets = _schema_facets(data_type, metadata.get("columns"))
    inputs = []
    name = _export_name_or_none(data_type, group_by)
    if base_url is not None and name is not None:
        input_facets: dict[str, Any] = {}
        if record_count is not None:
            statistics = _input_statistics(record_count)
            if statistics is not None:
                input_facets["inputStatistics"] = statistics
        inputs.append(
            InputDataset(
                namespace=export_namespace(base_url),
                name=name,
                facets=dict(dataset_facets),
                inputFacets=input_facets,
            )
        )
    outputs = []
    if destination is not None:
        namespace, path = destination_naming(destination)
        output_facets: dict[str, Any] = {}
        size = _whole(metadata.get("bytes"))
        if record_count is not None and size is not None:  # the file landed
            output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=record_count, size=size
            )
        outputs.append(
            OutputDataset(
                namespace=namespace, name=path, facets=dict(dataset_facets), outputFacets=output_facets
            )
        )
    run_facets: dict[str, Any] = {}
    parameters = _execution_parameters(data_type, group_by, period, timezone)
    if parameters is not None:
        run_facets["executionParameters"] = parameters
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)


def lineage_of_operator(operator: Any, task_instance: Any = None) -> OperatorLineage:
    """:func:`operator_lineage` of a ``LangdockUsageExportOperator`` (rendered fields, return value).

    With ``task_instance`` (on completion or failure) the task's XCom return value adds what the run
    found out; it survives a deferral, unlike attributes set before it.
    """
    metadata = pushed_metadata(task_instance) if task_instance is not None else None
    destination_uri = (metadata or {}).get("destination") or operator.destination
    group_by = operator.group_by or None
    period = _period(metadata) if metadata else None
    if period is None:
        period = _given_period(operator.data_type, operator.date_from, operator.date_to, operator.timezone)
    return operator_lineage(
        data_type=operator.data_type,
        group_by=group_by,
        base_url=_base_url(operator.langdock_conn_id),
        destination=_destination(destination_uri, operator.destination_conn_id),
        metadata=metadata,
        period=period,
        timezone=operator.timezone,
    )


def pushed_metadata(task_instance: Any) -> Mapping[str, Any] | None:
    """The task's XCom return value (its own map index), or None if it pushed none."""
    try:
        value = task_instance.xcom_pull(
            task_ids=task_instance.task_id,
            key="return_value",
            map_indexes=getattr(task_instance, "map_index", -1),
        )
    except Exception:
        log.debug("OpenLineage: could not read the task's return value.", exc_info=True)
        return None
    return value if isinstance(value, Mapping) else None


def _base_url(conn_id: str) -> str | None:
    from airflow_provider_langdock.hooks.langdock import LangdockHook

    try:
        return LangdockHook(conn_id).settings.base_url
    except Exception as error:
        log.warning("OpenLineage: the export's input is left out, connection %r: %s", conn_id, error)
        return None


def _destination(uri: Any, conn_id: str | None) -> Destination | None:
    from airflow_provider_langdock.destinations import destination_for

    if not uri:
        return None
    try:
        return destination_for(str(uri), conn_id)
    except ValueError as error:
        log.warning("OpenLineage: the destination is left out: %s", error)
        return None


def _export_name_or_none(data_type: str, group_by: str | None) -> str | None:
    from airflow_provider_langdock.exceptions import LangdockInputError

    try:
        return export_name(data_type, group_by)
    except LangdockInputError as error:
        log.warning("OpenLineage: the export's input is left out: %s", error)
        return None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _schema_facets(data_type: str | None, columns: Any) -> dict[str, Any]:
    """The ``schema`` facet of a header: catalogue columns typed and described, others by name only."""
    if not isinstance(columns, Sequence) or isinstance(columns, str) or not columns:
        return {}
    from airflow.providers.common.compat.openlineage.facet import (
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )

    from airflow_provider_langdock.exceptions import LangdockInputError

    try:
        known = known_columns(data_type) if data_type is not None else {}
    except LangdockInputError:  # e.g. an unrendered template: names only
        known = {}
    fields = []
    for name in map(str, columns):
        column = known.get(name)
        if column is None:
            fields.append(SchemaDatasetFacetFields(name=name))
        else:
            fields.append(
                SchemaDatasetFacetFields(name=name, type=column.type, description=column.description)
            )
    return {"schema": SchemaDatasetFacet(fields=fields)}


def _input_statistics(record_count: int) -> Any:
    try:
        from openlineage.client.generated.input_statistics_input_dataset import (
            InputStatisticsInputDatasetFacet,
        )
    except ImportError:  # an openlineage-python without it
        return None
    return InputStatisticsInputDatasetFacet(rowCount=record_count)


def _execution_parameters(
    data_type: str, group_by: str | None, period: tuple[str, str] | None, timezone: str | None
) -> Any:
    try:
        from openlineage.client.generated.execution_parameters_run import (
            ExecutionParameter,
            ExecutionParametersRunFacet,
        )
    except ImportError:  # an openlineage-python without it
        return None
    from airflow_provider_langdock.exceptions import LangdockInputError

    with contextlib.suppress(LangdockInputError):  # else as given
        data_type = resolve_data_type(data_type).name
    values: dict[str, tuple[str, str | None]] = {
        "data_type": ("Data type", data_type),
        "group_by": ("Grouped by", group_by),
    }
    if period is not None:
        values["date_from"] = ("Period start (UTC, inclusive)", period[0])
        values["date_to"] = ("Period end (UTC, exclusive)", period[1])
    values["timezone"] = ("Timezone of the period", timezone)
    parameters = [
        ExecutionParameter(key=key, name=name, value=value)
        for key, (name, value) in values.items()
        if value is not None
    ]
    return ExecutionParametersRunFacet(parameters=parameters)


def _period(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """The exported period as UTC ISO instants, from the return value's parts (None if unknown)."""
    parts = metadata.get("parts")
    if not isinstance(parts, Sequence) or not parts:
        return None
    try:
        start = _utc(parts[0]["date_from"], parts[0]["timezone"])
        end = _utc(parts[-1]["date_to"], parts[-1]["timezone"])
    except (KeyError, TypeError, ValueError):
        return None
    return start, end


def _given_period(data_type: str, date_from: Any, date_to: Any, timezone: str) -> tuple[str, str] | None:
    """The period of explicit ``date_from`` and ``date_to`` as UTC ISO instants (None: the run's interval)."""
    from airflow_provider_langdock.api import ExportRequest
    from airflow_provider_langdock.exceptions import LangdockInputError

    if date_from in (None, "") or date_to in (None, ""):
        return None
    try:
        start, end = ExportRequest.build(data_type, date_from, date_to, timezone).utc_range()
    except LangdockInputError:
        return None
    return start.isoformat(), end.isoformat()


def _utc(wall_time: str, timezone: str) -> str:
    """A part's wall time (``...Z`` is the API's format, not UTC) in ``timezone`` as a UTC instant."""
    moment = datetime.fromisoformat(wall_time.removesuffix("Z")).replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC).isoformat()


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Check an asset URI ``langdock://<host>/usage/...`` (the asset-uris handler of the scheme)."""
    if not uri.netloc:
        raise ValueError("URI format langdock:// must contain the Langdock host")
    if not uri.path.strip("/"):
        raise ValueError("URI format langdock:// must name the export, as in langdock://<host>/usage/users")
    return uri


def convert_asset_to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """An Airflow asset ``langdock://<host>/usage/...`` as an OpenLineage dataset (asset-uris converter)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(asset.uri)
    return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/"))


# -- hook-level lineage -----------------------------------------------------------------------------


def report_hook_lineage(hook: Any, request: ExportRequest, destination: Destination) -> None:
    """Tell Airflow's hook lineage collector that ``hook`` read the export and wrote ``destination``.

    The input is :func:`export_asset_uri`. The output is made by the storage provider's own asset
    factory, as its hooks do (``s3``, ``gs``, and ``file`` from common-io), so it is named like any
    other lineage of that storage; other destinations give their URI. Where no collector exists (no
    lineage reader such as the OpenLineage provider, or an Airflow without one) this does nothing,
    and it never fails the transfer.
    """
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector
    except ImportError:
        return
    try:
        input_uri = export_asset_uri(hook.settings.base_url, request.data_type.name, request.group_by)
        collector = get_hook_lineage_collector()
        collector.add_input_asset(context=hook, uri=input_uri)
        collector.add_output_asset(context=hook, **destination.lineage_asset())
    except Exception:
        log.debug("Hook lineage was not reported.", exc_info=True)


__all__ = [
    "LANGDOCK_SCHEME",
    "convert_asset_to_openlineage",
    "destination_naming",
    "export_asset_uri",
    "export_name",
    "export_namespace",
    "lineage_of_operator",
    "operator_lineage",
    "pushed_metadata",
    "report_hook_lineage",
    "sanitize_uri",
]
