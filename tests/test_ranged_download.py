"""Downloads over several connections in byte ranges, against the simulator and a hostile storage host.

Whatever the host does, the bytes are the file's, in order: a range not served exactly as asked is never
spliced in (the rest of the file comes over one connection, where the usual checks apply), a changed
file is refused, no thread outlives a download, the ranges held in memory stay bounded, and no URL
signature reaches a log line or an error.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_langdock.api import ExportRequest
from airflow_provider_langdock.connection import MAX_DOWNLOAD_CONNECTIONS, MIN_RANGE_SIZE, RangePolicy
from airflow_provider_langdock.destinations import LocalDestination
from airflow_provider_langdock.download import FileDownload
from airflow_provider_langdock.exceptions import (
    LangdockDownloadError,
    LangdockInputError,
    LangdockVerificationError,
)
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.transfer import land_plan
from tests.conftest import HOSTILE_KEY, set_langdock_default
from tests.hostile import HostileServer, send

KIB = 1024
MIB = 1024 * KIB
RANGE = MIN_RANGE_SIZE
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
DATA = random.Random(11).randbytes(MIB)
SIGNATURE = "deadbeefcafe0123456789"
_RANGE_HEADER = re.compile(r"bytes=(\d+)-(\d*)")
#: Threads of the servers under test (they come and go with connections), not of the download.
_SERVER_THREADS = ("process_request_thread", "serve_forever", "langdock-simulator")

Fault = Callable[[BaseHTTPRequestHandler, int, int], bool]


def range_threads() -> list[threading.Thread]:
    """The threads of a parallel range download."""
    return [t for t in threading.enumerate() if t.name.startswith("langdock-range")]


def download_threads() -> set[threading.Thread]:
    """The threads of this process apart from the test servers' own."""
    return {t for t in threading.enumerate() if not any(name in t.name for name in _SERVER_THREADS)}


