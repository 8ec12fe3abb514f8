"""``LangdockUsageExportOperator``: export a period's usage and stream the CSV to S3, GCS or a local path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSkipException, BaseOperator, conf

from airflow_provider_langdock.api import DateLike
from airflow_provider_langdock.connection import check_hook_params
from airflow_provider_langdock.connection_ui import DEFAULT_CONN_ID
from airflow_provider_langdock.destinations import destination_for
from airflow_provider_langdock.destinations.base import check_parts_in_flight
from airflow_provider_langdock.exceptions import LangdockError, LangdockInputError, LangdockNoDataError
from airflow_provider_langdock.hooks import DEFAULT_CHUNK_SIZE
from airflow_provider_langdock.links import LangdockAnalyticsLink, LangdockDestinationLink
from airflow_provider_langdock.params import check_literal_parameters, export_request_for_run, is_literal
from airflow_provider_langdock.personal_data import (
    PersonalData,
    check_personal_data,
    check_pseudonymization_key,
)
from airflow_provider_langdock.retries import DEFAULT_RETRY_WINDOW
from airflow_provider_langdock.validation import deadline_after, seconds, whole_number

# Only what checks literal parameters loads when a DAG file is parsed (Airflow re-parses DAG files
# all the time); the hook (requests), the transfer, the trigger and the asset events load in execute.
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_langdock.destinations.base import Destination
    from airflow_provider_langdock.hooks.langdock import LangdockHook
    from airflow_provider_langdock.planning import ExportPlan


class LangdockUsageExportOperator(BaseOperator):
    """Export Langdock usage for a period and, optionally, stream the CSV file to a destination.

    The export's metadata is the task's return value (XCom ``return_value``): ``download_url``,
    ``file_path``, ``data_type``, ``record_count``, ``date_range``, ``parts`` and, with a destination,
    ``destination``, ``bytes`` and ``columns`` (the CSV header's column names). ``download_url`` is also
    pushed under its own key. With a destination, ``Asset`` outlets get an event whose ``extra`` holds the
    export's metadata and ``AssetAlias`` outlets an event for the landed file (see
    :mod:`airflow_provider_langdock.assets`); OpenLineage events name the export and the destination.
    Two extra links, kept in XCom, open the exported file in the S3 or GCS console and the workspace's
    analytics page in Langdock (see :mod:`airflow_provider_langdock.links`); the download URL is never a
    link.

    An export above Langdock's row cap is split at whole UTC hours into parts that fit, requested one
    after the other; they land as one CSV file (one header, rows in time order). Such an export has
    no single Langdock file: ``download_url`` and ``file_path`` are None and each entry of ``parts``
    names its own. Every file is verified while it streams (bytes against ``Content-Length``, rows
    against ``recordCount``); the destination shows the complete file or nothing.

    :param data_type: users, agents, assistants, api_keys, projects, models or workflows.
    :param date_from: start of the period (datetime, date or ISO string; templated). Default: the
        run's ``data_interval_start``.
    :param date_to: end of the period (exclusive; templated). Default: the run's ``data_interval_end``.
    :param timezone: IANA zone in which naive dates are read and which Langdock uses for the period.
    :param group_by: ``model`` (users, agents, assistants, api_keys) or ``source``/``deployment`` (models).
    :param destination: where the file lands (templated), e.g. ``s3://bucket/key`` or ``file:///path``;
        every form is in :func:`~airflow_provider_langdock.destinations.destinations_table`. None only
        exports and pushes the metadata.
    :param destination_conn_id: connection for the destination (default: the destination type's own,
        e.g. ``aws_default`` for S3).
    :param part_size: bytes per part, block or chunk sent to an object store (default: the store's
        own, 8 MiB for S3 and Azure, 24 MiB for GCS; the store's limits apply).
    :param parts_in_flight: parts queued or being uploaded at once while the download goes on, 1 to
        10 (default: the store's own, 2 for S3, 4 for Azure, 1 for GCS, whose chunks go one after
        another). Memory stays near ``(parts_in_flight + 1) * part_size``.
    :param personal_data: ``keep`` (default: the file lands byte for byte), ``pseudonymize`` (personal
        columns replaced by keyed pseudonyms, the key being the ``langdock`` connection's extra
        ``pseudonymization_key``) or ``drop`` (personal columns removed); see
        :mod:`airflow_provider_langdock.personal_data`. Needs a destination.
    :param replace: overwrite an existing object; with False the task fails before exporting.
    :param skip_on_no_data: skip the task instead of failing when Langdock has no data for the
        period (e.g. no project activity that day).
    :param langdock_conn_id: the ``langdock`` connection.
    :param hook_params: keyword arguments for the Langdock hooks this task creates (and for the
        trigger's), overriding the connection's extras: ``timeout``, ``max_attempts``,
        ``max_retry_wait``, ``download_timeout``, ``download_connections``, ``download_range_size``
        (see :class:`~airflow_provider_langdock.hooks.base.LangdockBaseHook`). Checked when the DAG
        is parsed; not templated.
    :param chunk_size: bytes read from the download per chunk; memory use is bounded by it and by
        the destination's part size, never by the file size.
    :param deferrable: wait for the export in the triggerer instead of a worker slot (default:
        ``[operators] default_deferrable``). The download still streams from a worker.
    :param retry_window: deferrable mode: how long (seconds or timedelta) the triggerer keeps
        retrying rate limits, server errors and network failures before the task fails. The task's
        ``execution_timeout``, counted from the deferral, bounds it too.
    """

    template_fields: Sequence[str] = (
        "data_type",
        "date_from",
        "date_to",
        "timezone",
        "group_by",
        "destination",
        "destination_conn_id",
        "langdock_conn_id",
    )
    ui_color = "#e8f0fe"
    operator_extra_links = (LangdockDestinationLink(), LangdockAnalyticsLink())

    def __init__(
        self,
        *,
        data_type: str,
        date_from: DateLike | None = None,
        date_to: DateLike | None = None,
        timezone: str = "UTC",
        group_by: str | None = None,
        destination: str | None = None,
        destination_conn_id: str | None = None,
        part_size: int | None = None,
        parts_in_flight: int | None = None,
        personal_data: PersonalData = "keep",
        replace: bool = True,
        skip_on_no_data: bool = False,
        langdock_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        retry_window: float | timedelta = DEFAULT_RETRY_WINDOW,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_literal_parameters(data_type, group_by)
        if parts_in_flight is not None:
            check_parts_in_flight(parts_in_flight)
        if part_size is not None:
            part_size = whole_number(part_size, "part_size (bytes)")
        self.personal_data = check_personal_data(personal_data)
        if personal_data != "keep" and not destination:
            raise LangdockInputError(
                f"personal_data={personal_data!r} needs a destination: without one nothing is landed, "
                "and the pushed download URL leads to Langdock's original file."
            )
        if destination is not None and is_literal(destination):  # a bad literal fails at parse time
            destination_for(destination, destination_conn_id, part_size=part_size)
        self.data_type = data_type
        self.date_from = date_from
        self.date_to = date_to
        self.timezone = timezone
        self.group_by = group_by
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.part_size = part_size
        self.parts_in_flight = parts_in_flight
        self.replace = replace
        self.skip_on_no_data = skip_on_no_data
        self.langdock_conn_id = langdock_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.chunk_size = whole_number(chunk_size, "chunk_size (bytes)")
        self.deferrable = deferrable
        self.retry_window = seconds(retry_window, "retry_window")

    def execute(self, context: Context) -> dict[str, Any]:
        request = export_request_for_run(
            context, self.data_type, self.date_from, self.date_to, self.timezone, self.group_by
        )
        target = self._target()
        from airflow_provider_langdock.hooks.langdock import LangdockHook

        hook = LangdockHook(self.langdock_conn_id, **self.hook_params)
        self._pseudonymization_key(hook)  # a missing key fails before any request
        if target is not None and not self.replace and target.exists():
            raise LangdockError(
                f"{target.uri} already exists and replace=False; nothing was exported. "
                "Delete it or set replace=True."
            )
        if self.deferrable:
            from airflow_provider_langdock.triggers.usage_export import LangdockUsageExportTrigger

            self.defer(
                trigger=LangdockUsageExportTrigger(
                    request=request.to_dict(),
                    langdock_conn_id=self.langdock_conn_id,
                    deadline=deadline_after(self.execution_timeout, "execution_timeout"),
                    retry_window=self.retry_window,
                    hook_params=self.hook_params,
                ),
                method_name="execute_complete",
            )
        try:
            with self._skip_if_no_data():
                plan = hook.plan_export(request)
            return self._finish(context, hook, plan, target)
        finally:
            hook.close()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: check its event, then push the metadata and land the file here."""
        from airflow_provider_langdock.hooks.langdock import LangdockHook
        from airflow_provider_langdock.triggers.events import plan_from_event

        with self._skip_if_no_data():
            plan = plan_from_event(event)
        hook = LangdockHook(self.langdock_conn_id, **self.hook_params)
        try:
            return self._finish(context, hook, plan, self._target())
        finally:
            hook.close()

    def _target(self) -> Destination | None:
        """The destination, checked against its connection before anything is requested."""
        if not self.destination:
            return None
        target = destination_for(
            self.destination,
            self.destination_conn_id,
            part_size=self.part_size,
            parts_in_flight=self.parts_in_flight,
        )
        target.check()
        return target

    @contextmanager
    def _skip_if_no_data(self) -> Iterator[None]:
        """Turn "no data" into a skip when ``skip_on_no_data`` is set."""
        try:
            yield
        except LangdockNoDataError as error:
            if self.skip_on_no_data:
                raise AirflowSkipException(f"Nothing to export: {error}") from error
            raise

    def _finish(
        self, context: Context, hook: LangdockHook, plan: ExportPlan, target: Destination | None
    ) -> dict[str, Any]:
        """The export is done: land it at ``target`` (if any), push its metadata, return the XCom.

        Landing goes first, so that parts exported again for a fresh URL show their final metadata.
        """
        from airflow_provider_langdock.assets import emit_export_events
        from airflow_provider_langdock.transfer import land_plan

        landing = None
        if target is not None:
            landing = land_plan(
                hook,
                plan,
                target,
                chunk_size=self.chunk_size,
                personal_data=self.personal_data,
                pseudonymization_key=self._pseudonymization_key(hook),
            )
        metadata = landing.to_dict() if landing is not None else plan.to_dict()
        emit_export_events(self.outlets, context, landing, logger=self.log)
        context["ti"].xcom_push(key="download_url", value=metadata["download_url"])
        LangdockDestinationLink.persist(context, target)
        LangdockAnalyticsLink.persist(context, hook.settings.base_url)
        return metadata

    def _pseudonymization_key(self, hook: LangdockHook) -> str | None:
        """The connection's key when ``personal_data`` is ``pseudonymize``; a clear error if it is missing."""
        if self.personal_data != "pseudonymize":
            return None
        return check_pseudonymization_key(
            hook.settings.pseudonymization_key,
            f"personal_data='pseudonymize' needs the Langdock connection {self.langdock_conn_id!r}'s extra "
            "'pseudonymization_key', which",
        )

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """OpenLineage: the Langdock export as input, the destination (if any) as output.

        See :mod:`airflow_provider_langdock.lineage` for the naming and the facets.
        """
        from airflow_provider_langdock.lineage import lineage_of_operator

        return lineage_of_operator(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """OpenLineage after the run: adds rows, bytes, columns and the period from the return value.

        The return value (XCom) is read rather than attributes, so it works after a deferral too.
        """
        from airflow_provider_langdock.lineage import lineage_of_operator

        return lineage_of_operator(self, task_instance)


__all__ = ["LangdockUsageExportOperator"]
