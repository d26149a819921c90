"""Two replicas, no crash: every event unfurled once, and one API read per incident across both.

The second test provokes the cross-replica flight race (a replica polling for another's fetch at
the moment that fetch ends) many times over; it found the lock released before the copy was
stored, fixed in IncidentService._fetch since.
"""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis

from benchmarks.harness import World
from tests.durability.conftest import (
    DEAD_STREAM,
    StartReplicas,
    incident_gets,
    pending,
    portal_link,
    sender,
    slow_api,
    unfurl_counts,
    wait_until,
)
from tests.world import link_shared, metric

EVENTS = 50


async def test_fifty_events_over_two_replicas_give_fifty_unfurls_and_one_read_per_incident(
    world: World, start_replicas: StartReplicas, redis_client: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    api = slow_api(world)
    api.latency = 0.2  # every API answer takes 200 ms: fetches of one incident overlap across replicas
    ids = world.add_copies(10, first_id=9_300_000)
    replicas = await start_replicas(2)

    async def one(n: int) -> int:
        event = link_shared(
            [portal_link(ids[n % len(ids)])], event_id=f"EvSTEADY{n}", message_ts=f"1700000300.{n:06d}"
        )
        return (await sender(http, replicas[n % 2]).event(event)).status

    statuses = await asyncio.gather(*(one(n) for n in range(EVENTS)))
    assert statuses == [200] * EVENTS

    await world.slack.wait_for("chat.unfurl", count=EVENTS, timeout=30)
    await wait_until(lambda: _nothing_pending(redis_client))
    await asyncio.sleep(0.5)  # time for a duplicate to show up, if there were one
    assert unfurl_counts(world.slack) == {f"1700000300.{n:06d}": 1 for n in range(EVENTS)}
    # the shared cache and the cross-replica flight lock: one GET per incident for both replicas
    assert {i: incident_gets(api, i) for i in ids} == dict.fromkeys(ids, 1)
    done = [
        metric(await r.metrics(), "incident_bot_jobs_total", kind="unfurl", outcome="done") for r in replicas
    ]
    assert sum(done) == EVENTS, done
    assert await redis_client.xlen(DEAD_STREAM) == 0
    for replica in replicas:
        assert "taking over" not in replica.log()  # nothing idles long enough to be claimed
        assert (await replica.readyz())["intake"] == "redis stream"


async def _nothing_pending(client: aioredis.Redis) -> bool:
    return not await pending(client)


async def test_one_api_read_per_incident_across_replicas(
    world: World, start_replicas: StartReplicas, http: aiohttp.ClientSession
) -> None:
    """Waves of 20 new incidents, four events each spread over two replicas, GETs held 150-250 ms:
    the replica that did not get the flight lock waits for the other's answer. Stops at the first
    incident read twice; 10 waves (200 incidents) when there is none."""
    api = slow_api(world)
    api.get_hold, api.get_jitter = 0.15, 0.1  # random, so polls meet the end of a fetch at any phase
    # up to 200 incidents within a minute: past the default API budget of 100 GETs a minute
    replicas = await start_replicas(2, INCIDENT_API_BUDGET='{"get_per_minute": 5000, "get_per_hour": 50000}')
    unfurls = 0
    for wave in range(10):
        ids = world.add_copies(20, first_id=9_400_000 + 100 * wave)

        async def four_events(n: int, incident_id: str) -> None:
            await asyncio.sleep(n * 0.01)
            events = [
                link_shared([portal_link(incident_id)], event_id=f"EvRACE{incident_id}-{k}",
                            message_ts=f"17000004{k:02d}.{incident_id[-6:]}")
                for k in range(4)
            ]  # fmt: skip
            answers = await asyncio.gather(
                *(sender(http, replicas[k % 2]).event(e) for k, e in enumerate(events))
            )
            assert [a.status for a in answers] == [200] * 4

        await asyncio.gather(*(four_events(n, i) for n, i in enumerate(ids)))
        unfurls += 4 * len(ids)
        await world.slack.wait_for("chat.unfurl", count=unfurls, timeout=30)
        not_once = {i: n for i in ids if (n := incident_gets(api, i)) != 1}
        assert not_once == {}, f"wave {wave}: incidents not read exactly once: {not_once}"