@pytest.fixture(autouse=True)
def _no_thread_outlives_a_download(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test ends with the threads it started with, and logs no URL signature."""
    caplog.set_level(logging.DEBUG)
    before = download_threads()
    yield
    assert download_threads() == before
    assert SIGNATURE not in caplog.text


def ranged_hook(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    key: str,
    connections: int = 4,
    range_size: int = RANGE,
    **extra: Any,
) -> LangdockHook:
    """A hook whose connection downloads over ``connections`` connections (settings read at once)."""
    extra = {"max_retry_wait": 0, **extra}
    set_langdock_default(
        monkeypatch, host, key, download_connections=connections, download_range_size=range_size, **extra
    )
    hook = LangdockHook()
    assert hook.settings.ranges == RangePolicy(connections, range_size)
    return hook


# -- the simulator: real HTTP on 127.0.0.1 ------------------------------------------------------------


def export(hook: LangdockHook, simulator: LangdockSimulator, rows_per_day: int = 13_000) -> tuple[str, bytes]:
    """A day of users rows (about 6.5 MB at 13,000 rows): its signed URL and its expected bytes."""
    simulator.rows_per_day = rows_per_day
    end = DAY0 + timedelta(days=1)
    return hook.export_usage("users", DAY0, end).download_url, simulator.csv_bytes("users", DAY0, end)


def download_ranges(simulator: LangdockSimulator) -> list[str | None]:
    """The Range headers of the download requests, in arrival order."""
    return [r.headers.get("Range") for r in simulator.requests if r.server == "download"]


def closed_ranges(ranges: list[str | None]) -> list[tuple[int, int]]:
    """The closed ranges (``bytes=a-b``) among ``ranges``, as (first, last), in file order."""
    spans = [_RANGE_HEADER.fullmatch(r) for r in ranges if r]
    return sorted((int(m[1]), int(m[2])) for m in spans if m and m[2])


def assert_tiles(spans: list[tuple[int, int]], start: int, size: int) -> None:
    """``spans`` cover bytes ``start`` to ``size - 1`` exactly once."""
    assert spans[0][0] == start
    assert spans[-1][1] == size - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))


def test_ranges_give_the_same_bytes_as_one_connection(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ranged_hook(monkeypatch, simulator.base_url, "test-key", connections=4, range_size=256 * KIB)
    url, expected = export(hook, simulator)
    simulator.clear_requests()

    data = b"".join(hook.iter_download(url, chunk_size=100_000))

    assert data == expected
    ranges = download_ranges(simulator)
    assert ranges[0] is None  # the first answer tells the size, the ETag and Accept-Ranges
    spans = closed_ranges(ranges)
    assert len(spans) == len(ranges) - 1 == -(-(len(expected) - 256 * KIB) // (256 * KIB))
    assert_tiles(spans, 256 * KIB, len(expected))  # the first answer's first range, then the rest
    etag = '"' + urlsplit(url).path.rsplit("/", 1)[1] + '"'  # the simulator's ETag is the file's id
    assert {r.headers.get("If-Range") for r in simulator.requests if r.headers.get("Range")} == {etag}
    sequential = ranged_hook(monkeypatch, simulator.base_url, "test-key", connections=1)
    assert b"".join(sequential.iter_download(url)) == data


@pytest.mark.parametrize(
    ("accept_ranges", "rows_per_day"),
    [(False, 13_000), (True, 100)],
    ids=["ranges-not-advertised", "small-file"],
)
def test_one_connection_without_range_support_or_for_a_small_file(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, accept_ranges: bool, rows_per_day: int
) -> None:
    hook = ranged_hook(monkeypatch, simulator.base_url, "test-key")
    url, expected = export(hook, simulator, rows_per_day)
    simulator.accept_ranges = accept_ranges
    simulator.clear_requests()
    assert b"".join(hook.iter_download(url)) == expected
    assert download_ranges(simulator) == [None]


def test_a_range_cut_short_is_fetched_again_not_spliced(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = ranged_hook(monkeypatch, simulator.base_url, "test-key", range_size=128 * KIB)
    url, expected = export(hook, simulator)
    simulator.clear_requests()
    simulator.inject_download(delay=0.01)  # the first request, for the whole file, is answered as usual
    simulator.inject_download(truncate_after=1000)  # then one range breaks off after 1000 bytes

    assert b"".join(hook.iter_download(url)) == expected

    spans = closed_ranges(download_ranges(simulator))
    assert len(spans) == len(set(spans)) + 1  # one range asked for twice
    assert_tiles(sorted(set(spans)), 128 * KIB, len(expected))
    assert re.search(r"bytes \d+-\d+ of \S+ broke off \(ChunkedEncodingError\); asking again", caplog.text)


def test_a_refused_range_leads_to_one_fresh_export_for_all_ranges(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = ranged_hook(monkeypatch, simulator.base_url, "test-key", connections=2)
    simulator.rows_per_day = 13_000
    request = ExportRequest.build("users", DAY0, DAY0 + timedelta(days=1))
    url = hook.run_export(request).download_url
    fresh: list[str] = []

    def refresh() -> str:
        fresh.append(hook.run_export(request).download_url)
        return fresh[-1]

    download = FileDownload(
        url,
        opener=hook.open_download,
        retry=hook.settings.retry,
        chunk_size=RANGE,
        refresh=refresh,
        deadline=hook.settings.transfer_deadline,
        ranges=hook.settings.ranges,
    )
    chunks = iter(download)
    first = next(chunks)
    simulator.expire_download_urls()  # the URL expires while the ranges are being fetched
    data = first + b"".join(chunks)

    assert data == simulator.csv_bytes("users", DAY0, DAY0 + timedelta(days=1))
    assert len(fresh) == 1
    assert download.url == fresh[0]
    assert "did not serve" in caplog.text
    assert "403 Forbidden" in caplog.text
    for signed in (url, fresh[0]):
        signature = signed.split("signature=")[1]
        assert signature not in caplog.text


def test_land_plan_with_ranges_lands_the_same_file(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two days of 13,000 rows, cap 10,000: three parts of about 4.4 MB, each in ranges of 128 KiB."""
    simulator.rows_per_day, simulator.row_cap = 13_000, 10_000
    sequential_hook = ranged_hook(monkeypatch, simulator.base_url, "test-key", connections=1)
    hook = ranged_hook(monkeypatch, simulator.base_url, "test-key", connections=3, range_size=128 * KIB)
    plan = hook.plan_export(ExportRequest.build("users", DAY0, DAY0 + timedelta(days=2)))
    assert len(plan.parts) == 3
    simulator.clear_requests()

    landing = land_plan(hook, plan, LocalDestination(tmp_path / "ranges.csv"))
    spans = closed_ranges(download_ranges(simulator))
    baseline = land_plan(sequential_hook, plan, LocalDestination(tmp_path / "sequential.csv"))

    assert (tmp_path / "ranges.csv").read_bytes() == (tmp_path / "sequential.csv").read_bytes()
    assert {**landing.to_dict(), "destination": None} == {**baseline.to_dict(), "destination": None}
    assert landing.bytes == baseline.bytes
    assert landing.plan.record_count == 26_000
    assert len(spans) > 3 * 30


def test_memory_stays_bounded_when_the_reader_is_slow(
    simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader slower than the connections: at most connections + 1 ranges are held, not the file.

    Besides those ranges, about 1 MiB goes to reads under way, log records and the simulator itself.
    """
    connections, range_size = 2, 256 * KIB
    bound = (connections + 1) * range_size + 2 * MIB
    hook = ranged_hook(monkeypatch, simulator.base_url, "test-key", connections, range_size)
    url, expected = export(hook, simulator, rows_per_day=26_000)
    received = 0
    tracemalloc.start()
    try:
        for chunk in hook.iter_download(url, chunk_size=64 * KIB):
            received += len(chunk)
            time.sleep(0.002)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == len(expected) > 4 * bound
    assert peak < bound, f"peak {peak / MIB:.1f} MiB"


# -- a hostile storage host -------------------------------------------------------------------------


class StorageFile:
    """Serves ``data`` like an object store: ETag, ``Range`` (open or closed) and ``If-Range``.

    ``honour=False`` answers every request with the whole file (200) while still advertising ranges;
    ``if_range=False`` serves ranges whatever ``If-Range`` says; ``fault(handler, first, last)`` may
    answer a closed range itself (True) instead. ``delay`` waits before each answer; ``max_parallel``
    is the most closed ranges served at once.
    """

    def __init__(
        self,
        data: bytes,
        *,
        honour: bool = True,
        if_range: bool = True,
        delay: float = 0.0,
        fault: Fault | None = None,
    ) -> None:
        self.data = data
        self.etag = '"v1"'
        self.honour = honour
        self.if_range = if_range
        self.delay = delay
        self.fault = fault
        self.max_parallel = 0
        self._parallel = 0
        self._lock = threading.Lock()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        match = _RANGE_HEADER.fullmatch(handler.headers.get("Range", ""))
        closed = bool(match and match[2])
        with self._lock:
            self._parallel += closed
            self.max_parallel = max(self.max_parallel, self._parallel)
        try:
            time.sleep(self.delay)
            self._answer(handler, match, closed)
        finally:
            with self._lock:
                self._parallel -= closed

    def _answer(self, handler: BaseHTTPRequestHandler, match: re.Match[str] | None, closed: bool) -> None:
        headers = {"ETag": self.etag, "Accept-Ranges": "bytes"}
        if_range = handler.headers.get("If-Range")
        changed = self.if_range and if_range is not None and if_range != self.etag
        if match is None or not self.honour or changed:
            send(handler, 200, self.data, headers)
            return
        first = int(match[1])
        last = min(int(match[2]), len(self.data) - 1) if closed else len(self.data) - 1
        if closed and self.fault is not None and self.fault(handler, first, last):
            return
        headers["Content-Range"] = f"bytes {first}-{last}/{len(self.data)}"
        send(handler, 206, self.data[first : last + 1], headers)


def signed_url(hostile: HostileServer, path: str = "/file.csv") -> str:
    return hostile.url(f"{path}?X-Amz-Signature={SIGNATURE}&X-Amz-Expires=600")


def storage_hook(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, storage: StorageFile, **extra: Any
) -> LangdockHook:
    hostile.route("GET", "/file.csv", storage)
    return ranged_hook(monkeypatch, hostile.base_url, HOSTILE_KEY, **extra)


def range_headers(hostile: HostileServer) -> list[str | None]:
    return [r.headers.get("Range") for r in hostile.received("/file.csv")]


def test_ranges_overlap_and_name_the_file(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = StorageFile(DATA, delay=0.05)
    hook = storage_hook(hostile, monkeypatch, storage, connections=4)

    assert b"".join(hook.iter_download(signed_url(hostile))) == DATA

    requests = hostile.received("/file.csv")
    assert_tiles(closed_ranges(range_headers(hostile)), RANGE, len(DATA))
    assert {r.headers.get("If-Range") for r in requests[1:]} == {'"v1"'}
    assert storage.max_parallel >= 2
    for request in requests:
        assert not {"authorization", "proxy-authorization", "cookie"} & {h.lower() for h in request.headers}


def test_ranges_answered_with_the_whole_file_fall_back_to_one_connection(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The host advertises ranges but sends the whole file (200) every time: nothing is duplicated."""
    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA, honour=False))

    assert b"".join(hook.iter_download(signed_url(hostile))) == DATA

    ranges = range_headers(hostile)
    assert ranges[0] is None
    assert closed_ranges(ranges)
    assert ranges[-1] == f"bytes={RANGE}-"  # from where the reader stood, over one connection
    assert "answered 200 instead of 206" in caplog.text
    assert "downloading the rest from byte 65536 over one connection" in caplog.text


