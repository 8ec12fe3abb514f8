"""A fake clock for retry tests: minutes of backoff and fault storms in milliseconds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from airflow_provider_langdock.clock import Clock


class FakeClock(Clock):
    """A clock that only moves when someone sleeps on it; every wait is recorded in :attr:`slept`.

    ``scale`` (default 0: not at all) is the share of each wait that is really slept, for tests
    whose servers or deadlines run on real time.
    """

    def __init__(self, scale: float = 0.0) -> None:
        self.scale = scale
        self.slept: list[float] = []
        self._start = time.monotonic()
        self._start_utc = datetime.now(UTC)
        self._elapsed = 0.0

    def monotonic(self) -> float:
        return self._start + self._elapsed

    def now(self) -> datetime:
        return self._start_utc + timedelta(seconds=self._elapsed)

    def sleep(self, seconds: float) -> None:
        self._advance(seconds)
        if self.scale:
            time.sleep(seconds * self.scale)

    async def async_sleep(self, seconds: float) -> None:
        self._advance(seconds)
        await asyncio.sleep(seconds * self.scale)

    def _advance(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._elapsed += seconds
