"""Property-based tests (hypothesis): the CSV record counter, the export planner and DST date handling.

The number of examples and the seed come from the hypothesis profiles registered in conftest.py
(``CI`` set: a fixed seed). The plain tests at the end of each section pin the smallest cases these
properties found (a BOM-only file; dates in DST gaps and repeated hours).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from itertools import accumulate, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from airflow_provider_langdock import planning
from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.csvstream import CsvRecordCounter, CsvRecordSplitter
from airflow_provider_langdock.exceptions import (
    LangdockExportTooLargeError,
    LangdockInputError,
    LangdockNoDataError,
)
from airflow_provider_langdock.planning import ExportPlan, ExportPlanner

HOUR = timedelta(hours=1)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DST_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney")
ZONES = ("UTC", *DST_ZONES)
WALL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# -- a. CsvRecordCounter against the csv module ---------------------------------------------------------

BOM = b"\xef\xbb\xbf"
# Pieces that matter to a CSV parser, joined into fields: quotes, doubled quotes, separators, CR, LF,
# CR LF, empty text, non-ASCII text (a line separator U+2028 that is no CSV line break, too).
_FIELD_PIECES = (
    '"',
    '""',
    ",",
    "\r",
    "\n",
    "\r\n",
    "",
    " ",
    "x",
    "Zürich",
    "日本語",
    "😀",
    "\u2028",
    '{"k":1}',
)
fields = st.one_of(
    st.lists(st.sampled_from(_FIELD_PIECES), max_size=6).map("".join),
    st.text(st.characters(codec="utf-8"), max_size=10),  # any encodable text: no lone surrogates
)


@dataclass(frozen=True)
class CsvDocument:
    data: bytes
    #: Offset just past the first record's line ending (BOM included), None without one.
    first_record_end: int | None


@st.composite
def csv_documents(draw: st.DrawFn) -> CsvDocument:
    rows = draw(st.lists(st.lists(fields, max_size=5), max_size=8))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    if terminator == "\n" and any("\r" in field for row in rows for field in row):
        # Python 3.11's csv.writer quotes a field for the delimiter, the quote character and the
        # characters of the lineterminator only: with "\n" it writes a CR unquoted, which csv.reader
        # then reads as a line break. That is malformed CSV (RFC 4180), so quote every field instead.
        quoting = csv.QUOTE_ALL

    def written(table: list[list[str]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=terminator, quoting=quoting).writerows(table)
        return buffer.getvalue()

    text = written(rows)
    # the generator is sound: the csv module reads back exactly the rows it wrote
    assert list(csv.reader(io.StringIO(text, newline=""))) == rows
    drop_last_line_ending = draw(st.booleans())
    if drop_last_line_ending and text:
        assert text.endswith(terminator)
        text = text[: -len(terminator)]
    prefix = BOM if draw(st.booleans()) else b""
    first_record_end = None
    if rows and (len(rows) > 1 or not drop_last_line_ending):
        first_record_end = len(prefix) + len(written(rows[:1]).encode())
    return CsvDocument(prefix + text.encode(), first_record_end)


def reader_records(data: bytes) -> int:
    """Records as the csv module reads the file; a leading BOM is encoding, not data (utf-8-sig)."""
    return len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))))


@given(document=csv_documents(), data=st.data())
def test_csv_record_counter_counts_like_the_csv_module_whatever_the_pieces(
    document: CsvDocument, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(document.data)), max_size=12), label="cuts"))
    counter = CsvRecordCounter()
    for start, end in pairwise([0, *cuts, len(document.data)]):
        counter.feed(document.data[start:end])  # empty pieces included
    expected = reader_records(document.data)

    assert counter.bytes == len(document.data)
    assert not counter.in_quotes
    assert counter.first_record_end == document.first_record_end
    assert counter.records == expected
    assert counter.data_rows == max(expected - 1, 0)


@given(document=csv_documents(), cut=st.integers(min_value=0))
def test_csv_record_counter_notices_a_file_cut_inside_a_quoted_field(document: CsvDocument, cut: int) -> None:
    """Cut anywhere, the counter is in quotes exactly when the csv module would hit end-of-file there."""
    data = document.data[: cut % (len(document.data) + 1)]
    counter = CsvRecordCounter()
    counter.feed(data)
    try:
        list(csv.reader(io.StringIO(data.decode("utf-8-sig", "ignore"), newline=""), strict=True))
        cut_in_quotes = False
    except csv.Error as error:
        if "unexpected end of data" not in str(error):
            raise
        cut_in_quotes = True
    assert counter.in_quotes == cut_in_quotes


@given(document=csv_documents(), data=st.data())
def test_csv_record_splitter_cuts_the_records_the_csv_module_reads(
    document: CsvDocument, data: st.DataObject
) -> None:
    """Whatever the pieces, the records cut out read back as the csv module reads the whole file."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(document.data)), max_size=12), label="cuts"))
    splitter = CsvRecordSplitter()
    records: list[bytes] = []
    for start, end in pairwise([0, *cuts, len(document.data)]):
        records += splitter.feed(document.data[start:end])
    if last := splitter.close():
        records.append(last)

    assert b"\n".join(records) + (b"\n" if not last and records else b"") == document.data
    text = document.data.decode("utf-8-sig")
    expected = list(csv.reader(io.StringIO(text, newline="")))
    read = [next(csv.reader([record.decode("utf-8-sig")]), []) for record in records]
    assert [row for row in read if row] == [row for row in expected if row]


