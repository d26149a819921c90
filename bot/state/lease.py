"""Which replica watches for changed incidents: a lease in Redis, or the one process without it.

The holder renews the lease on every poll; a replica that dies stops renewing, and another takes
the lease once it has run out. Renewal and release only touch a lease this replica still holds
(compare the owner, then act, in one script), so a replica that stalled past its lease cannot
renew or drop the new holder's.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

LEASE_KEY = "incident-bot:watcher"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease(Protocol):
    owner: str

    async def hold(self) -> bool:
        """Take the lease if it is free, or renew it if this replica holds it: True while held."""
        ...

    async def release(self) -> None: ...


class OnlyProcess:
    """One process (memory cache, SQLite): it always watches."""

    def __init__(self) -> None:
        self.owner = "this process"

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    """A lease of `seconds` under one Redis key, shared by every replica."""

    def __init__(self, redis: Redis, *, seconds: float, key: str = LEASE_KEY) -> None:
        self._redis = redis
        self._ms = max(1000, int(seconds * 1000))
        self._key = key
        self.owner = uuid.uuid4().hex

    async def hold(self) -> bool:
        try:
            renewed = await self._redis.eval(_RENEW, 1, self._key, self.owner, str(self._ms))
            if renewed:
                return True
            return bool(await self._redis.set(self._key, self.owner, nx=True, px=self._ms))
        except (RedisError, OSError) as error:
            # Nobody can tell who holds it: do not watch (another replica may) and ask again later.
            logger.warning("watcher lease unknown (%s): not watching this round", type(error).__name__)
            return False

    async def release(self) -> None:
        with contextlib.suppress(RedisError, OSError):  # else it runs out by itself
            await self._redis.eval(_RELEASE, 1, self._key, self.owner)
