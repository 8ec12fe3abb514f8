"""The request side of the Usage Export API contract: routes, body validation and the API's errors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_langdock.testing.columns import DATA_TYPES, DataTypeSpec

_DATE_PATTERN = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z?", re.ASCII)
_ROUTE_PATTERN = re.compile(r"/export/([a-z-]+)(?:/(csv|json))?")
_DATE_FORMAT_HINT = (
    "expected ISO-8601 YYYY-MM-DDTHH:MM:SS[.sss][Z] without UTC offset (use the timezone field)"
)

NOT_FOUND_MESSAGE = "No usage data found for the selected period"
HISTORY_MESSAGE = "Data older than 12 months cannot be exported"


class ApiError(Exception):
    """An error answer of the API: HTTP status and the ``{"error", "message"}`` body."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message

    @property
    def body(self) -> dict[str, str]:
        """The JSON body the API answers with."""
        return {"error": self.error, "message": self.message}


def bad_request(error: str, message: str) -> ApiError:
    """A 400 answer."""
    return ApiError(400, error, message)


def no_data() -> ApiError:
    """The API's 404 for a period without usage data."""
    return ApiError(404, "No data found", NOT_FOUND_MESSAGE)


@dataclass(frozen=True)
class Route:
    """A matched export route: what it exports and whether rows come inline (``json``) or as a file."""

    spec: DataTypeSpec
    output: str


def match_route(path: str) -> Route | None:
    """The export route of a request path (prefix already removed), or None when it is none."""
    match = _ROUTE_PATTERN.fullmatch(path)
    if match is None or match.group(1) not in DATA_TYPES:
        return None
    return Route(DATA_TYPES[match.group(1)], match.group(2) or "csv")


@dataclass(frozen=True)
class SimulatedExportRequest:
    """A validated request body: the UTC range and the optional group_by."""

    start: datetime
    end: datetime
    group_by: str | None


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or a 400."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request("Invalid JSON", "Request body must be a valid JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("Invalid JSON", "Request body must be a valid JSON object")
    return body


def _utc_moment(body: dict[str, Any], side: str) -> datetime:
    """``body[side]`` (``{"date", "timezone"}``, date = wall time in timezone) as an aware UTC datetime."""
    point = body.get(side)
    if point is None:
        raise bad_request("Invalid request", f"Missing required field: {side}")
    if not isinstance(point, dict):
        raise bad_request("Invalid request", f"Field {side} must be an object with date and timezone")
    for key in ("date", "timezone"):
        if point.get(key) is None:
            raise bad_request("Invalid request", f"Missing required field: {side}.{key}")
    date_text, zone_name = point["date"], point["timezone"]
    match = _DATE_PATTERN.fullmatch(date_text) if isinstance(date_text, str) else None
    if match is None:
        raise bad_request("Invalid date", f"Invalid {side}.date {date_text!r}: {_DATE_FORMAT_HINT}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    micros = int((match.group(7) or "0").ljust(6, "0"))
    try:
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) and zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        raise bad_request(
            "Invalid timezone", f"Unknown timezone {zone_name!r} in {side}.timezone: expected an IANA name"
        )
    try:
        wall_time = datetime(year, month, day, hour, minute, second, micros, tzinfo=zone)
    except ValueError:
        raise bad_request("Invalid date", f"Invalid {side}.date {date_text!r}: not a calendar date") from None
    return wall_time.astimezone(UTC)


def validate_group_by(body: dict[str, Any], spec: DataTypeSpec, *, byok: bool) -> str | None:
    """The request's group_by if this data type (and workspace) supports it, else a 400."""
    group_by = body.get("group_by")
    if group_by is None:
        return None
    if not spec.group_by:
        raise bad_request("Invalid group_by", f"group_by is not supported for {spec.data_type} exports")
    if group_by not in spec.group_by:
        raise bad_request(
            "Invalid group_by",
            f"Unsupported group_by {group_by!r} for {spec.data_type} exports; "
            f"supported: {', '.join(spec.group_by)}",
        )
    if group_by in spec.byok_only_group_by and not byok:
        raise bad_request("Invalid group_by", f"group_by {group_by!r} is only available for BYOK workspaces")
    assert isinstance(group_by, str)
    return group_by


def validate_export(
    raw: bytes, spec: DataTypeSpec, *, byok: bool, now: datetime, history_days: int
) -> SimulatedExportRequest:
    """Validate a request body in the API's order; raise :class:`ApiError` (400) on the first problem."""
    body = parse_body(raw)
    start = _utc_moment(body, "from")
    end = _utc_moment(body, "to")
    group_by = validate_group_by(body, spec, byok=byok)
    if start >= end:
        raise bad_request("Invalid date range", "Invalid date range: 'from' must be before 'to'")
    if (now - start).total_seconds() > history_days * 86400:
        raise bad_request("Invalid date range", HISTORY_MESSAGE)
    return SimulatedExportRequest(start=start, end=end, group_by=group_by)


def iso_millis(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of a UTC datetime, as the API's ``dateRange`` shows it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
