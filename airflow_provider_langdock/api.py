"""Everything this provider knows about the Langdock Usage Export API, free of any I/O.

Paths, data types and their aliases, ``group_by`` rules, date handling, the request body, response
parsing and the mapping of error responses to typed exceptions live here, once. The sync hook
(requests) and the async trigger client both build requests and read answers through this module.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_langdock.connection_ui import DEFAULT_BASE_URL
from airflow_provider_langdock.exceptions import (
    LangdockAuthError,
    LangdockBadRequestError,
    LangdockConnectionError,
    LangdockError,
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockInvalidResponseError,
    LangdockNoDataError,
    LangdockRateLimitError,
    LangdockServerError,
)
from airflow_provider_langdock.redaction import redact

#: Statuses worth another attempt; 400, 401, 403 and 404 never are.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: How far back the API keeps usage data.
HISTORY_MONTHS = 12
#: Largest row count believed from the server (``recordCount``, the row cap message): Langdock's own
#: cap is one million rows per file, so anything above a billion is a broken or hostile answer.
MAX_RECORD_COUNT = 1_000_000_000

Route = Literal["csv", "json"]


@dataclass(frozen=True)
class DataType:
    """One exportable data type: its name in responses, its URL path and its ``group_by`` values."""

    name: str
    path: str
    group_by: frozenset[str] = frozenset()


DATA_TYPES: dict[str, DataType] = {
    spec.name: spec
    for spec in (
        DataType("users", "users", frozenset({"model"})),
        DataType("agents", "agents", frozenset({"model"})),
        DataType("assistants", "assistants", frozenset({"model"})),
        DataType("api_keys", "api-keys", frozenset({"model"})),
        DataType("projects", "projects"),
        # "deployment" is accepted by the API for BYOK workspaces only; others answer 400.
        DataType("models", "models", frozenset({"source", "deployment"})),
        DataType("workflows", "workflows"),
    )
}

_ALIASES = {
    "user": "users",
    "agent": "agents",
    "assistant": "assistants",
    "api_key": "api_keys",
    "apikeys": "api_keys",
    "project": "projects",
    "model": "models",
    "workflow": "workflows",
}

# Numbers start only where no digit or separator precedes, so the search stays linear on any text.
_ROW_CAP_MESSAGE = re.compile(
    r"(?<![\d,_])(\d[\d,_]*)\s+rows?\s+exceeds?\s+(?:the\s+)?limit\s+of\s+(\d[\d,_]*)", re.I
)
#: Longest piece of server text (an error or message field) kept in an exception or event.
MAX_SERVER_TEXT = 1000


def resolve_data_type(data_type: str) -> DataType:
    """Return the spec for ``data_type``, accepting case, hyphens and singular forms."""
    if not isinstance(data_type, str) or not data_type.strip():
        raise LangdockInputError(f"data_type must be one of {_allowed(DATA_TYPES)}; got {data_type!r}.")
    key = data_type.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    try:
        return DATA_TYPES[key]
    except KeyError:
        raise LangdockInputError(
            f"data_type {data_type!r} is not supported; use one of {_allowed(DATA_TYPES)}."
        ) from None


def validate_group_by(spec: DataType, group_by: str | None) -> str | None:
    """Return ``group_by`` if the data type accepts it, else raise naming the allowed values."""
    if group_by is None or group_by == "":
        return None
    if not spec.group_by:
        raise LangdockInputError(f"group_by is not supported for data_type {spec.name!r}; leave it unset.")
    if group_by not in spec.group_by:
        raise LangdockInputError(
            f"group_by {group_by!r} is not supported for data_type {spec.name!r}; "
            f"use one of {_allowed(spec.group_by)} or leave it unset."
        )
    return group_by


def resolve_timezone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise LangdockInputError(f"timezone must be an IANA zone name such as 'UTC'; got {name!r}.")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise LangdockInputError(
            f"timezone {name!r} is not a known IANA zone name (e.g. 'UTC', 'Europe/Berlin')."
        ) from None


DateLike = datetime | date | str


def _parse_date_like(value: DateLike, param: str) -> datetime:
    """Turn a datetime, date or ISO-8601 string into a datetime (naive or aware, as given)."""
    if isinstance(value, datetime):  # pendulum.DateTime is a datetime too
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise LangdockInputError(
                f"{param} {value!r} is not an ISO-8601 date or date-time (e.g. '2025-01-31T00:00:00Z')."
            ) from None
    raise LangdockInputError(
        f"{param} must be a datetime, a date or an ISO-8601 string; got {type(value).__name__}."
    )


def _wall_time(value: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time of ``value`` in ``zone``, as a naive datetime (naive input is already wall time)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=None)
    return value.astimezone(zone).replace(tzinfo=None)


def _check_wall_time_exists(wall: datetime, zone: ZoneInfo, param: str) -> None:
    """Refuse a wall time that ``zone`` skips (e.g. 02:30 on the night clocks go forward)."""
    if _utc_wall_time(wall, zone).replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise LangdockInputError(
            f"{param} ({format_wall_time(wall)}) does not exist in timezone {zone.key!r}: clocks skip it "
            "for daylight saving time. Pass an aware datetime or a wall time outside the gap."
        )


def _is_repeated(wall: datetime, zone: ZoneInfo) -> bool:
    """True for a wall time ``zone`` shows twice (the hour repeated when clocks go back)."""
    return wall.replace(fold=0, tzinfo=zone).utcoffset() != wall.replace(fold=1, tzinfo=zone).utcoffset()


def _utc_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The naive UTC wall time of a wall time in ``zone`` (its ``fold`` picks a repeated hour's pass)."""
    return wall.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def _is_naive(value: datetime) -> bool:
    return value.tzinfo is None or value.utcoffset() is None


