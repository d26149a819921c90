"""RedisBudget: the API budget of one tenant, shared by every replica through Redis.

Each take is one Lua script that reads the pause key and the kind's two buckets and, only when all
allow it, moves both buckets on: atomic across replicas, so N replicas together spend one budget.
The script mirrors bot.state.budget.plan_take step for step on the same doubles, so a MemoryBudget and a
RedisBudget fed the same clock give the same answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.state.budget import DEFAULT_LIMITS, EPSILON, BudgetLimits, MemoryBudget, OperationKind, check_pause
from bot.state.redis_rest import RedisRest

logger = logging.getLogger(__name__)


KEY_PREFIX = "incident-bot:budget"

# Both scripts read the clock from ARGV[1]: a number in tests (an injected clock), else '' for the
# server's own TIME, so replicas with skewed clocks agree. Floats cross as %.17g text, which
# round-trips a double exactly (a Lua number returned as such would be truncated to an integer).
LUA_PRELUDE = """
local function clock(given)
  local now = tonumber(given)
  if now then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.17g', x) end
"""

# KEYS: the kind's bucket keys (minute, hour), then the pause key.
# ARGV: now, epsilon, then seconds per token and window seconds of each bucket. Mirrors plan_take.
_TAKE_LUA = (
    LUA_PRELUDE
    + """
local now, epsilon = clock(ARGV[1]), tonumber(ARGV[2])
local n = #KEYS - 1
local wait = 0
local paused = tonumber(redis.call('GET', KEYS[n + 1]))
if paused and paused - now > wait then wait = paused - now end
local tats = {}
for i = 1, n do
  local interval, seconds = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if not tat or tat < now then tat = now end
  local ready = tat - seconds + interval
  if ready - now > wait then wait = ready - now end
  tats[i] = tat + interval
end
if wait > epsilon then return fmt(wait) end
for i = 1, n do
  redis.call('SET', KEYS[i], fmt(tats[i]), 'PX', math.ceil((tats[i] - now) * 1000) + 1000)
end
return '0'
"""
)

# KEYS: the pause key. ARGV: now, seconds. Keeps the later of the current end and now + seconds.
_PAUSE_LUA = (
    LUA_PRELUDE
    + """
local now, seconds = clock(ARGV[1]), tonumber(ARGV[2])
local till = now + seconds
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= till then return 0 end
redis.call('SET', KEYS[1], fmt(till), 'PX', math.ceil(seconds * 1000) + 1000)
return 1
"""
)


class RedisBudget:
    """The budget of one tenant, shared by every replica through Redis (one atomic script per take).

    Keys expire a second after their bucket would be full again, so an idle tenant leaves nothing.
    If Redis cannot be reached, this replica counts a budget of its own (logged once) and tries Redis
    again a few seconds later (bot.state.redis_rest): an outage neither stops the bot nor unleashes it.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        tenant: str,
        limits: BudgetLimits = DEFAULT_LIMITS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not tenant:
            raise ValueError("a tenant is required: budgets are per tenant")
        self.limits = limits
        self.tenant = tenant
        self._redis = redis
        self._clock = clock
        self._take_script = redis.register_script(_TAKE_LUA)
        self._pause_script = redis.register_script(_PAUSE_LUA)
        self._local = MemoryBudget(limits, clock=clock or time.monotonic)
        self.rest = RedisRest(
            logger,
            fell_back="API budget: Redis unreachable (%s); this replica counts its own budget "
            "until it is back",
            back="API budget: Redis is back; the budget is shared again",
        )

    def key(self, name: str) -> str:
        """`incident-bot:budget:{tenant}:get:minute` for bucket "get/minute", or `…:pause`."""
        return f"{KEY_PREFIX}:{self.tenant}:{name.replace('/', ':')}"

    def _now_arg(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    async def take(self, kind: OperationKind) -> float:
        buckets = self.limits.buckets(kind)
        if self.rest.resting():
            return await self._local.take(kind)
        keys = [self.key(b.name) for b in buckets] + [self.key("pause")]
        args: list[str] = [self._now_arg(), repr(EPSILON)]
        for bucket in buckets:
            args += [repr(bucket.interval), repr(bucket.seconds)]
        try:
            answer = await self._take_script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.rest.fell_back(error)
            return await self._local.take(kind)
        self.rest.recovered()
        return float(answer)

    async def pause(self, seconds: float) -> None:
        seconds = check_pause(seconds)
        await self._local.pause(seconds)  # also held locally, should Redis go away during it
        if seconds <= 0:
            return
        try:
            await self._pause_script(keys=[self.key("pause")], args=[self._now_arg(), repr(seconds)])
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.rest.fell_back(error)
            return
        self.rest.recovered()

    async def remaining(self) -> dict[str, float]:
        buckets = self.limits.all_buckets()
        if self.rest.resting():
            return await self._local.remaining()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.mget([self.key(b.name) for b in buckets])
                pipe.time()
                values, (seconds, micros) = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.rest.fell_back(error)
            return await self._local.remaining()
        self.rest.recovered()
        now = self._clock() if self._clock is not None else seconds + micros / 1000000
        return {
            b.name: b.tokens(None if value is None else float(value), now)
            for b, value in zip(buckets, values, strict=True)
        }
