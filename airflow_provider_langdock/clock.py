"""The time the provider waits on and reads: one object, so a test can hand in a fake one."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class Clock:
    """Real time: blocking and asyncio sleeps, a monotonic clock and the current UTC time.

    Retry policies, downloads, hooks and triggers take a clock (default :data:`SYSTEM_CLOCK`);
    a subclass that overrides these four methods runs them on any other time.
    """

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking the event loop."""
        await asyncio.sleep(seconds)

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines and budgets."""
        return time.monotonic()

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        return datetime.now(UTC)


#: The real clock, the default everywhere.
SYSTEM_CLOCK = Clock()

__all__ = ["SYSTEM_CLOCK", "Clock"]