def format_wall_time(value: datetime) -> str:
    """Format a wall time the way the API expects: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _months_before(moment: datetime, months: int) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class ExportRequest:
    """A validated export request; build it with :meth:`build`, which checks every parameter."""

    data_type: DataType
    #: Wall-clock times in ``timezone`` (naive), as sent to the API.
    date_from: datetime
    date_to: datetime
    timezone: str
    group_by: str | None = None

    @classmethod
    def build(
        cls,
        data_type: str,
        date_from: DateLike,
        date_to: DateLike,
        timezone: str = "UTC",
        group_by: str | None = None,
        *,
        now: datetime | None = None,
    ) -> ExportRequest:
        """Validate the parameters and return the request; raise :class:`LangdockInputError` if bad.

        Naive dates mean wall time in ``timezone``; aware ones are converted to it. A naive value
        may be mixed with an aware one only if the aware one is in ``timezone`` too. A naive wall time
        that the zone skips (a daylight-saving gap) is refused; a range with an end in a repeated
        hour (clocks turned back) is sent in UTC, where its instants are unambiguous.
        """
        spec = resolve_data_type(data_type)
        checked_group_by = validate_group_by(spec, group_by)
        zone = resolve_timezone(timezone)
        start = _parse_date_like(date_from, "date_from")
        end = _parse_date_like(date_to, "date_to")
        if _is_naive(start) != _is_naive(end):
            aware, aware_name = (end, "date_to") if _is_naive(start) else (start, "date_from")
            if aware.utcoffset() != aware.astimezone(zone).utcoffset():
                raise LangdockInputError(
                    f"date_from and date_to mix a naive and an aware value, and {aware_name} "
                    f"({aware.isoformat()}) is not in timezone {timezone!r}; pass both naive "
                    f"(wall time in {timezone!r}) or both aware."
                )
        wall_from, wall_to = _wall_time(start, zone), _wall_time(end, zone)
        _check_wall_time_exists(wall_from, zone, "date_from")
        _check_wall_time_exists(wall_to, zone, "date_to")
        if _is_repeated(wall_from, zone) or _is_repeated(wall_to, zone):
            wall_from, wall_to = _utc_wall_time(wall_from, zone), _utc_wall_time(wall_to, zone)
            zone, timezone = ZoneInfo("UTC"), "UTC"
        instant_from = wall_from.replace(tzinfo=zone)
        instant_to = wall_to.replace(tzinfo=zone)
        if instant_from >= instant_to:
            raise LangdockInputError(
                f"date_from ({format_wall_time(wall_from)}) must be before date_to "
                f"({format_wall_time(wall_to)}) in timezone {timezone!r}."
            )
        current = (now or datetime.now(UTC)).astimezone(zone)
        oldest = _months_before(current, HISTORY_MONTHS)
        if instant_from < oldest:
            raise LangdockInputError(
                f"date_from ({format_wall_time(wall_from)} {timezone}) is more than {HISTORY_MONTHS} months "
                f"before today; Langdock keeps usage data from {oldest:%Y-%m-%d %H:%M} {timezone} on."
            )
        return cls(spec, wall_from, wall_to, zone.key, checked_group_by)

    def utc_range(self) -> tuple[datetime, datetime]:
        """The exported instants ``[start, end)`` as aware UTC datetimes."""
        zone = ZoneInfo(self.timezone)
        return (
            self.date_from.replace(tzinfo=zone).astimezone(UTC),
            self.date_to.replace(tzinfo=zone).astimezone(UTC),
        )

    def for_utc_range(self, start: datetime, end: datetime) -> ExportRequest:
        """The same export (data type, grouping) of the instants ``[start, end)``, expressed in UTC.

        The parts of a split export are sent this way: UTC wall times are unambiguous across DST
        changes, so adjacent parts meet exactly. ``start`` and ``end`` must be aware.
        """
        if _is_naive(start) or _is_naive(end):
            raise LangdockInputError("for_utc_range needs aware datetimes.")
        if start.astimezone(UTC) >= end.astimezone(UTC):  # same-zone comparison would ignore fold
            raise LangdockInputError(f"A part must start before it ends; got {start} to {end}.")
        return replace(
            self,
            date_from=start.astimezone(UTC).replace(tzinfo=None),
            date_to=end.astimezone(UTC).replace(tzinfo=None),
            timezone="UTC",
        )

    def path(self, route: Route | None = None) -> str:
        """URL path of this export: ``/export/<path>``, or with ``/csv`` or ``/json`` appended."""
        base = f"/export/{self.data_type.path}"
        return f"{base}/{route}" if route else base

    def body(self) -> dict[str, Any]:
        """JSON request body."""
        body: dict[str, Any] = {
            "from": {"date": format_wall_time(self.date_from), "timezone": self.timezone},
            "to": {"date": format_wall_time(self.date_to), "timezone": self.timezone},
        }
        if self.group_by:
            body["group_by"] = self.group_by
        return body

    def describe(self) -> str:
        """Short human description for logs and error messages."""
        grouping = f" grouped by {self.group_by}" if self.group_by else ""
        return (
            f"{self.data_type.name} export{grouping} from {format_wall_time(self.date_from)} "
            f"to {format_wall_time(self.date_to)} ({self.timezone})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (trigger kwargs): wall times as naive ISO strings."""
        return {
            "data_type": self.data_type.name,
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "timezone": self.timezone,
            "group_by": self.group_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportRequest:
        """Inverse of :meth:`to_dict` (the names are checked again; the range was checked when built)."""
        spec = resolve_data_type(data["data_type"])
        zone = resolve_timezone(data["timezone"])
        start = _wall_time(_parse_date_like(data["date_from"], "date_from"), zone)
        end = _wall_time(_parse_date_like(data["date_to"], "date_to"), zone)
        return cls(spec, start, end, zone.key, validate_group_by(spec, data.get("group_by")))


@dataclass(frozen=True)
class ExportResult:
    """What the CSV route answers: where the export file is and what it holds."""

    download_url: str = field(repr=False)
    file_path: str
    data_type: str
    record_count: int
    date_range: dict[str, str]

    def __repr__(self) -> str:
        return (
            f"ExportResult(download_url={redact(self.download_url)!r}, file_path={self.file_path!r}, "
            f"data_type={self.data_type!r}, record_count={self.record_count}, date_range={self.date_range!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (XCom, trigger events)."""
        return {
            "download_url": self.download_url,
            "file_path": self.file_path,
            "data_type": self.data_type,
            "record_count": self.record_count,
            "date_range": dict(self.date_range),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            download_url=data["download_url"],
            file_path=data["file_path"],
            data_type=data["data_type"],
            record_count=int(data["record_count"]),
            date_range=dict(data["date_range"]),
        )


def over_row_cap_metadata(request: ExportRequest, row_count: int) -> dict[str, Any]:
    """Metadata of a period Langdock refused to export whole (row cap): data exists, in no single file."""
    start, end = request.utc_range()
    return {
        "download_url": None,
        "file_path": None,
        "data_type": request.data_type.name,
        "record_count": row_count,
        "date_range": {
            "from": format_wall_time(start.replace(tzinfo=None)),
            "to": format_wall_time(end.replace(tzinfo=None)),
        },
    }


@dataclass(frozen=True)
class ExportRecords:
    """What the JSON route answers: the rows themselves."""

    data_type: str
    record_count: int
    date_range: dict[str, str]
    records: list[dict[str, Any]] = field(repr=False)


def _payload(text: str, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        raise LangdockInvalidResponseError(
            f"Langdock answered the {what} with a body that is not JSON: {_snippet(text)!r}"
        ) from None
    if not isinstance(payload, dict):
        raise LangdockInvalidResponseError(f"Langdock answered the {what} with JSON that is not an object.")
    if payload.get("success") is not True:
        raise LangdockInvalidResponseError(
            f"Langdock answered the {what} without success=true: error={_text(payload.get('error'))!r}, "
            f"message={_text(payload.get('message'))!r}",
            api_error=_text(payload.get("error")),
            api_message=_text(payload.get("message")),
        )
    return payload


def _date_range(data: Mapping[str, Any], what: str) -> dict[str, str]:
    date_range = data.get("dateRange")
    if not isinstance(date_range, dict) or not {"from", "to"} <= date_range.keys():
        raise LangdockInvalidResponseError(f"Langdock's {what} answer lacks dateRange.from/to.")
    return {"from": str(date_range["from"]), "to": str(date_range["to"])}


def _record_count(value: Any, what: str) -> int:
    """``recordCount`` as a whole number from 0 to :data:`MAX_RECORD_COUNT`, else the answer is invalid."""
    count = None
    if isinstance(value, int | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            count = int(value)
    if count is None or not 0 <= count <= MAX_RECORD_COUNT:
        raise LangdockInvalidResponseError(
            f"Langdock's {what} answer has no recordCount between 0 and {MAX_RECORD_COUNT}: {value!r:.40}."
        )
    return count


def parse_export_response(text: str, request: ExportRequest) -> ExportResult:
    """Parse a 2xx answer of the CSV route into an :class:`ExportResult`."""
    what = request.describe()
    data = _payload(text, what).get("data")
    if not isinstance(data, dict):
        raise LangdockInvalidResponseError(f"Langdock's {what} answer has no 'data' object.")
    missing = [key for key in ("filePath", "downloadUrl", "dataType", "recordCount") if key not in data]
    if missing:
        raise LangdockInvalidResponseError(f"Langdock's {what} answer lacks {', '.join(missing)}.")
    url = str(data["downloadUrl"])
    if urlsplit(url).scheme not in ("http", "https"):
        raise LangdockInvalidResponseError(f"Langdock's {what} answer has no http(s) downloadUrl.")
    return ExportResult(
        download_url=url,
        file_path=redact(str(_text(data["filePath"]))),  # metadata: never a place for an echoed key
        data_type=redact(str(_text(data["dataType"]))).replace("-", "_"),
        record_count=_record_count(data["recordCount"], what),
        date_range=_date_range(data, what),
    )


def parse_records_response(text: str, request: ExportRequest) -> ExportRecords:
    """Parse a 2xx answer of the JSON route; rows may come as ``data`` itself or under a key of it."""
    what = request.describe()
    data = _payload(text, what).get("data")
    rows: Any = data
    meta: Mapping[str, Any] = {}
    if isinstance(data, dict):
        meta = data
        rows = next((data[key] for key in ("records", "rows", "data", "items") if key in data), None)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise LangdockInvalidResponseError(f"Langdock's {what} answer holds no list of records.")
    count = _record_count(meta["recordCount"], what) if "recordCount" in meta else len(rows)
    date_range = (
        _date_range(meta, what)
        if "dateRange" in meta
        else {"from": format_wall_time(request.date_from), "to": format_wall_time(request.date_to)}
    )
    return ExportRecords(
        data_type=str(meta.get("dataType", request.data_type.name)).replace("-", "_"),
        record_count=count,
        date_range=date_range,
        records=rows,
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_success(status: int) -> bool:
    """Only 2xx is success (``requests``' and aiohttp's ``ok`` also accept 3xx)."""
    return 200 <= status < 300


def error_for_response(
    status: int,
    text: str,
    *,
    what: str,
    retry_after: str | None = None,
    location: str | None = None,
) -> LangdockError:
    """Map a non-2xx answer to the typed error that names its cause (``location``: a 3xx's header)."""
    if 300 <= status < 400:
        target = _host_of(location) or "an unnamed location"
        return LangdockError(
            f"Langdock answered {status} to the {what}: redirected to {target}. The API never "
            "redirects; check the connection's Base URL (host).",
            http_status=status,
        )
    api_error, api_message = _error_fields(text)
    detail = " - ".join(part for part in (api_error, api_message) if part) or _snippet(text) or "no details"
    prefix = f"Langdock answered {status} to the {what}: {detail}"
    fields: dict[str, Any] = {"http_status": status, "api_error": api_error, "api_message": api_message}
    if status == 401:
        return LangdockAuthError(f"{prefix}. Check the API key of the Langdock connection.", **fields)
    if status == 403:
        return LangdockAuthError(f"{prefix}. The API key needs the USAGE_EXPORT_API scope.", **fields)
    if status == 404:
        return LangdockNoDataError(prefix, **fields)
    if status == 400:
        match = _ROW_CAP_MESSAGE.search(text)  # the whole body: its fields may have been cut
        if match:
            return _too_large_error(prefix, _int(match.group(1)), _int(match.group(2)), fields)
        return LangdockBadRequestError(prefix, **fields)
    seconds = parse_retry_after(retry_after)
    if status == 429:
        return LangdockRateLimitError(f"{prefix} (rate limited).", retry_after=seconds, **fields)
    if status >= 500:
        return LangdockServerError(prefix, retry_after=seconds, **fields)
    return LangdockError(prefix, **fields)


def _too_large_error(prefix: str, rows: int, limit: int, fields: dict[str, Any]) -> LangdockError:
    """The row cap error, if its numbers make sense (1 <= limit < rows <= MAX_RECORD_COUNT)."""
    if not 1 <= limit < rows <= MAX_RECORD_COUNT:
        return LangdockInvalidResponseError(
            f"{prefix}. Its numbers make no sense ({rows} rows over a limit of {limit}; a limit is at "
            f"least 1 and a count at most {MAX_RECORD_COUNT}), so the export was not split.",
            **fields,
        )
    return LangdockExportTooLargeError(
        f"{prefix}. Narrow the date range.",
        row_count=rows,
        row_limit=limit,
        api_error=fields["api_error"],
        api_message=fields["api_message"],
    )


def unreachable_error(base_url: str, what: str, error: BaseException) -> LangdockConnectionError:
    """The error for a request that got no answer: refused, reset, DNS failure or timeout."""
    return LangdockConnectionError(
        f"Could not reach Langdock at {base_url} for the {what}: {type(error).__name__}"
    )


def normalize_base_url(host: str | None) -> str:
    """Base URL from the connection's host: default, full URL as given, bare host name -> https."""
    if host is None or not host.strip():
        return DEFAULT_BASE_URL
    raw = host.strip()
    candidate = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(candidate)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "its scheme must be https (or http for a local test server)"
    elif not parts.hostname or any(ch.isspace() for ch in raw):
        problem = "it has no valid host name"
    elif parts.query or parts.fragment:
        problem = "it must not carry a query string or fragment"
    elif "@" in parts.netloc:
        problem = "it must not carry a user name or password; the API key goes in the 'API key' field"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            problem = "its port is not a number"
    if problem:
        shown = redact(candidate) if "@" in parts.netloc else raw  # never echo a password
        raise LangdockInputError(
            f"The connection's Base URL (host) {shown!r} is malformed: {problem}. Use e.g. "
            f"'{DEFAULT_BASE_URL}', 'https://<your-deployment>/api/public' or 'api.odeus.ai'."
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def recent_probe_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """A short, recent UTC range for connection tests: the last hour."""
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    return end - timedelta(hours=1), end


def _host_of(url: str | None) -> str | None:
    try:
        return urlsplit(url or "").hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def _error_fields(text: str) -> tuple[str | None, str | None]:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    return _text(payload.get("error")), _text(payload.get("message"))


def _text(value: Any) -> str | None:
    """A server-sent field as text, cut to :data:`MAX_SERVER_TEXT` characters."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_SERVER_TEXT else text[:MAX_SERVER_TEXT] + "..."


def _int(text: str) -> int:
    digits = re.sub(r"[^\d]", "", text)
    return int(digits[:30])  # longer numbers are absurd anyway; this keeps int() cheap


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _allowed(values: Mapping[str, Any] | frozenset[str]) -> str:
    return ", ".join(repr(value) for value in sorted(values))
