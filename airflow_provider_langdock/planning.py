"""Splitting an export that Langdock refuses as too large: a planner free of any I/O.

Langdock answers an export above its row cap (1,000,000 rows) with 400 "Export too large: N rows
exceeds limit of L". :class:`ExportPlanner` turns one :class:`~airflow_provider_langdock.api.ExportRequest`
into an :class:`ExportPlan`: an ordered list of parts that each fit under the cap. It only says which
request to send next (:meth:`ExportPlanner.next_request`) and takes Langdock's answer to it, a result
or an error (:meth:`ExportPlanner.answer`), so ``LangdockHook.plan_export`` and
``LangdockAsyncHook.plan_export`` drive the same logic, one with blocking and one with async requests.

A range that is too large is cut into ``ceil(rows / (0.9 * limit))`` pieces at whole UTC hours, each
piece is requested in turn (depth first, so parts come out in time order) and split again if still
too large. A range that cannot be cut (it lies within one UTC hour) and is still too large is an
error. The work is bounded whatever numbers the server sends: one split makes at most as many pieces
as the range has whole UTC hours, and a plan never holds more than :data:`MAX_PARTS` ranges
(requests). Split parts are requested in UTC, so their boundaries are unambiguous across DST changes;
the first request is always the original one, so an export under the cap is sent exactly as asked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from airflow_provider_langdock.api import ExportRequest, ExportResult, format_wall_time
from airflow_provider_langdock.exceptions import (
    LangdockError,
    LangdockExportTooLargeError,
    LangdockNoDataError,
)

#: Split parts aim at this share of the row limit, so that uneven data rarely needs a second split.
TARGET_FILL = 0.9
#: Most ranges one export may be cut into (a billion rows at Langdock's cap of one million per file).
MAX_PARTS = 1000
#: The errors that are answers to plan with (split the range; an empty part), not failures.
PLANNED_ERRORS = (LangdockExportTooLargeError, LangdockNoDataError)
_HOUR = timedelta(hours=1)
_WALL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class ExportPart:
    """One part of a plan: the request sent for it and Langdock's answer (None: no data in it)."""

    request: ExportRequest
    result: ExportResult | None

    @property
    def record_count(self) -> int:
        """Rows Langdock reported for this part (0 without data)."""
        return self.result.record_count if self.result else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain form for XCom and trigger events: the range as requested, the file and its row count."""
        return {
            "date_from": format_wall_time(self.request.date_from),
            "date_to": format_wall_time(self.request.date_to),
            "timezone": self.request.timezone,
            "file_path": self.result.file_path if self.result else None,
            "record_count": self.record_count,
            "download_url": self.result.download_url if self.result else None,
        }


@dataclass(frozen=True)
class ExportPlan:
    """What an export produced: the original request and its parts in time order.

    An export under the row cap is one part, the original request. A split export has several parts
    (requested in UTC); parts without data (Langdock's 404 for that range) have no result.
    """

    request: ExportRequest
    parts: tuple[ExportPart, ...]

    def __post_init__(self) -> None:
        if not any(part.result for part in self.parts):
            raise ValueError("An ExportPlan needs at least one part with a result.")

    @property
    def is_split(self) -> bool:
        """True when the export had to be split into several parts."""
        return len(self.parts) > 1

    @property
    def record_count(self) -> int:
        """Rows of all parts."""
        return sum(part.record_count for part in self.parts)

    @property
    def data_type(self) -> str:
        """The data type as Langdock names it in its answers."""
        return next(part.result.data_type for part in self.parts if part.result)

    def with_result(self, index: int, result: ExportResult) -> ExportPlan:
        """This plan with part ``index`` answered by ``result`` (a fresh export after its URL expired)."""
        parts = list(self.parts)
        parts[index] = replace(parts[index], result=result)
        return replace(self, parts=tuple(parts))

    def to_dict(self) -> dict[str, Any]:
        """The export's metadata (XCom ``return_value``).

        One part: ``download_url``, ``file_path``, ``data_type``, ``record_count`` and ``date_range``
        as Langdock answered, plus ``parts``. Several parts: ``download_url`` and ``file_path`` are
        None (no single Langdock file holds the export; each part names its own), ``record_count`` is
        the total and ``date_range`` the whole range in UTC.
        """
        parts = [part.to_dict() for part in self.parts]
        if not self.is_split:
            result = self.parts[0].result
            assert result is not None
            return {**result.to_dict(), "parts": parts}
        start, end = self.request.utc_range()
        return {
            "download_url": None,
            "file_path": None,
            "data_type": self.data_type,
            "record_count": self.record_count,
            "date_range": {"from": _utc_wall_time(start), "to": _utc_wall_time(end)},
            "parts": parts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], request: ExportRequest) -> ExportPlan:
        """Inverse of :meth:`to_dict`, given the original request (e.g. in ``execute_complete``).

        Metadata without ``parts`` (a plain :meth:`ExportResult.to_dict`) is a one-part plan.
        """
        if "parts" not in data:
            return cls(request, (ExportPart(request, ExportResult.from_dict(data)),))
        parts = []
        for entry in data["parts"]:
            part_request = replace(
                request,
                date_from=datetime.strptime(entry["date_from"], _WALL_TIME_FORMAT),
                date_to=datetime.strptime(entry["date_to"], _WALL_TIME_FORMAT),
                timezone=entry["timezone"],
            )
            result = None
            if entry.get("download_url"):
                result = ExportResult(
                    download_url=entry["download_url"],
                    file_path=entry["file_path"],
                    data_type=data["data_type"],
                    record_count=int(entry["record_count"]),
                    date_range=(
                        dict(data["date_range"])
                        if len(data["parts"]) == 1
                        else {"from": entry["date_from"], "to": entry["date_to"]}
                    ),
                )
            parts.append(ExportPart(part_request, result))
        return cls(request, tuple(parts))


@dataclass(frozen=True)
class _Range:
    start: datetime
    end: datetime
    depth: int


class ExportPlanner:
    """Decides which export requests to send so that every part fits under Langdock's row cap.

    Send :meth:`next_request`, hand Langdock's answer (the result, or the error raised) to
    :meth:`answer`, which says what to send next; when it says None, take :meth:`plan`.
    (:meth:`succeeded`, :meth:`too_large` and :meth:`no_data` take one kind of answer each.)
    Parts are requested one at a time, in time order.

    :param request: the export as the user asked for it.
    :param target_fill: share of the row limit a split part aims at (0 < target_fill <= 1).
    """

    def __init__(self, request: ExportRequest, *, target_fill: float = TARGET_FILL) -> None:
        if not 0 < target_fill <= 1:
            raise ValueError(f"target_fill must be in (0, 1]; got {target_fill}.")
        self.request = request
        self.target_fill = target_fill
        start, end = request.utc_range()
        self._pending: list[_Range] = [_Range(start, end, 0)]  # a stack: the next range is last
        self._parts: list[ExportPart] = []
        self._split = False
        self._ranges_made = 1

    @property
    def done(self) -> bool:
        """True once every part has been answered."""
        return not self._pending

    @property
    def is_split(self) -> bool:
        """True once the original request was refused as too large."""
        return self._split

    def next_request(self) -> ExportRequest | None:
        """The request to send now (the same until an answer is reported); None when done."""
        if not self._pending:
            return None
        return self._request_for(self._pending[-1])

    def answer(self, answer: ExportResult | LangdockError) -> ExportRequest | None:
        """Take Langdock's answer to the current request; return the request to send next (None: done).

        A result is a part; "too large" splits the range; "no data" is an empty part of a split
        export. Any other error, and "no data" for the original request, is raised again.
        """
        if isinstance(answer, ExportResult):
            self.succeeded(answer)
        elif isinstance(answer, LangdockExportTooLargeError):
            self.too_large(answer.row_count, answer.row_limit)
        elif isinstance(answer, LangdockNoDataError):
            self.no_data(answer)
        else:
            raise answer
        return self.next_request()

    def succeeded(self, result: ExportResult) -> None:
        """The current request answered with an export file."""
        current = self._take()
        self._parts.append(ExportPart(self._request_for(current), result))

    def no_data(self, error: LangdockNoDataError) -> None:
        """The current request answered "No data found" (404).

        A part of a split export without data is an empty part; the original request without data
        re-raises ``error``.
        """
        if not self.is_split:
            raise error
        current = self._take()
        self._parts.append(ExportPart(self._request_for(current), None))

    def too_large(self, row_count: int, row_limit: int) -> tuple[ExportRequest, ...]:
        """The current request was refused as too large; split it and return the new parts' requests.

        :raises LangdockExportTooLargeError: when the range lies within one UTC hour and cannot be
            split, or when the plan would need more than :data:`MAX_PARTS` ranges.
        """
        current = self._take()
        described = self._request_for(current).describe()
        wanted = self._pieces(row_count, row_limit)
        boundaries = _split_points(current.start, current.end, wanted)
        if not boundaries:
            raise LangdockExportTooLargeError(
                f"The {described} has {row_count} rows, more than Langdock's limit of {row_limit}, and "
                "cannot be split further: exports are split at whole UTC hours and this range lies "
                "within one hour.",
                row_count=row_count,
                row_limit=row_limit,
            )
        if self._ranges_made + len(boundaries) + 1 > MAX_PARTS:
            raise LangdockExportTooLargeError(
                f"The {described} has {row_count} rows (limit {row_limit} per file); exporting it would "
                f"take more than {MAX_PARTS} parts. Export shorter periods.",
                row_count=row_count,
                row_limit=row_limit,
            )
        self._ranges_made += len(boundaries) + 1
        self._split = True
        edges = [current.start, *boundaries, current.end]
        pieces = [_Range(first, last, current.depth + 1) for first, last in pairwise(edges)]
        self._pending.extend(reversed(pieces))
        return tuple(self._request_for(piece) for piece in pieces)

    def plan(self) -> ExportPlan:
        """The finished plan.

        :raises LangdockNoDataError: when every part of a split export turned out to have no data.
        """
        if self._pending:
            raise RuntimeError("The plan is not finished: send next_request() and report its answer.")
        if not any(part.result for part in self._parts):
            raise LangdockNoDataError(
                f"Every part of the {self.request.describe()} answered 'No data found', although the "
                "whole range was refused as too large."
            )
        return ExportPlan(self.request, tuple(self._parts))

    def _take(self) -> _Range:
        if not self._pending:
            raise RuntimeError("The plan is finished; there is no request to answer.")
        return self._pending.pop()

    def _pieces(self, row_count: int, row_limit: int) -> int:
        """Pieces to aim for: by the ratio of rows to the limit, at least 2, at most MAX_PARTS."""
        if row_limit <= 0 or row_count <= row_limit:
            return 2
        return min(max(2, math.ceil(row_count / (row_limit * self.target_fill))), MAX_PARTS)

    def _request_for(self, piece: _Range) -> ExportRequest:
        if piece.depth == 0:
            return self.request
        return self.request.for_utc_range(piece.start, piece.end)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _split_points(start: datetime, end: datetime, pieces: int) -> list[datetime]:
    """Whole UTC hours strictly inside ``(start, end)`` closest to ``pieces`` equal shares of it.

    At most one point per whole hour, so the work is bounded by the range, not by ``pieces``.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = _floor_hour(start) + _HOUR
    last = _floor_hour(end)
    if last == end:
        last -= _HOUR
    if first > last:
        return []
    hours_inside = (last - first) // _HOUR + 1
    pieces = min(pieces, hours_inside + 1)
    span = end - start
    points = set()
    for index in range(1, pieces):
        ideal = start + span * index / pieces
        nearest = _floor_hour(ideal + _HOUR / 2)
        points.add(min(max(nearest, first), last))
    return sorted(points)


def _utc_wall_time(moment: datetime) -> str:
    return format_wall_time(moment.astimezone(UTC).replace(tzinfo=None))


__all__ = ["MAX_PARTS", "PLANNED_ERRORS", "TARGET_FILL", "ExportPart", "ExportPlan", "ExportPlanner"]
