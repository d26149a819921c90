"""A steady pace for calls that come in bulk: a token bucket per method that callers wait on.

When 50 incidents are resolved at once, their live cards would otherwise all be redrawn in the same
second, and Slack's per-method limits (chat.update and chat.unfurl are Tier 3: "50+ per minute",
bursts allowed) answer 429. Waiting for a token spreads them: `burst` calls at once, then
`per_minute` a minute, for each method on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pace:
    """A token bucket for one process; `per_minute=0` never waits."""

    def __init__(
        self, per_minute: float, *, burst: int = 20, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds callers spent waiting, for the benchmark and /metrics

    async def wait(self) -> None:
        """Take a token, however long that takes."""
        await self.take(within=float("inf"))

    async def take(self, *, within: float) -> bool:
        """Take a token if one comes within `within` seconds (waiting for it); False, taking
        nothing and without waiting, when it would come later."""
        if self.per_minute <= 0:
            return True
        async with self._lock:  # first come, first served
            rate = self.per_minute / 60.0
            while True:
                now = self._clock()
                self._tokens = min(float(self.burst), self._tokens + (now - self._at) * rate)
                self._at = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return True
                pause = (1.0 - self._tokens) / rate
                if pause > within:
                    return False
                self.waited += pause
                await asyncio.sleep(pause)


class MethodPaces:
    """One `Pace` per Slack method, all at the same rate."""

    def __init__(self, per_minute: float, *, burst: int = 20) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._paces: dict[str, Pace] = {}

    def __call__(self, method: str) -> Pace:
        pace = self._paces.get(method)
        if pace is None:
            pace = self._paces[method] = Pace(self.per_minute, burst=self.burst)
        return pace

    @property
    def waited(self) -> float:
        return sum(pace.waited for pace in self._paces.values())
