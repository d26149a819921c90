"""Reads that survive: stale-while-revalidate near TTL expiry, and single-flight across replicas.

Two in-process bots on one private Redis stand for two replicas behind a load balancer: they share
the cache, the flight lock and the job stream.
"""

from __future__ import annotations

import asyncio
import time

from tests.fakes import FakeIncidentApi
from tests.faults.conftest import (
    REDIS_DEPRECATIONS,
    RedisServer,
    add_copies,
    ask,
    gets_of,
    is_card,
    wait_until,
)
from tests.listeners.conftest import WorldFactory

pytestmark = REDIS_DEPRECATIONS


async def test_a_read_near_ttl_expiry_answers_from_cache_and_one_get_refreshes_it(
    start_ready: WorldFactory, incident_api: FakeIncidentApi
) -> None:
    world = await start_ready(incident_cache_ttl=2)
    [incident_id] = add_copies(incident_api, 1, first_id=960000)
    assert is_card(await ask(world, incident_id, "first"), incident_id)
    fetched = incident_api.requests[-1].time
    await asyncio.sleep(max(0.0, fetched + 1.7 - time.monotonic()))  # 85 % of the TTL
    incident_api.latency = 0.5
    started = time.monotonic()
    near = await asyncio.gather(*(ask(world, incident_id, f"near{n}") for n in range(5)))
    # answered from the cache at once, not after the API's 0.5 s, and not marked stale
    assert time.monotonic() - started < 0.4
    assert all(is_card(body, incident_id) for body in near)
    # one background GET for the five reads
    await wait_until(lambda: gets_of(incident_api, incident_id) == 2, within=3)
    await asyncio.sleep(0.6)  # the refresh lands in the cache
    # past the first copy's TTL the refreshed copy answers: no further GET
    assert time.monotonic() - fetched > 2.0
    assert is_card(await ask(world, incident_id, "after"), incident_id)
    assert gets_of(incident_api, incident_id) == 2


async def test_twenty_reads_of_one_uncached_incident_on_two_bots_make_one_get(
    private_redis: RedisServer, start_ready: WorldFactory, incident_api: FakeIncidentApi
) -> None:
    one, two = [await start_ready(cache_url=private_redis.url()) for _ in range(2)]
    [incident_id] = add_copies(incident_api, 1, first_id=961000)
    incident_api.latency = 0.3
    answers = await asyncio.gather(*(ask((one, two)[n % 2], incident_id, f"sf{n}") for n in range(20)))
    assert all(is_card(body, incident_id) for body in answers)
    assert gets_of(incident_api, incident_id) == 1
    # both bots worked some of the twenty jobs: the one GET was shared across them
    misses = [w.bot.services.incidents.stats["miss"] for w in (one, two)]
    assert all(misses), misses


async def test_a_flight_lock_left_by_a_crashed_replica_blocks_only_until_its_lease_ends(
    private_redis: RedisServer, start_ready: WorldFactory, incident_api: FakeIncidentApi
) -> None:
    world = await start_ready(cache_url=private_redis.url())
    [incident_id] = add_copies(incident_api, 1, first_id=962000)
    redis = private_redis.client()
    try:
        # the lock as a replica that died mid-fetch left it, with 1.5 s of its lease to go
        await redis.set(f"incident-bot:flight:{incident_id}", "dead-replica", px=1500)
        started = time.monotonic()
        body = await ask(world, incident_id, "after-crash")
    finally:
        await redis.aclose()
    assert is_card(body, incident_id)
    assert 1.4 < time.monotonic() - started < 2.5
    assert gets_of(incident_api, incident_id) == 1


async def test_the_fetched_copy_is_shared_before_the_flight_lock_is_released(
    private_redis: RedisServer, start_ready: WorldFactory, incident_api: FakeIncidentApi
) -> None:
    """Redis keyspace notifications give the order in which the bot touched the two keys."""
    world = await start_ready(cache_url=private_redis.url())
    [incident_id] = add_copies(incident_api, 1, first_id=963000)
    redis = private_redis.client()
    events: list[tuple[str, str]] = []
    try:
        await redis.config_set("notify-keyspace-events", "K$g")
        async with redis.pubsub() as pubsub:
            await pubsub.psubscribe(f"__keyspace@0__:*{incident_id}")
            assert is_card(await ask(world, incident_id, "read"), incident_id)
            until = time.monotonic() + 0.5  # the first read only swallows the subscribe reply
            while time.monotonic() < until:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if message is not None:
                    key = message["channel"].decode().split(":", 1)[1]
                    events.append(("lock" if "flight" in key else "copy", message["data"].decode()))
    finally:
        await redis.aclose()
    assert ("lock", "set") in events and ("lock", "del") in events and ("copy", "set") in events, events
    assert events.index(("copy", "set")) < events.index(("lock", "del")), events
