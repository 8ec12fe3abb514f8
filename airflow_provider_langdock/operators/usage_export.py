"""``LangdockUsageExportOperator``: export a period's usage and stream the CSV to S3, GCS or a local path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSkipException, BaseOperator

from airflow_provider_langdock.api import DateLike
from airflow_provider_langdock.connection_ui import DEFAULT_CONN_ID
from airflow_provider_langdock.destinations import destination_for
from airflow_provider_langdock.exceptions import LangdockError, LangdockInputError, LangdockNoDataError
from airflow_provider_langdock.hooks.langdock import DEFAULT_CHUNK_SIZE, LangdockHook
from airflow_provider_langdock.params import check_literal_parameters, export_request_for_run

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class LangdockUsageExportOperator(BaseOperator):
    """Export Langdock usage for a period and, optionally, stream the CSV file to a destination.

    The export's metadata is the task's return value (XCom ``return_value``): ``download_url``,
    ``file_path``, ``data_type``, ``record_count``, ``date_range`` and, with a destination,
    ``destination`` and ``bytes``. ``download_url`` is also pushed under its own key.

    :param data_type: users, agents, assistants, api_keys, projects, models or workflows.
    :param date_from: start of the period (datetime, date or ISO string; templated). Default: the
        run's ``data_interval_start``.
    :param date_to: end of the period (exclusive; templated). Default: the run's ``data_interval_end``.
    :param timezone: IANA zone in which naive dates are read and which Langdock uses for the period.
    :param group_by: ``model`` (users, agents, assistants, api_keys) or ``source``/``deployment`` (models).
    :param destination: ``s3://bucket/key``, ``gs://bucket/key`` or ``file:///path`` (templated).
        None only exports and pushes the metadata.
    :param destination_conn_id: connection for the destination (default ``aws_default`` for S3,
        ``google_cloud_default`` for GCS).
    :param replace: overwrite an existing object; with False the task fails before exporting.
    :param skip_on_no_data: skip the task instead of failing when Langdock has no data for the
        period (e.g. no project activity that day).
    :param langdock_conn_id: the ``langdock`` connection.
    :param chunk_size: bytes read from the download per chunk; memory use is bounded by it and by
        the destination's part size, never by the file size.
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
        replace: bool = True,
        skip_on_no_data: bool = False,
        langdock_conn_id: str = DEFAULT_CONN_ID,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_literal_parameters(data_type, group_by)
        if chunk_size <= 0:
            raise LangdockInputError(f"chunk_size must be a positive number of bytes; got {chunk_size!r}.")
        self.data_type = data_type
        self.date_from = date_from
        self.date_to = date_to
        self.timezone = timezone
        self.group_by = group_by
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.replace = replace
        self.skip_on_no_data = skip_on_no_data
        self.langdock_conn_id = langdock_conn_id
        self.chunk_size = chunk_size

    def execute(self, context: Context) -> dict[str, Any]:
        request = export_request_for_run(
            context, self.data_type, self.date_from, self.date_to, self.timezone, self.group_by
        )
        target = destination_for(self.destination, self.destination_conn_id) if self.destination else None
        if target is not None and not self.replace and target.exists():
            raise LangdockError(
                f"{target.uri} already exists and replace=False; nothing was exported. "
                "Delete it or set replace=True."
            )
        hook = LangdockHook(self.langdock_conn_id)
        try:
            try:
                result = hook.run_export(request)
            except LangdockNoDataError as error:
                if self.skip_on_no_data:
                    raise AirflowSkipException(f"Nothing to export: {error}") from error
                raise
            metadata = result.to_dict()
            context["ti"].xcom_push(key="download_url", value=result.download_url)
            if target is not None:
                self.log.info("Streaming %d records to %s.", result.record_count, target.uri)
                written = target.write(hook.iter_download(result.download_url, self.chunk_size))
                self.log.info("Wrote %d bytes to %s.", written, target.uri)
                metadata.update(destination=target.uri, bytes=written)
        finally:
            hook.close()
        return metadata


__all__ = ["LangdockUsageExportOperator"]