def _shifted(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
    """The next range's bytes under a Content-Range saying so."""
    body = DATA[first + 1 : last + 2]
    send(handler, 206, body, {"Content-Range": f"bytes {first + 1}-{first + len(body)}/{len(DATA)}"})
    return True


def _other_total(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
    send(handler, 206, DATA[first : last + 1], {"Content-Range": f"bytes {first}-{last}/{len(DATA) + 1}"})
    return True


def _one_byte_more(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
    send(handler, 206, DATA[first : last + 2], {"Content-Range": f"bytes {first}-{last}/{len(DATA)}"})
    return True


def _unusable(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
    send(handler, 206, DATA[first : last + 1], {"Content-Range": f"bytes */{len(DATA)}"})
    return True


def _other_etag(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
    """The right bytes, said to be of another file: the host ignored If-Range."""
    headers = {"Content-Range": f"bytes {first}-{last}/{len(DATA)}", "ETag": '"v2"'}
    send(handler, 206, DATA[first : last + 1], headers)
    return True


@pytest.mark.parametrize("fault", [_shifted, _other_total, _one_byte_more, _unusable, _other_etag])
def test_a_range_with_other_bytes_than_asked_is_never_spliced(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fault: Fault
) -> None:
    """Closed ranges come back wrong; the open-ended resume over one connection is answered right."""
    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA, fault=fault))

    assert b"".join(hook.iter_download(signed_url(hostile))) == DATA

    assert range_headers(hostile)[-1] == f"bytes={RANGE}-"
    assert "did not serve" in caplog.text


def start_partial_answer(handler: BaseHTTPRequestHandler, first: int, last: int) -> None:
    """Status and headers of a 206 answer with bytes ``first``-``last`` of DATA; the caller sends the body."""
    handler.send_response(206)
    handler.send_header("Content-Range", f"bytes {first}-{last}/{len(DATA)}")
    handler.send_header("Content-Length", str(last - first + 1))
    handler.end_headers()


def test_a_range_cut_short_by_the_host_is_asked_for_again(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut: list[int] = []

    def cut_once(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
        if cut:
            return False
        cut.append(first)
        start_partial_answer(handler, first, last)
        handler.wfile.write(DATA[first : first + 100])
        handler.close_connection = True
        return True

    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA, fault=cut_once), max_attempts=2)

    assert b"".join(hook.iter_download(signed_url(hostile))) == DATA

    spans = closed_ranges(range_headers(hostile))
    assert [span for span in spans if spans.count(span) == 2] == [(cut[0], cut[0] + RANGE - 1)] * 2


def test_a_range_that_keeps_breaking_off_fails_the_download(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_short(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
        start_partial_answer(handler, first, last)
        handler.wfile.write(DATA[first : first + 10])
        handler.close_connection = True
        return True

    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA, fault=always_short), max_attempts=2)
    with pytest.raises(
        LangdockDownloadError, match=r"bytes \d+-\d+ of .* gave up after 2 attempts"
    ) as caught:
        b"".join(hook.iter_download(signed_url(hostile)))
    assert SIGNATURE not in str(caught.value)
    assert "X-Amz-Signature=***" in str(caught.value)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (bytes(255 - b for b in DATA), "does not start with the 65536 bytes already streamed"),
        (DATA + b"x", "changed size between attempts"),
    ],
    ids=["other-bytes", "other-size"],
)
def test_a_file_changed_between_ranges_is_refused(
    hostile: HostileServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    changed: bytes,
    message: str,
) -> None:
    """After the first answer the file is replaced: If-Range no longer matches, so ranges come as 200."""
    storage = StorageFile(changed)
    storage.etag = '"v2"'
    first: list[BaseHTTPRequestHandler] = []

    def changed_after_the_first_answer(handler: BaseHTTPRequestHandler) -> None:
        if first:
            storage(handler)
            return
        first.append(handler)  # the file was replaced as this answer went out
        send(handler, 200, DATA, {"ETag": '"v1"', "Accept-Ranges": "bytes"})

    hostile.route("GET", "/file.csv", changed_after_the_first_answer)
    hook = ranged_hook(monkeypatch, hostile.base_url, HOSTILE_KEY)

    with pytest.raises(LangdockVerificationError, match=message) as caught:
        b"".join(hook.iter_download(signed_url(hostile)))

    assert SIGNATURE not in str(caught.value)
    assert "answered 200 instead of 206" in caplog.text
    assert range_headers(hostile)[-1] == f"bytes={RANGE}-"  # If-Range "v1" no longer matches: a 200


def test_a_host_ignoring_if_range_cannot_splice_a_changed_file(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The file changes after the first answer; the host serves ranges of the new one all the same."""
    storage = StorageFile(bytes(255 - b for b in DATA), if_range=False)
    storage.etag = '"v2"'
    first: list[BaseHTTPRequestHandler] = []

    def changed_after_the_first_answer(handler: BaseHTTPRequestHandler) -> None:
        if first:
            storage(handler)
            return
        first.append(handler)
        send(handler, 200, DATA, {"ETag": '"v1"', "Accept-Ranges": "bytes"})

    hostile.route("GET", "/file.csv", changed_after_the_first_answer)
    hook = ranged_hook(monkeypatch, hostile.base_url, HOSTILE_KEY)

    with pytest.raises(LangdockVerificationError, match="""changed between attempts .*'"v1"' -> '"v2"'"""):
        b"".join(hook.iter_download(signed_url(hostile)))

    assert """of a file named '"v2"', not '"v1"'""" in caplog.text
    assert range_headers(hostile)[-1] == f"bytes={RANGE}-"


def test_a_trickling_range_is_cut_at_the_deadline(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    trickled: list[int] = []

    def trickle_once(handler: BaseHTTPRequestHandler, first: int, last: int) -> bool:
        if trickled:
            return False
        trickled.append(first)
        start_partial_answer(handler, first, last)
        for offset in range(first, last + 1):
            handler.wfile.write(DATA[offset : offset + 1])
            handler.wfile.flush()
            time.sleep(0.01)
        return True

    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA, fault=trickle_once), download_timeout=1)
    started = time.monotonic()

    assert b"".join(hook.iter_download(signed_url(hostile))) == DATA

    assert time.monotonic() - started < 5
    assert "did not serve" in caplog.text
    assert range_headers(hostile)[-1] is not None
    assert range_headers(hostile)[-1].endswith("-")


def test_closing_the_download_midway_stops_its_threads(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA, delay=0.2), connections=4)
    chunks = hook.iter_download(signed_url(hostile), chunk_size=RANGE)
    next(chunks)
    # by name: other tests' server threads may still be ending, so the process's thread count can drop
    assert range_threads()  # the range threads are at work
    started = time.monotonic()
    chunks.close()
    assert time.monotonic() - started < 2
    assert not range_threads()


def test_the_range_headers_of_one_request(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = storage_hook(hostile, monkeypatch, StorageFile(DATA))
    with hook.open_download(signed_url(hostile), start=0, end=9, if_range='"v1"') as response:
        assert response.status_code == 206
        assert response.content == DATA[:10]
    with hook.open_download(signed_url(hostile), start=10, if_range='"v1"') as response:
        assert response.content == DATA[10:]
    with hook.open_download(signed_url(hostile), if_range='"v1"') as response:
        assert response.status_code == 200
    sent = [(r.headers.get("Range"), r.headers.get("If-Range")) for r in hostile.received("/file.csv")]
    assert sent == [("bytes=0-9", '"v1"'), ("bytes=10-", '"v1"'), (None, None)]
    with pytest.raises(ValueError, match="not a byte range"):
        hook.open_download(signed_url(hostile), start=10, end=9)


# -- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"download_connections": 0}, "download_connections' must be a whole number of at least 1"),
        ({"download_connections": MAX_DOWNLOAD_CONNECTIONS + 1}, "at most 8"),
        ({"download_connections": "nan"}, "download_connections"),
        ({"download_connections": 2.5}, "download_connections"),
        ({"download_range_size": 1000}, "at least 65536"),
        ({"download_range_size": 2**40}, "download_range_size must be a whole number of at most"),
        ({"download_range_size": "inf"}, "download_range_size"),
    ],
)
def test_range_settings_are_finite_and_bounded(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], message: str
) -> None:
    set_langdock_default(monkeypatch, "https://api.langdock.com", HOSTILE_KEY, **extra)
    with pytest.raises(LangdockInputError, match=message):
        LangdockHook().settings  # noqa: B018


def test_range_settings_from_the_form_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    set_langdock_default(
        monkeypatch,
        "https://api.langdock.com",
        HOSTILE_KEY,
        download_connections="4",
        download_range_size="1048576",
    )
    assert LangdockHook().settings.ranges == RangePolicy(connections=4, range_size=MIB)
    set_langdock_default(monkeypatch, "https://api.langdock.com", HOSTILE_KEY)
    assert LangdockHook().settings.ranges == RangePolicy()


def test_range_settings_given_to_the_hook_win_over_the_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    set_langdock_default(
        monkeypatch, "https://api.langdock.com", HOSTILE_KEY, download_connections=4, download_range_size=MIB
    )
    hook = LangdockHook(download_connections=2, download_range_size=2 * MIB)
    assert hook.settings.ranges == RangePolicy(connections=2, range_size=2 * MIB)
    with pytest.raises(LangdockInputError, match="download_connections"):
        LangdockHook(download_connections=9).settings  # noqa: B018


@pytest.mark.parametrize(
    ("start", "size"), [(0, 1), (5, 3 * RANGE), (RANGE, 3 * RANGE + 1), (7, 10 * RANGE - 1)]
)
def test_the_ranges_cover_the_rest_of_the_file_once(start: int, size: int) -> None:
    spans = list(RangePolicy(2, RANGE).spans(start, size))
    assert_tiles(spans, start, size)
    assert all(last - first + 1 <= RANGE for first, last in spans)
    assert RangePolicy(2, RANGE).applies_to(2 * RANGE + 1)
    assert not RangePolicy(2, RANGE).applies_to(2 * RANGE)
    assert not RangePolicy(1, RANGE).applies_to(100 * RANGE)
