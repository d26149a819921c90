"""Slack paces shared by every replica through Redis: one value per key, taken by one atomic script.

Slack's limits are per app and workspace: three replicas pacing chat.update at 50 a minute each
would send 150, and the watcher's refresh jobs go to whichever replica is free. So with Redis each
key (a method, a channel) is one GCRA value, its "theoretical arrival time", as in
bot.state.budget: a take reserves the next slot, and is told how long to wait for it. Reserving
rather than polling keeps callers first come, first served across replicas, and costs one round
trip per call. The buckets are those of bot.state.pace.Pace: `burst` at once, then `per_minute`.

If Redis cannot be reached this replica paces on its own (logged once) and tries Redis again a few
seconds later (bot.state.redis_rest): an outage neither stops the posts nor lets them go unpaced.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.state.budget_redis import LUA_PRELUDE
from bot.state.pace import KeyedPaces, Pacer, Paces
from bot.state.redis_rest import RedisRest

logger = logging.getLogger(__name__)

KEY_PREFIX = "incident-bot:pace"
NO_LIMIT = "-1"  # `within` for a caller who waits however long it takes
REFUSED = "-1"

# KEYS: the key's value. ARGV: now ('' for the server's TIME), seconds per token, burst, within.
# Answers the wait before the reserved slot, or REFUSED (nothing reserved) when it is past `within`.
_RESERVE_LUA = (
    LUA_PRELUDE
    + """
local now = clock(ARGV[1])
local interval, burst, within = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 1e-6 then wait = 0 end  -- float sums of `interval` must not refuse a burst's last
if within >= 0 and wait > within then return '-1' end
local after = tat + interval
redis.call('SET', KEYS[1], fmt(after), 'PX', math.ceil((after - now) * 1000) + 1000)
return fmt(wait)
"""
)


def slack_paces(redis: Redis | None, name: str, per_minute: float, *, burst: int = 20) -> Paces:
    """Replicas on Redis share each pace (Slack counts per app and workspace); one process keeps its own."""
    if redis is None:
        return KeyedPaces(per_minute, burst=burst)
    return RedisPaces(redis, name, per_minute, burst=burst)


class RedisPaces:
    """A pace per key, one for all replicas: `paces("chat.update")` is the same bucket on each."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        per_minute: float,
        *,
        burst: int = 20,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`name` keeps apart paces of different kinds (methods, channels); `clock` is for tests
        (by default the Redis server's own time, so replicas with skewed clocks agree)."""
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._prefix = f"{KEY_PREFIX}:{name}:"
        self._clock = clock
        self._script = redis.register_script(_RESERVE_LUA)
        self._local = KeyedPaces(per_minute, burst=self.burst)
        self.rest = RedisRest(
            logger,
            fell_back="Slack pace: Redis unreachable (%s); this replica paces on its own until it is back",
            back="Slack pace: Redis is back; the pace is shared again",
        )
        self._waited = 0.0

    def __call__(self, key: str) -> Pacer:
        return _SharedPace(self, key)

    @property
    def waited(self) -> float:
        """Seconds callers of this replica spent waiting (for /metrics)."""
        return self._waited + self._local.waited

    def key(self, key: str) -> str:
        return self._prefix + key

    async def reserve(self, key: str, *, within: float | None) -> float | None:
        """Reserve `key`'s next slot and answer the wait before it; None, reserving nothing, when
        it is further off than `within` seconds (None: however far). Only Redis is asked."""
        now = "" if self._clock is None else repr(float(self._clock()))
        args = [now, repr(60.0 / self.per_minute), str(self.burst)]
        args.append(NO_LIMIT if within is None or math.isinf(within) else repr(max(0.0, within)))
        answer = await self._script(keys=[self.key(key)], args=args)
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        return None if text == REFUSED else float(text)

    async def take(self, key: str, *, within: float | None) -> bool:
        if self.per_minute <= 0:
            return True
        if self.rest.resting():
            return await self._local_take(key, within)
        try:
            wait = await self.reserve(key, within=within)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.rest.fell_back(error)
            return await self._local_take(key, within)
        self.rest.recovered()
        if wait is None:
            return False
        if wait > 0:
            self._waited += wait
            await asyncio.sleep(wait)
        return True

    async def _local_take(self, key: str, within: float | None) -> bool:
        return await self._local(key).take(within=float("inf") if within is None else within)


class _SharedPace:
    """One key of RedisPaces, as callers of a Pace use it."""

    def __init__(self, paces: RedisPaces, key: str) -> None:
        self._paces = paces
        self._key = key

    async def wait(self) -> None:
        await self._paces.take(self._key, within=None)

    async def take(self, *, within: float) -> bool:
        return await self._paces.take(self._key, within=within)
