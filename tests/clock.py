"""A virtual clock for retry tests: minutes of backoff and fault storms in milliseconds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_langdock import retries
from airflow_provider_langdock.testing import simulator as simulator_module


class VirtualClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = time.monotonic()
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class _TimeOn:
    """The ``time`` module, except that ``monotonic`` reads a virtual clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.monotonic = clock.monotonic

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def use_virtual_clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """Async retry waits, the retry budget and the simulator's fault storms all run on one virtual clock."""
    clock = VirtualClock()
    monkeypatch.setattr(retries, "_monotonic", clock.monotonic)
    monkeypatch.setattr(retries, "_async_sleep", clock.sleep)
    monkeypatch.setattr(simulator_module, "time", _TimeOn(clock))
    return clock
