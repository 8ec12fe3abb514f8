"""Progress of a transfer in the task log: a line at most every 30 s, and at each quarter of the way.

:class:`TransferProgress` is fed by :class:`~airflow_provider_langdock.transfer.PlanStream` as chunks
pass: bytes, data rows and the part being downloaded. Feeding costs a clock read, two additions and a
comparison; a line is formatted only when one is due. The percentage is by bytes when the whole
transfer's byte size is known (a single-file plan whose download announced its size), else by rows
of Langdock's ``recordCount``; the line says which.

A line holds numbers and the part's description only, never a URL: it is given no URL, and any URL
in a description is cut out all the same.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between two progress lines, when no quarter is crossed in between.
PROGRESS_INTERVAL = 30.0
#: The fractions of the way that get a line of their own (the "Landed" line reports 100 %).
QUARTERS = (0.25, 0.5, 0.75)
MIB = 1024 * 1024
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S*|\bwww\.\S*", re.I)


class TransferProgress:
    """Logs a transfer's progress: bytes and rows so far, percentage, MiB/s, time left, part number.

    Call :meth:`start_part` as each part's file begins and :meth:`advance` for every chunk. A line is
    logged when ``interval`` seconds have passed since the last one (or since the start), and once when
    the transfer crosses 25, 50 or 75 % (several quarters crossed by one chunk make one line); none at
    100 %, which the "Landed" line reports.
    """

    def __init__(
        self,
        *,
        total_rows: int,
        parts: int,
        interval: float = PROGRESS_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_rows = total_rows
        self.parts = parts
        self.interval = interval
        self._monotonic = monotonic
        self.started = monotonic()
        #: Bytes downloaded so far, over all parts.
        self.bytes = 0
        #: Data rows so far, over all parts.
        self.rows = 0
        #: The number (from 1) of the part being downloaded, and its description.
        self.part = 0
        self.description = ""
        #: The whole transfer's byte size, when known (a single part whose size was announced).
        self.total_bytes: int | None = None
        #: Lines logged so far.
        self.lines = 0
        self._due = self.started + interval
        self._next_mark = QUARTERS[0]  # the next quarter to report (infinity after the last)

    def start_part(self, number: int, description: str = "") -> None:
        """Part ``number`` (from 1, of ``parts``) starts downloading; ``description`` names its range."""
        self.part = number
        self.description = description

    def advance(self, size: int, rows: int, file_size: int | None = None) -> None:
        """A chunk of ``size`` bytes passed; ``rows`` data rows so far; ``file_size``: the part's size."""
        self.bytes += size
        self.rows = rows
        if file_size is not None and self.parts == 1:
            self.total_bytes = file_size
        now = self._monotonic()
        fraction = self.fraction()
        if (now >= self._due or fraction >= self._next_mark) and fraction < 1.0:
            self._report(now, fraction)

    def fraction(self) -> float:
        """How far the transfer is, from 0 to 1: by bytes when their total is known, else by rows."""
        if self.total_bytes:
            return min(self.bytes / self.total_bytes, 1.0)
        if self.total_rows > 0:
            return min(self.rows / self.total_rows, 1.0)
        return 0.0

    def _report(self, now: float, fraction: float) -> None:
        """Log a line and move the next interval and quarter marks past this point."""
        self._next_mark = next((mark for mark in QUARTERS if mark > fraction), math.inf)
        self._due = now + self.interval
        self.lines += 1
        log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        """The progress line at ``now``: numbers and the part's description (without URLs) only."""
        elapsed = now - self.started
        fraction = self.fraction()
        basis = "bytes" if self.total_bytes else "rows"
        total = f" of {self.total_bytes:,}" if self.total_bytes else ""
        size = f"{self.bytes:,}{total} bytes"
        rows = f"{self.rows:,} of {self.total_rows:,} rows"
        speed = f"{self.bytes / MIB / elapsed:.2f} MiB/s" if elapsed > 0 else "? MiB/s"
        return (
            f"Transfer progress, part {self.part} of {self.parts}{self._described()}: {size}, {rows}, "
            f"{fraction * 100:.1f} % (by {basis}), {speed}, {_time_left(fraction, elapsed)}."
        )

    def _described(self) -> str:
        description = _URL.sub("<URL removed>", self.description).strip()
        return f" ({description})" if description else ""


def _time_left(fraction: float, elapsed: float) -> str:
    """``about <duration> left`` from the pace so far, or ``time left unknown`` before any progress."""
    if fraction <= 0 or elapsed <= 0:
        return "time left unknown"
    return f"about {format_duration(elapsed * (1 - fraction) / fraction)} left"


def format_duration(seconds: float) -> str:
    """``seconds`` for a log line: ``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    whole = round(max(seconds, 0.0))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


__all__ = ["PROGRESS_INTERVAL", "QUARTERS", "TransferProgress", "format_duration"]
