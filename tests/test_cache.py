"""The cache: memory keeps objects, Redis keeps JSON text only; the service behaves the same on both."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiocache import RedisCache, SimpleMemoryCache

from bot.config.settings import Settings
from bot.errors import Unavailable
from bot.incidents.service import IncidentService
from bot.models import Incident, IncidentSnapshot
from bot.services import STALE_KEEP_SECONDS, open_services
from bot.state.cache import NAMESPACE, SnapshotStore, build_cache
from tests.conftest import ApiStack, Clock
from tests.fakes import FakeIncidentApi

# aiocache 0.12.3 calls redis-py's deprecated setex() and close(): harmless, but errors under
# filterwarnings=error. Only these two are let through.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning"),
]

MakeStack = Callable[..., ApiStack]
Load = Callable[[str], dict[str, Any]]
ID = "2972395"
RAW_KEY = f"{NAMESPACE}:incident:{ID}"
TTL = 60


class _RunsPickle:
    """Unpickling this creates a directory: proof that a cache value was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


@pytest_asyncio.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def redis_store(redis_url: str) -> AsyncIterator[SnapshotStore]:
    cache = build_cache(redis_url)
    yield SnapshotStore(cache, keep_seconds=STALE_KEEP_SECONDS)
    await cache.close()


def stored_id(raw: bytes | str | None) -> str:
    """The incident id inside a raw Redis value, which must be JSON text."""
    assert raw is not None
    return str(json.loads(raw)["incident"]["id"])


def snapshot_of(payload: dict[str, Any]) -> IncidentSnapshot:
    return IncidentSnapshot(incident=Incident.model_validate(payload))


async def test_build_cache_reads_memory_and_redis_urls() -> None:
    memory = build_cache("memory://")
    assert isinstance(memory, SimpleMemoryCache)
    shared = build_cache("rediss://:p%40ss@cache.contoso.example:6380/3")
    redis_cache = getattr(shared, "primary", shared)  # Redis may sit behind a memory fallback
    assert isinstance(redis_cache, RedisCache)
    assert (redis_cache.endpoint, redis_cache.port, redis_cache.db) == ("cache.contoso.example", 6380, 3)
    assert redis_cache.password == "p@ss"
    await memory.close()
    await shared.close()


async def test_memory_keeps_the_frozen_object_itself(load_fixture: Load) -> None:
    store = SnapshotStore(build_cache("memory://"), keep_seconds=STALE_KEEP_SECONDS)
    snapshot = snapshot_of(load_fixture("2972395.v1"))
    await store.put(snapshot)
    assert await store.get(ID) is snapshot
    assert await store.get("1") is None


async def test_redis_holds_json_text_under_the_namespaced_key(
    redis_store: SnapshotStore, raw_redis: aioredis.Redis, load_fixture: Load
) -> None:
    snapshot = snapshot_of(load_fixture("2972395.v1"))
    await redis_store.put(snapshot)
    raw = await raw_redis.get(RAW_KEY)
    assert isinstance(raw, bytes) and not raw.startswith(b"\x80")
    stored = json.loads(raw)
    assert stored["incident"]["id"] == ID and stored["incident"]["displayName"]
    assert len(stored["incident"]["alerts"]) == 3
    assert 0 < await raw_redis.ttl(RAW_KEY) <= STALE_KEEP_SECONDS
    assert await redis_store.get(ID) == snapshot


