"""The shared cache (aiocache): per-process memory by default, Redis when CACHE_URL says so.

Values cross Redis as JSON text only, never pickle: a shared Redis must not become a way to
run code in the bot. In memory, frozen pydantic objects are stored as they are, which keeps a
warm get to a dictionary lookup.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import aiocache
from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import StringSerializer
from pydantic import ValidationError
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import DependencyChanged
from bot.models import IncidentSnapshot
from bot.state.redis_pipeline import AutoPipelineRedis
from bot.state.shared_cache import Cache, FallbackCache

logger = logging.getLogger(__name__)

NAMESPACE = "incident-bot"
DECODED_KEPT = 2000
# A copy read from Redis this recently is used again without asking Redis (a "near cache"): a
# burst of links to one incident costs one GET a second, and another replica's newer copy shows
# at most this much later.
NEAR_SECONDS = 1.0


def reconnect_once() -> dict[str, Any]:
    """Connection options: a pooled connection found dead (Redis restarted) reconnects and retries
    the command once, instead of failing as if Redis were down."""
    return {
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def check_aiocache(backend: type = RedisCache) -> None:
    """The adapter below overrides two private methods of aiocache's RedisCache and swaps its
    `client`; aiocache 0.12 has no public hook for either. Start-up stops, naming the version,
    if a release has moved them, instead of failing on the first cache write."""
    wanted = {"_set": ("key", "value", "ttl", "_cas_token", "_conn"), "_close": ()}
    for name, params in wanted.items():
        method = getattr(backend, name, None)
        found = tuple(inspect.signature(method).parameters) if callable(method) else ()
        if method is None or not set(params) <= set(found):
            raise DependencyChanged(
                f"aiocache {aiocache.__version__} has no RedisCache.{name}({', '.join(params)}), which "
                "bot/state/cache.py overrides: update it, or install aiocache 0.12.3"
            )


class _RedisCache(RedisCache):  # type: ignore[misc]
    """aiocache's Redis backend without the redis-py calls deprecated since redis-py 5
    (setex, psetex, close): same commands on the wire, no DeprecationWarning per write."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(getattr(self, "client", None), Redis):
            raise DependencyChanged(
                f"aiocache {aiocache.__version__}'s RedisCache keeps no redis-py client in `client`, "
                "which bot/state/cache.py replaces: update it, or install aiocache 0.12.3"
            )
        # Same pool; the short commands of one loop turn (claims, reads) go out as one pipeline.
        pool = self.client.connection_pool  # type: ignore[has-type]
        self.client = AutoPipelineRedis(connection_pool=pool)

    async def _set(
        self, key: str, value: Any, ttl: float | None = None, _cas_token: Any = None, _conn: Any = None
    ) -> Any:
        if _cas_token is not None or ttl is None:
            return await super()._set(key, value, ttl=ttl, _cas_token=_cas_token, _conn=_conn)
        if isinstance(ttl, float):
            return await self.client.set(key, value, px=int(ttl * 1000))
        return await self.client.set(key, value, ex=ttl)

    async def _close(self, *args: Any, _conn: Any = None, **kwargs: Any) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()  # aiocache made the pool, so it closes it


def build_cache(url: str, *, retry_every: float = 5.0) -> Cache:
    """`memory://`, or `redis[s]://[:password@]host:port/db` with a memory fallback while Redis is down."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        # timeout=0: no asyncio.wait_for around a dictionary lookup
        memory: Cache = SimpleMemoryCache(namespace=NAMESPACE, timeout=0)
        return memory
    db = parts.path.lstrip("/") or "0"
    check_aiocache()
    redis_cache = _RedisCache(
        endpoint=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        db=int(db),
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme == "rediss",
        serializer=StringSerializer(),
        # A blocking pool: a burst waits for a connection instead of failing as if Redis were down.
        connection_pool_class=BlockingConnectionPool,
        pool_max_size=64,
        namespace=NAMESPACE,
        # timeout=0: no asyncio.wait_for (a task per call) around each command; the socket
        # timeouts below bound a Redis that stops answering instead.
        timeout=0,
        create_connection_timeout=2,
        connection_pool_kwargs={"socket_timeout": 2, "timeout": 5, **reconnect_once()},
    )
    return FallbackCache(redis_cache, retry_every=retry_every, namespace=NAMESPACE)


def is_memory(cache: Cache) -> bool:
    return isinstance(cache, SimpleMemoryCache)


class SnapshotStore:
    """Incident snapshots in the cache under `incident:{id}`."""

    def __init__(self, cache: Cache, *, keep_seconds: int) -> None:
        self._cache = cache
        self._memory = is_memory(cache)
        # Entries outlive freshness so a stale copy can be served while the API is down.
        self._keep_seconds = keep_seconds
        # The last JSON text read for each id, what it decoded to, and when (monotonic): a value
        # Redis returns unchanged is not validated again (the JSON is compared, so it is never out
        # of date), and within NEAR_SECONDS a `near` read does not ask Redis at all.
        self._decoded: dict[str, tuple[str, IncidentSnapshot, float]] = {}

    @staticmethod
    def key(incident_id: str) -> str:
        return f"incident:{incident_id}"

    async def get(self, incident_id: str, *, near: bool = False) -> IncidentSnapshot | None:
        """The cached copy; with `near`, one this process read or wrote within NEAR_SECONDS will do."""
        if near and not self._memory:
            last = self._decoded.get(incident_id)
            if last is not None and time.monotonic() - last[2] < NEAR_SECONDS:
                return last[1]
        try:
            value: Any = await self._cache.get(self.key(incident_id))
            if value is None or self._memory:
                return value  # type: ignore[no-any-return]
            last = self._decoded.get(incident_id)
            if last is not None and last[0] == value:
                snapshot = last[1]
            else:
                snapshot = IncidentSnapshot.model_validate_json(value)
            self._remember(incident_id, value, snapshot)
            return snapshot
        except (ValidationError, ValueError):  # UnicodeDecodeError is a ValueError too
            # Corrupt, or written by another release: a miss, which the next fetch overwrites.
            logger.warning("unreadable cache entry for incident %s; fetching it again", incident_id)
            return None

    def _remember(self, incident_id: str, value: str, snapshot: IncidentSnapshot) -> None:
        self._decoded.pop(incident_id, None)  # re-inserted last: the oldest read goes first
        if len(self._decoded) >= DECODED_KEPT:
            self._decoded.pop(next(iter(self._decoded)))
        self._decoded[incident_id] = (value, snapshot, time.monotonic())

    async def put(self, snapshot: IncidentSnapshot) -> None:
        if self._memory:
            await self._cache.set(self.key(snapshot.incident.id), snapshot, ttl=self._keep_seconds)
            return
        value = snapshot.model_dump_json(by_alias=True)
        await self._cache.set(self.key(snapshot.incident.id), value, ttl=self._keep_seconds)
        self._remember(snapshot.incident.id, value, snapshot)
