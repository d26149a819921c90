"""A steady pace for calls that come in bulk: a token bucket per method that callers wait on.

When 50 incidents are resolved at once, their live cards would otherwise all be redrawn in the same
second, and Slack's per-method limits (chat.update and chat.unfurl are Tier 3: "50+ per minute",
bursts allowed) answer 429. Waiting for a token spreads them: `burst` calls at once, then
`per_minute` a minute, for each method on its own. Messages are paced per channel the same way
(chat.postMessage "generally allows posting one message per second per channel").

Slack counts per app and workspace, not per process: with several replicas the paces are shared
through Redis (bot.state.pace_redis, the same buckets as one value per key); these serve one process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Pacer(Protocol):
    """One bucket: what the callers of a pace use."""

    async def wait(self) -> None: ...

    async def take(self, *, within: float) -> bool: ...


class Paces(Protocol):
    """A bucket per key (a Slack method, a channel), all at one rate."""

    per_minute: float

    def __call__(self, key: str) -> Pacer: ...

    @property
    def waited(self) -> float: ...


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

    def rested(self) -> bool:
        """Nobody waits and the bucket is full again: forgetting this pace changes nothing."""
        if self._lock.locked():
            return False
        refilled = self._tokens + (self._clock() - self._at) * self.per_minute / 60.0
        return self.per_minute <= 0 or refilled >= self.burst


class KeyedPaces:
    """One `Pace` per key (a Slack method, a channel), all at the same rate. Once many are held, the
    rested ones are forgotten (a channel quiet for a while owes nothing)."""

    KEEP = 1024

    def __init__(
        self, per_minute: float, *, burst: int = 20, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._clock = clock
        self._paces: dict[str, Pace] = {}
        self._waited_before = 0.0  # by paces forgotten

    def __call__(self, key: str) -> Pace:
        pace = self._paces.get(key)
        if pace is None:
            if len(self._paces) >= self.KEEP:
                self._forget_rested()
            pace = self._paces[key] = Pace(self.per_minute, burst=self.burst, clock=self._clock)
        return pace

    def __len__(self) -> int:
        return len(self._paces)

    def _forget_rested(self) -> None:
        for key in [key for key, pace in self._paces.items() if pace.rested()]:
            self._waited_before += self._paces.pop(key).waited

    @property
    def waited(self) -> float:
        return self._waited_before + sum(pace.waited for pace in self._paces.values())
