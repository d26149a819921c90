"""One fetch per incident across replicas: a lock with expiry, so a crashed holder blocks nobody.

In one process the incident service already joins concurrent gets of an id; with replicas on
Redis this lock makes the others wait for the holder's answer in the shared cache instead of
calling the API themselves. Redis trouble never blocks a read: the caller then simply fetches.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

import redis.asyncio as aioredis

from bot.state.shared_cache import REDIS_DOWN

logger = logging.getLogger(__name__)

# Deletes the lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class FlightLock(Protocol):
    async def acquire(self, key: str) -> str | None:
        """A token when this caller should fetch; None when another replica is fetching."""

    async def release(self, key: str, token: str) -> None: ...

    async def held(self, key: str) -> bool: ...


class LocalFlightLock:
    """One process: the service's own single-flight is the whole story."""

    async def acquire(self, key: str) -> str | None:
        return "local"

    async def release(self, key: str, token: str) -> None:
        return None

    async def held(self, key: str) -> bool:
        return False


class RedisFlightLock:
    """SET NX PX in Redis; the lease bounds how long a dead holder can make others wait."""

    def __init__(
        self, redis: aioredis.Redis, *, lease_seconds: float, prefix: str = "incident-bot:flight:"
    ) -> None:
        self._redis = redis
        self._lease_ms = int(lease_seconds * 1000)
        self._prefix = prefix
        self._release = redis.register_script(_RELEASE)
        # Releases that failed while Redis was down: retried on the next call, so a lock we no
        # longer need does not make every replica wait out its lease.
        self._unreleased: list[tuple[str, str]] = []

    async def _retry_releases(self) -> None:
        while self._unreleased:
            key, token = self._unreleased[0]
            await self._release(keys=[self._prefix + key], args=[token])
            self._unreleased.pop(0)

    async def acquire(self, key: str) -> str | None:
        token = uuid.uuid4().hex
        try:
            await self._retry_releases()
            taken = await self._redis.set(self._prefix + key, token, nx=True, px=self._lease_ms)
        except REDIS_DOWN:
            return token  # no coordination possible: fetch rather than wait
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        try:
            await self._retry_releases()
            await self._release(keys=[self._prefix + key], args=[token])
        except REDIS_DOWN:
            logger.info("could not release flight lock %s now; will retry", key)
            self._unreleased.append((key, token))

    async def held(self, key: str) -> bool:
        try:
            return bool(await self._redis.exists(self._prefix + key))
        except REDIS_DOWN:
            return False