def test_a_bom_alone_is_no_record() -> None:
    counter = CsvRecordCounter()
    counter.feed(BOM)
    assert counter.records == reader_records(BOM) == 0


# -- b. ExportPlanner against a fake Langdock that answers anything ---------------------------------------


def whole_hours_inside(start: datetime, end: datetime) -> int:
    """Whole UTC hours h with start < h < end."""
    first = start.replace(minute=0, second=0, microsecond=0) + HOUR
    return max(0, -((first - end) // HOUR))  # ceil((end - first) / HOUR)


#: The hours the fake holds data for: every range planner_cases() draws lies within them.
FIRST_HOUR = (NOW - timedelta(days=331)).replace(minute=0, second=0, microsecond=0)
FAKE_HOURS = (NOW + timedelta(days=121) - FIRST_HOUR) // HOUR


@dataclass(frozen=True)
class FakeLangdock:
    """Answers every UTC range the same way each time: rows from a seeded per-hour density.

    A range above ``row_limit`` rows is refused as too large, with its true numbers or, for a share
    of ranges, arbitrary ones (row_limit in 1..2,000,000, row_count above it up to 10**9); ``chaos``
    refuses a share of ranges whatever their rows. No rows: "No data found".
    """

    seed: int
    row_limit: int
    rows_per_hour: float
    empty_share: float
    burst_share: float
    honest_share: float
    chaos: float

    @cached_property
    def _density(self) -> tuple[list[float], list[float]]:
        rng = random.Random(self.seed)
        mean = self.rows_per_hour
        density = [
            0.0
            if rng.random() < self.empty_share
            else rng.uniform(0, 2 * mean) * (10 if rng.random() < self.burst_share else 1)
            for _ in range(FAKE_HOURS)
        ]
        return density, [0.0, *accumulate(density)]

    def rows(self, start: datetime, end: datetime) -> int:
        density, cumulative = self._density

        def before(moment: datetime) -> float:
            hour, rest = divmod(moment - FIRST_HOUR, HOUR)
            return cumulative[hour] + density[hour] * (rest / HOUR) if rest else cumulative[hour]

        return round(before(end) - before(start))

    def answer(self, start: datetime, end: datetime) -> tuple[str, int, int]:
        rng = random.Random(f"{self.seed}|{start.isoformat()}|{end.isoformat()}")
        rows = self.rows(start, end)
        if rows > self.row_limit or rng.random() < self.chaos:
            if rows > self.row_limit and rng.random() < self.honest_share:
                return "too_large", rows, self.row_limit
            limit = rng.randint(1, 2_000_000)
            return "too_large", rng.randint(limit + 1, 10**9), limit
        if rows == 0:
            return "no_data", 0, 0
        return "ok", rows, 0


@st.composite
def planner_cases(draw: st.DrawFn) -> tuple[datetime, datetime, FakeLangdock]:
    """Aware UTC ranges in the last ~11 months (1 minute to 120 days, on or off whole hours) and a
    fake whose rows for the range are about ``load`` times its row limit (at most ``peak`` times the
    limit per hour, on average)."""
    back = draw(st.integers(0, 330 * 86400) | st.integers(0, 330 * 24).map(lambda hours: hours * 3600))
    hours = draw(st.integers(0, 120 * 24))
    length = max(60, hours * 3600 + draw(st.just(0) | st.integers(0, 3599)))
    start = NOW - timedelta(seconds=back)
    end = start + timedelta(seconds=length)
    row_limit = draw(st.sampled_from([1_000_000, 10_000]) | st.integers(1, 2_000_000))
    load = draw(st.sampled_from([5.0, 5.0, 0.5, 50.0, 50.0, 400.0, 5000.0]))
    empty_share = draw(st.sampled_from([0.0, 0.0, 0.0, 0.5, 0.5, 0.95, 1.0]))
    # most often no hour alone is above the limit; sometimes many are
    peak = draw(st.sampled_from([0.2, 0.2, 0.2, 3.0]))
    langdock = FakeLangdock(
        seed=draw(st.integers(0, 2**32)),
        row_limit=row_limit,
        rows_per_hour=row_limit * min(load / (length / 3600) / max(1 - empty_share, 0.05), peak),
        empty_share=empty_share,
        burst_share=draw(st.sampled_from([0.0, 0.0, 0.01, 0.1])),
        honest_share=draw(st.sampled_from([1.0, 1.0, 0.7, 0.0])),
        chaos=draw(st.sampled_from([0.0, 0.0, 0.01, 0.1])),
    )
    return start, end, langdock


def part_result(rows: int) -> ExportResult:
    return ExportResult(
        download_url="https://storage.example/f.csv?X-Amz-Signature=x",
        file_path="f.csv",
        data_type="users",
        record_count=rows,
        date_range={"from": "2026-10-01T00:00:00.000Z", "to": "2026-10-02T00:00:00.000Z"},
    )


@dataclass
class Session:
    """One run of the planner against a fake: what was sent and answered."""

    sent: list[ExportRequest]
    #: Answers to the requests that were not split, by UTC range: ("ok", rows) or ("no_data", 0).
    leaves: dict[tuple[datetime, datetime], tuple[str, int]]


def check_refusal(
    error: LangdockExportTooLargeError, answered: tuple[int, int], inside: int, ranges_made: int
) -> None:
    """A split is refused only when the range lies within one hour or the plan would grow too big."""
    assert (error.row_count, error.row_limit) == answered
    assert inside == 0 or ranges_made + inside + 1 > planning.MAX_PARTS


def run_planner(request: ExportRequest, langdock: FakeLangdock, session: Session) -> ExportPlan:
    planner = ExportPlanner(request)
    ranges_made = 1
    while (part := planner.next_request()) is not None:
        session.sent.append(part)
        assert len(session.sent) <= planning.MAX_PARTS
        start, end = part.utc_range()
        assert start < end
        outcome, count, limit = langdock.answer(start, end)
        if outcome == "too_large":
            inside = whole_hours_inside(start, end)
            try:
                pieces = planner.too_large(count, limit)
            except LangdockExportTooLargeError as error:
                check_refusal(error, (count, limit), inside, ranges_made)
                raise
            assert 2 <= len(pieces) <= min(inside + 1, planning.MAX_PARTS)
            edges = [piece.utc_range() for piece in pieces]
            assert edges[0][0] == start
            assert edges[-1][1] == end
            for (_, previous_end), (following_start, _) in pairwise(edges):
                assert previous_end == following_start
                assert previous_end.minute == previous_end.second == previous_end.microsecond == 0
            assert all(first < last for first, last in edges)
            ranges_made += len(pieces)
        elif outcome == "no_data":
            session.leaves[(start, end)] = ("no_data", 0)
            planner.no_data(LangdockNoDataError("No data found"))  # raises for the original request
        else:
            session.leaves[(start, end)] = ("ok", count)
            planner.succeeded(part_result(count))
    return planner.plan()


def _bucket(count: int) -> str:
    return "1" if count == 1 else "2-9" if count < 10 else "10-99" if count < 100 else "100+"


@given(case=planner_cases(), zone=st.sampled_from(ZONES))
def test_planner_covers_the_range_exactly_or_fails_cleanly(
    case: tuple[datetime, datetime, FakeLangdock], zone: str
) -> None:
    start, end, langdock = case
    request = ExportRequest.build("users", start, end, zone, now=NOW)
    whole = request.utc_range()
    assert whole == (start, end)  # aware input keeps its instants
    session = Session(sent=[], leaves={})
    try:
        plan = run_planner(request, langdock, session)
    except LangdockExportTooLargeError:
        event("refused as too large", payload=_bucket(len(session.sent)))
        assert session.sent[0] == request
        return
    except LangdockNoDataError:
        event("no data anywhere", payload=_bucket(len(session.sent)))
        assert session.leaves
        assert all(outcome == "no_data" for outcome, _ in session.leaves.values())
        return

    event("planned", payload=_bucket(len(plan.parts)))
    assert session.sent[0] == request  # the first request is always the original one
    assert len(session.sent) <= planning.MAX_PARTS
    assert len(plan.parts) <= planning.MAX_PARTS
    edges = [part.request.utc_range() for part in plan.parts]
    assert edges[0][0] == whole[0]
    assert edges[-1][1] == whole[1]
    assert all(first < last for first, last in edges)
    assert all(previous[1] == following[0] for previous, following in pairwise(edges))
    # every part is a range Langdock answered, with its answer
    assert set(edges) == set(session.leaves)
    for part, edge in zip(plan.parts, edges, strict=True):
        outcome, rows = session.leaves[edge]
        assert (part.result is None) == (outcome == "no_data")
        assert part.record_count == rows
    assert any(outcome == "ok" for outcome, _ in session.leaves.values())
    assert plan.is_split == (len(session.sent) > 1)
    if not plan.is_split:
        assert plan.parts[0].request == request


# -- c. Dates across DST changes: build, to_dict/from_dict, utc_range/for_utc_range, body ---------------

#: Inside the 12-month history window before NOW in every zone, with some days to spare.
WINDOW_START = NOW - timedelta(days=360)
WINDOW_SECONDS = int((NOW - WINDOW_START).total_seconds())


def _transitions(zone: str) -> list[datetime]:
    """UTC instants in the window at which the zone's UTC offset changes (all on whole hours)."""
    tz, found = ZoneInfo(zone), []
    moment = WINDOW_START + timedelta(days=1)
    previous = moment.astimezone(tz).utcoffset()
    while moment < NOW - timedelta(days=1):
        moment += HOUR
        offset = moment.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(moment)
            previous = offset
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}
assert all(len(TRANSITIONS[zone]) == 2 for zone in DST_ZONES), TRANSITIONS  # tz data present
assert not TRANSITIONS["UTC"]


def instants(zone: str) -> st.SearchStrategy[datetime]:
    """Aware UTC instants in the window, most of them within three hours of a DST change of ``zone``."""
    micro = st.just(0) | st.integers(0, 999_999)
    anywhere = st.builds(
        lambda seconds, us: WINDOW_START + timedelta(seconds=seconds, microseconds=us),
        st.integers(0, WINDOW_SECONDS - 86400),
        micro,
    )
    if not TRANSITIONS[zone]:
        return anywhere
    near = st.builds(
        lambda change, seconds, us: change + timedelta(seconds=seconds, microseconds=us),
        st.sampled_from(TRANSITIONS[zone]),
        st.integers(-3 * 3600, 3 * 3600),
        micro,
    )
    return near | near | anywhere


def wall(instant: datetime, zone: str) -> datetime:
    """Wall time of an instant in ``zone``, naive, fold kept (1: the second pass of a repeated hour)."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def in_gap(wall_time: datetime, zone: str) -> bool:
    """True for a wall time skipped by a spring-forward change (it never happens on the clock)."""
    tz = ZoneInfo(zone)
    # through UTC: astimezone() into a datetime's own zone changes nothing
    instant = wall_time.replace(tzinfo=tz, fold=0).astimezone(UTC)
    return wall(instant, zone).replace(fold=0) != wall_time.replace(fold=0)


def second_pass(wall_time: datetime, zone: str) -> bool:
    """True for a wall time of the second pass of a repeated hour (fold=1 in an ambiguous hour)."""
    tz = ZoneInfo(zone)
    ambiguous = (
        wall_time.replace(tzinfo=tz, fold=0).utcoffset() != wall_time.replace(tzinfo=tz, fold=1).utcoffset()
    )
    return ambiguous and not in_gap(wall_time, zone) and wall_time.fold == 1


def _kind(wall_time: datetime, zone: str) -> str:
    if in_gap(wall_time, zone):
        return "in a DST gap"
    if second_pass(wall_time, zone):
        return "second pass of a repeated hour"
    tz = ZoneInfo(zone)
    if wall_time.replace(tzinfo=tz, fold=0).utcoffset() != wall_time.replace(tzinfo=tz, fold=1).utcoffset():
        return "first pass of a repeated hour"
    return "plain"


def to_millisecond(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000, fold=0)


def is_repeated(wall_time: datetime, zone: str) -> bool:
    """True for a wall time the zone shows twice (either pass of the hour repeated when clocks go back)."""
    return _kind(wall_time, zone).endswith("pass of a repeated hour")


def expected_request(wall_from: datetime, wall_to: datetime, zone: str) -> tuple[datetime, datetime, str]:
    """Dates and zone a request of these existing wall times holds: as given, or in UTC when either
    lies in a repeated hour (where a wall time and a zone name do not tell the instant)."""
    if not (is_repeated(wall_from, zone) or is_repeated(wall_to, zone)):
        return wall_from, wall_to, zone
    tz = ZoneInfo(zone)
    in_utc = [value.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None) for value in (wall_from, wall_to)]
    return in_utc[0], in_utc[1], "UTC"


def check_round_trips(request: ExportRequest, zone: str) -> None:
    """The properties every built request has, whatever its dates (``zone``: the one asked for)."""
    start, end = request.utc_range()
    assert start < end
    # utc_range -> for_utc_range -> utc_range is the identity, from UTC or from zone-aware instants
    in_utc = request.for_utc_range(start, end)
    assert in_utc.utc_range() == (start, end)
    assert in_utc.timezone == "UTC"
    assert (in_utc.data_type, in_utc.group_by) == (request.data_type, request.group_by)
    local_start, local_end = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    assert request.for_utc_range(local_start, local_end) == in_utc
    assert ExportRequest.from_dict(in_utc.to_dict()) == in_utc
    # to_dict -> (JSON) -> from_dict gives an equal request, of the same instants
    plain = request.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    restored = ExportRequest.from_dict(json.loads(json.dumps(plain)))
    assert restored == request
    assert restored.utc_range() == (start, end)
    # the body holds the wall times (to the millisecond) in the request's zone
    body = request.body()
    assert body["from"]["timezone"] == body["to"]["timezone"] == request.timezone
    assert datetime.strptime(body["from"]["date"], WALL_TIME_FORMAT) == to_millisecond(request.date_from)
    assert datetime.strptime(body["to"]["date"], WALL_TIME_FORMAT) == to_millisecond(request.date_to)
    # ... and tell the instants: read as wall times in that zone, they are the range
    body_zone = ZoneInfo(body["from"]["timezone"])
    body_range = [
        datetime.strptime(body[side]["date"], WALL_TIME_FORMAT).replace(tzinfo=body_zone).astimezone(UTC)
        for side in ("from", "to")
    ]
    assert body_range == [to_millisecond(start), to_millisecond(end)]


@st.composite
def naive_ranges(draw: st.DrawFn, zone: str) -> tuple[datetime, datetime]:
    """Naive wall times around DST changes of ``zone``: in gaps, repeated hours and next to them."""
    changes = [
        (wall(change - timedelta(microseconds=1), zone), wall(change, zone)) for change in TRANSITIONS[zone]
    ]
    if changes and draw(st.booleans()):
        # inside the skipped or repeated hour of a change: between the wall times just before and at it
        before, after = draw(st.sampled_from(changes))
        low, high = sorted([before.replace(fold=0) + timedelta(microseconds=1), after.replace(fold=0)])
        first = low + timedelta(seconds=draw(st.integers(0, int((high - low).total_seconds()) - 1)))
    else:
        first = wall(draw(instants(zone)), zone).replace(fold=0)
        first += timedelta(seconds=draw(st.integers(-5400, 5400)))
    if draw(st.booleans()):
        second = first + timedelta(
            seconds=draw(st.integers(1, 8 * 3600)), microseconds=draw(st.integers(0, 999))
        )
    else:
        second = wall(draw(instants(zone)), zone).replace(fold=0)
    return first, second


@given(data=st.data(), zone=st.sampled_from(ZONES), as_text=st.booleans())
def test_naive_wall_times_round_trip_across_dst(data: st.DataObject, zone: str, as_text: bool) -> None:
    date_from, date_to = sorted(data.draw(naive_ranges(zone), label="wall times"))
    assume(date_from < date_to)
    given_from, given_to = (date_from.isoformat(), date_to.isoformat()) if as_text else (date_from, date_to)
    event("date_from", payload=_kind(date_from, zone))
    event("date_to", payload=_kind(date_to, zone))
    if in_gap(date_from, zone) or in_gap(date_to, zone):
        # a wall time the clocks skip names no instant: refused
        with pytest.raises(LangdockInputError, match="does not exist"):
            ExportRequest.build("users", given_from, given_to, zone, "model", now=NOW)
        return
    request = ExportRequest.build("users", given_from, given_to, zone, "model", now=NOW)
    # naive dates are wall times in the zone (the first pass of a repeated hour), kept as given
    # unless one lies in a repeated hour: then the request is in UTC
    expected = expected_request(date_from, date_to, zone)
    assert (request.date_from, request.date_to, request.timezone) == expected
    tz = ZoneInfo(zone)
    assert request.utc_range() == (
        date_from.replace(tzinfo=tz, fold=0).astimezone(UTC),
        date_to.replace(tzinfo=tz, fold=0).astimezone(UTC),
    )
    check_round_trips(request, zone)


def express(instant: datetime, zone: str, how: str) -> datetime | str:
    """The same instant as a UTC datetime, a datetime in ``zone``, a fixed offset, or ISO text."""
    if how == "utc":
        return instant
    local = instant.astimezone(ZoneInfo(zone))
    if how == "zone":
        return local
    fixed = instant.astimezone(timezone(local.utcoffset() or timedelta(0)))
    return fixed if how == "offset" else fixed.isoformat()


@given(
    data=st.data(),
    zone=st.sampled_from(ZONES),
    how=st.tuples(*[st.sampled_from(["utc", "zone", "offset", "text"])] * 2),
)
def test_aware_datetimes_round_trip_across_dst(data: st.DataObject, zone: str, how: tuple[str, str]) -> None:
    first = data.draw(instants(zone), label="date_from")
    second = data.draw(
        st.integers(1, 8 * 3600).map(lambda seconds: first + timedelta(seconds=seconds)) | instants(zone),
        label="date_to",
    )
    first, second = sorted((first, second))
    assume(first < second)
    wall_from, wall_to = wall(first, zone), wall(second, zone)
    event("date_from", payload=_kind(wall_from, zone))
    event("date_to", payload=_kind(wall_to, zone))
    request = ExportRequest.build(
        "users", express(first, zone, how[0]), express(second, zone, how[1]), zone, now=NOW
    )
    # aware dates become wall times in the zone (in UTC when one lies in a repeated hour) and keep
    # their instants
    assert (request.date_from, request.date_to, request.timezone) == expected_request(
        wall_from, wall_to, zone
    )
    assert request.utc_range() == (first, second)
    check_round_trips(request, zone)


BERLIN = "Europe/Berlin"


def test_a_date_in_the_repeated_hour_survives_to_dict() -> None:
    # 01:30 UTC on 2026-10-25 is 02:30 CET, the second 02:30 of that night in Berlin
    request = ExportRequest.build(
        "users",
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 3, tzinfo=UTC),
        BERLIN,
        now=NOW,
    )
    assert request.utc_range()[0] == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert ExportRequest.from_dict(request.to_dict()).utc_range() == request.utc_range()


def test_a_wall_time_range_starting_in_a_dst_gap_is_not_inverted() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin (02:00 -> 03:00); refusing it would do as well
    try:
        request = ExportRequest.build(
            "users", datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 3, 10), BERLIN, now=NOW
        )
    except LangdockInputError:
        return
    start, end = request.utc_range()
    assert start < end


def test_ordered_instants_in_a_repeated_hour_build() -> None:
    start, end = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    request = ExportRequest.build("users", start, end, BERLIN, now=NOW)  # 02:30 CEST to 02:15 CET
    assert request.utc_range() == (start, end)


def test_for_utc_range_takes_zone_aware_instants_across_a_repeated_hour() -> None:
    request = ExportRequest.build("users", datetime(2026, 10, 24), datetime(2026, 10, 26), BERLIN, now=NOW)
    tz = ZoneInfo(BERLIN)
    start = datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC)  # 02:59:59 CEST, first pass
    end = datetime(2026, 10, 25, 1, tzinfo=UTC)  # 02:00 CET, second pass, one second later
    part = request.for_utc_range(start.astimezone(tz), end.astimezone(tz))
    assert part.utc_range() == (start, end)
