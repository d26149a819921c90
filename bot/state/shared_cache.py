"""A Redis cache that keeps the bot working while Redis is down.

When Redis stops answering, reads and writes go to a per-process memory cache and the bot
says so (a warning in the logs, `degraded` in /readyz); every few seconds a probe tries Redis
again and, once it answers, the cache goes back to it. What is lost while degraded is only
sharing between replicas (cache, dedupe keys), never the ability to answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from aiocache import SimpleMemoryCache
from aiocache.base import BaseCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")
REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)


class Cache(Protocol):
    """The cache operations the bot uses (aiocache's names and semantics)."""

    async def get(self, key: str) -> Any: ...

    async def set(self, key: str, value: Any, ttl: float | None = None) -> Any: ...

    async def add(self, key: str, value: Any, ttl: float | None = None) -> Any: ...

    async def delete(self, key: str) -> Any: ...

    async def close(self) -> Any: ...


class FallbackCache:
    """aiocache on Redis, or per-process memory while Redis is unreachable."""

    def __init__(self, primary: BaseCache, *, retry_every: float = 5.0, namespace: str = "") -> None:
        self.primary = primary
        self.fallback = SimpleMemoryCache(namespace=namespace, timeout=0)
        self._retry_every = retry_every
        self._down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    async def _call(self, operation: Callable[[BaseCache], Awaitable[T]]) -> T:
        if self._down_since is not None:
            return await operation(self.fallback)
        try:
            return await operation(self.primary)
        except REDIS_DOWN as error:
            self._went_down(error)
            return await operation(self.fallback)

    def _went_down(self, error: BaseException) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        logger.warning(
            "Redis unreachable (%s): using per-process memory until it answers", type(error).__name__
        )
        self._probe = asyncio.create_task(self._wait_for_redis())

    async def _wait_for_redis(self) -> None:
        """Try Redis every `retry_every` seconds, busy or not, and go back to it when it answers."""
        while self._down_since is not None:
            await asyncio.sleep(self._retry_every)
            try:
                await self.primary.exists("health-probe")
            except REDIS_DOWN:
                continue
            logger.warning(
                "Redis answers again after %.0f s: shared cache restored", time.monotonic() - self._down_since
            )
            self._down_since = None

    async def get(self, key: str) -> Any:
        return await self._call(lambda cache: cache.get(key))

    async def set(self, key: str, value: Any, ttl: float | None = None) -> Any:
        return await self._call(lambda cache: cache.set(key, value, ttl=ttl))

    async def add(self, key: str, value: Any, ttl: float | None = None) -> Any:
        """Set only if absent; raises ValueError when the key exists (aiocache's contract)."""
        return await self._call(lambda cache: cache.add(key, value, ttl=ttl))

    async def delete(self, key: str) -> Any:
        return await self._call(lambda cache: cache.delete(key))

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        await self.primary.close()
        await self.fallback.close()


async def cached_text(cache: Cache, key: str, *, what: str) -> str | None:
    """The text stored under `key` (bytes from Redis decoded), or None when there is none, or when
    the cache cannot be read (logged with `what` it was for: the caller then asks the source)."""
    try:
        value = await cache.get(key)
    except REDIS_DOWN as error:
        logger.info("%s cache unreadable (%s): asking the source", what, type(error).__name__)
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None
