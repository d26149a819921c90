"""A shared API budget per tenant: token buckets at the incident API's documented limits.

Every kind of call ("get" an incident, "list" incidents, "update" or comment) has two buckets, one per
minute and one per hour. A bucket holds up to `limit` tokens and refills continuously at
`limit / window`; a call needs a token in both buckets of its kind and takes from both, or from
neither, so a refused call costs nothing. A 429 from the API pauses every bucket for its Retry-After.

A bucket is kept as one number, its "theoretical arrival time" (GCRA): the instant it would be full
again. With T = window / limit seconds per token, `tokens = (window - max(0, tat - now)) / T`, a take
is allowed when a token exists (`tat - window + T <= now`) and sets `tat = max(tat, now) + T`. This is
the token bucket above, stored in a single value, which is what lets Redis keep it under one key.

MemoryBudget serves one process (CACHE_URL=memory://); RedisBudget (bot.state.budget_redis) gives the same
answers, shared by every replica through Redis; it builds on this module, never the other way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Literal, Protocol, get_args

__all__ = [
    "DEFAULT_LIMITS",
    "KINDS",
    "ApiBudget",
    "Bucket",
    "BudgetLimits",
    "MemoryBudget",
    "OperationKind",
    "plan_take",
]

OperationKind = Literal["get", "list", "update"]  # get incident / list incidents / update or comment
KINDS: tuple[OperationKind, ...] = get_args(OperationKind)
WINDOWS: dict[str, float] = {"minute": 60.0, "hour": 3600.0}

# A take this close to its token's instant is granted: float sums of `T` must not refuse a caller who
# waited exactly the wait they were told (and a refusal is never answered with a wait this small).
EPSILON = 1e-6


@dataclass(frozen=True)
class BudgetLimits:
    """Requests allowed per kind and window (Defender's documented limits by default)."""

    get_per_minute: int = 100
    get_per_hour: int = 1500
    list_per_minute: int = 50
    list_per_hour: int = 1500
    update_per_minute: int = 50
    update_per_hour: int = 1500

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a whole number of requests ≥ 1, not {value!r}")

    def buckets(self, kind: OperationKind) -> tuple[Bucket, ...]:
        """The buckets a take of `kind` needs a token in (minute, then hour)."""
        if kind not in KINDS:
            raise ValueError(f"unknown operation kind {kind!r}: expected one of {', '.join(KINDS)}")
        return tuple(
            Bucket(kind, window, getattr(self, f"{kind}_per_{window}"), seconds)
            for window, seconds in WINDOWS.items()
        )

    def all_buckets(self) -> tuple[Bucket, ...]:
        return tuple(bucket for kind in KINDS for bucket in self.buckets(kind))


DEFAULT_LIMITS = BudgetLimits()


@dataclass(frozen=True)
class Bucket:
    kind: OperationKind
    window: str  # "minute" or "hour"
    limit: int
    seconds: float

    @property
    def name(self) -> str:
        """`get/minute`: the name remaining() reports it under."""
        return f"{self.kind}/{self.window}"

    @property
    def interval(self) -> float:
        """Seconds for one token to grow back."""
        return self.seconds / self.limit

    def tokens(self, tat: float | None, now: float) -> float:
        """Tokens in the bucket at `now`, given its stored arrival time (None: never used, full)."""
        if tat is None or tat <= now:
            return float(self.limit)
        return round(max(0.0, (self.seconds - (tat - now)) / self.interval), 6)


class ApiBudget(Protocol):
    async def take(self, kind: OperationKind) -> float:
        """Take one request's worth for `kind`: 0.0 when granted, else seconds until it could be.

        A refused take takes nothing.
        """
        ...

    async def pause(self, seconds: float) -> None:
        """The API answered 429 with Retry-After: refuse every kind for `seconds` (shared across replicas)."""
        ...

    async def remaining(self) -> dict[str, float]:
        """Tokens left per bucket, e.g. {"get/minute": 97.0, "get/hour": 1497.0, ...} (for /metrics)."""
        ...


def plan_take(
    buckets: Iterable[Bucket], tats: Iterable[float | None], paused_until: float | None, now: float
) -> tuple[float, list[float]]:
    """One take, decided: (wait, new arrival times). Granted when wait == 0.0; else store nothing.

    The Lua script in bot.state.budget_redis does exactly these steps, in this order, on the same floats.
    """
    wait = 0.0
    if paused_until is not None and paused_until - now > wait:
        wait = paused_until - now
    new_tats: list[float] = []
    for bucket, stored in zip(buckets, tats, strict=True):
        tat = now if stored is None or stored < now else stored
        ready = tat - bucket.seconds + bucket.interval  # when this bucket next holds a whole token
        if ready - now > wait:
            wait = ready - now
        new_tats.append(tat + bucket.interval)
    if wait > EPSILON:
        return wait, []
    return 0.0, new_tats


def check_pause(seconds: float) -> float:
    seconds = float(seconds)
    if not math.isfinite(seconds):
        raise ValueError(f"a pause must be a finite number of seconds, not {seconds!r}")
    return seconds


class MemoryBudget:
    """The budget of one process. Every method runs without awaiting, so each is atomic in its loop."""

    def __init__(
        self, limits: BudgetLimits = DEFAULT_LIMITS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._tats: dict[str, float] = {}  # bucket name → theoretical arrival time
        self._paused_until: float | None = None

    async def take(self, kind: OperationKind) -> float:
        buckets = self.limits.buckets(kind)
        now = self._clock()
        wait, new_tats = plan_take(
            buckets, [self._tats.get(b.name) for b in buckets], self._paused_until, now
        )
        if not wait:
            self._tats.update(zip((b.name for b in buckets), new_tats, strict=True))
        return wait

    async def pause(self, seconds: float) -> None:
        seconds = check_pause(seconds)
        if seconds <= 0:
            return
        until = self._clock() + seconds
        if self._paused_until is None or until > self._paused_until:
            self._paused_until = until

    async def remaining(self) -> dict[str, float]:
        now = self._clock()
        return {b.name: b.tokens(self._tats.get(b.name), now) for b in self.limits.all_buckets()}