async def test_a_pickle_in_redis_is_never_unpickled(
    redis_store: SnapshotStore, raw_redis: aioredis.Redis, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    await raw_redis.set(RAW_KEY, pickle.dumps(_RunsPickle(marker)))
    found = await redis_store.get(ID)
    assert found is None and not marker.exists()


async def test_json_that_is_not_a_snapshot_is_never_returned(
    redis_store: SnapshotStore, raw_redis: aioredis.Redis
) -> None:
    await raw_redis.set(RAW_KEY, b'{"__class__": "os.system", "args": ["touch /tmp/x"]}')
    assert await redis_store.get(ID) is None


@pytest.mark.parametrize("value", [b"not json {", b'{"incident": {}}', b'{"fetched_at": "yesterday"}'])
async def test_a_corrupt_redis_entry_is_treated_as_a_miss_and_replaced(
    make_stack: MakeStack, redis_store: SnapshotStore, raw_redis: aioredis.Redis, value: bytes
) -> None:
    await raw_redis.set(RAW_KEY, value)
    service = IncidentService(make_stack().api, redis_store, ttl=TTL)
    assert (await service.get(ID)).incident.id == ID
    assert stored_id(await raw_redis.get(RAW_KEY)) == ID


async def test_a_binary_redis_entry_is_treated_as_a_miss_and_replaced(
    make_stack: MakeStack, redis_store: SnapshotStore, raw_redis: aioredis.Redis
) -> None:
    await raw_redis.set(RAW_KEY, b"\x80\x04\x95binary, not JSON")
    service = IncidentService(make_stack().api, redis_store, ttl=TTL)
    assert (await service.get(ID)).incident.id == ID
    assert stored_id(await raw_redis.get(RAW_KEY)) == ID


async def test_redis_single_flight_ttl_and_stale_copy(
    make_stack: MakeStack, incident_api: FakeIncidentApi, redis_store: SnapshotStore
) -> None:
    clock = Clock()
    service = IncidentService(make_stack(incident_api_retries=0).api, redis_store, ttl=TTL, now=clock)
    snapshots = await asyncio.gather(*(service.get(ID) for _ in range(50)))
    assert incident_api.count("GET") == 1 and {s.incident.id for s in snapshots} == {ID}
    clock.advance(TTL / 2)
    assert (await service.get(ID)).incident == snapshots[0].incident
    assert incident_api.count("GET") == 1
    clock.advance(TTL)
    incident_api.fail_next(503)
    stale = await service.get(ID)
    assert stale.stale and stale.age_seconds(clock()) == TTL * 1.5
    assert incident_api.count("GET") == 2
    fresh = await service.get(ID)
    assert not fresh.stale and incident_api.count("GET") == 3


async def test_a_second_process_reads_the_first_ones_fetch_from_redis(
    make_stack: MakeStack, incident_api: FakeIncidentApi, redis_url: str
) -> None:
    caches = [build_cache(redis_url), build_cache(redis_url)]
    try:
        first, second = (
            IncidentService(make_stack().api, SnapshotStore(c, keep_seconds=STALE_KEEP_SECONDS), ttl=TTL)
            for c in caches
        )
        fetched = await first.get(ID)
        assert (await second.get(ID)).incident == fetched.incident
        assert incident_api.count("GET") == 1
    finally:
        for cache in caches:
            await cache.close()


async def test_redis_without_a_copy_lets_the_error_through(
    make_stack: MakeStack, incident_api: FakeIncidentApi, redis_store: SnapshotStore
) -> None:
    service = IncidentService(make_stack(incident_api_retries=0).api, redis_store, ttl=TTL)
    incident_api.fail_next(503)
    with pytest.raises(Unavailable):
        await service.get(ID)


async def test_open_services_on_redis_makes_one_request_for_many_gets(
    make_settings: Callable[..., Settings],
    incident_api: FakeIncidentApi,
    raw_redis: aioredis.Redis,
    redis_url: str,
) -> None:
    async with open_services(make_settings(cache_url=redis_url)) as services:
        snapshots = await asyncio.gather(*(services.incidents.get(ID) for _ in range(50)))
    assert {s.incident.id for s in snapshots} == {ID}
    assert incident_api.count("GET") == 1
    assert stored_id(await raw_redis.get(RAW_KEY)) == ID


async def test_a_near_read_reuses_a_copy_read_within_the_second(
    redis_url: str, load_fixture: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas: the reader's near reads skip Redis for NEAR_SECONDS, then see the writer's copy;
    plain reads (the service's re-reads around a fetch) always ask Redis."""
    monkeypatch.setattr("bot.state.cache.NEAR_SECONDS", 0.2)
    caches = [build_cache(redis_url), build_cache(redis_url)]
    writer, reader = (SnapshotStore(c, keep_seconds=STALE_KEEP_SECONDS) for c in caches)
    try:
        first = snapshot_of(load_fixture("2972395.v1"))
        await writer.put(first)
        assert await reader.get(ID, near=True) == first
        changed = first.model_copy(
            update={"incident": first.incident.model_copy(update={"title": "Changed"})}
        )
        await writer.put(changed)
        assert (await reader.get(ID, near=True)) == first  # within the window: this process's copy
        assert (await reader.get(ID)) == changed  # a plain read asks Redis
        await reader.get(ID, near=True)
        await writer.put(first)
        await asyncio.sleep(0.25)
        assert (await reader.get(ID, near=True)) == first  # past the window: Redis again
        assert (await writer.get(ID, near=True)) == first  # a writer's own put counts as a read
    finally:
        for cache in caches:
            await cache.close()


async def test_memory_reads_are_unchanged_by_near(load_fixture: Load) -> None:
    store = SnapshotStore(build_cache("memory://"), keep_seconds=STALE_KEEP_SECONDS)
    snapshot = snapshot_of(load_fixture("2972395.v1"))
    await store.put(snapshot)
    assert await store.get(ID, near=True) is snapshot
