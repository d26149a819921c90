"""The shared cache (aiocache): per-process memory by default, Redis when CACHE_URL says so.

Values cross Redis as JSON text only, never pickle: a shared Redis must not become a way to
run code in the bot. In memory, frozen pydantic objects are stored as they are, which keeps a
warm get to a dictionary lookup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from aiocache import RedisCache, SimpleMemoryCache
from aiocache.base import BaseCache
from aiocache.serializers import StringSerializer

from bot.models import IncidentSnapshot

NAMESPACE = "incident-bot"


def build_cache(url: str) -> BaseCache:
    """An aiocache backend for `memory://` or `redis[s]://[:password@]host:port/db`."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        # timeout=0: no asyncio.wait_for around a dictionary lookup
        return SimpleMemoryCache(namespace=NAMESPACE, timeout=0)
    db = parts.path.lstrip("/") or "0"
    return RedisCache(
        endpoint=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        db=int(db),
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme == "rediss",
        serializer=StringSerializer(),
        namespace=NAMESPACE,
        timeout=2,
        create_connection_timeout=2,
    )


def is_memory(cache: BaseCache) -> bool:
    return isinstance(cache, SimpleMemoryCache)


class SnapshotStore:
    """Incident snapshots in the cache under `incident:{id}`."""

    def __init__(self, cache: BaseCache, *, keep_seconds: int) -> None:
        self._cache = cache
        self._memory = is_memory(cache)
        # Entries outlive freshness so a stale copy can be served while the API is down.
        self._keep_seconds = keep_seconds

    @staticmethod
    def key(incident_id: str) -> str:
        return f"incident:{incident_id}"

    async def get(self, incident_id: str) -> IncidentSnapshot | None:
        value: Any = await self._cache.get(self.key(incident_id))
        if value is None or self._memory:
            return value  # type: ignore[no-any-return]
        return IncidentSnapshot.model_validate_json(value)

    async def put(self, snapshot: IncidentSnapshot) -> None:
        value: Any = snapshot if self._memory else snapshot.model_dump_json(by_alias=True)
        await self._cache.set(self.key(snapshot.incident.id), value, ttl=self._keep_seconds)
