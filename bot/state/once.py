"""Exactly-once effects over the shared cache: Slack retries, double clicks, redelivered jobs.

`begin(key, owner)` claims a key for one job; the same job (a redelivery after a crash) may
claim it again, any other job may not. `finish(key)` records that the effect happened, so
even the same job does not repeat it. Keys live in the cache backend, so on Redis they hold
across replicas.
"""

from __future__ import annotations

from bot.state.shared_cache import Cache

DEFAULT_TTL = 3600


class Once:
    """Claims and completion marks for effects that must happen once."""

    def __init__(self, cache: Cache, *, ttl: int = DEFAULT_TTL) -> None:
        self._cache = cache
        self._ttl = ttl

    async def begin(self, key: str, owner: str) -> bool:
        """True when `owner` may do the effect named `key` (first claim, or its own unfinished claim).

        A first claim needs no look at the done mark: only a claim's owner sets it, after its
        claim, with the same lifetime. So the common case is one round trip.
        """
        try:
            await self._cache.add(f"claim:{key}", owner, ttl=self._ttl)
            return True
        except ValueError:  # aiocache's add: the key exists already
            if str(await self._cache.get(f"claim:{key}")) != owner:
                return False
            return await self._cache.get(f"done:{key}") is None

    async def finish(self, key: str) -> None:
        """Mark the effect as done."""
        await self._cache.set(f"done:{key}", "1", ttl=self._ttl)

    async def first_within(self, key: str, seconds: int) -> bool:
        """True for the first call with `key` in `seconds` (a double click is the second)."""
        try:
            await self._cache.add(f"recent:{key}", "1", ttl=seconds)
            return True
        except ValueError:
            return False

    async def is_done(self, key: str) -> bool:
        return await self._cache.get(f"done:{key}") is not None
