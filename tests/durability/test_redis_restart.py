"""Redis stopped and started again in the middle of a burst of events to two replicas.

The private Redis runs without persistence, so what it held is gone after the restart: the
replicas must have read what they acked before it went down, work inline while it is down
(and say so in /readyz and in their logs), and recreate the consumer group when it is back.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import redis.asyncio as aioredis

from benchmarks.harness import World
from tests.durability.conftest import (
    RedisServer,
    Replica,
    StartReplicas,
    pending,
    portal_link,
    sender,
    slow_api,
    unfurl_counts,
    wait_until,
)
from tests.world import link_shared

EVENTS = 90
EVERY = 0.04  # seconds between events: the burst lasts about 3.6 s
INLINE = "redis: unreachable, working inline"
SLACK_ACK_LIMIT = 3.0


async def test_every_acked_event_is_answered_across_a_redis_restart(
    world: World,
    redis_server: RedisServer,
    start_replicas: StartReplicas,
    redis_client: aioredis.Redis,
    http: aiohttp.ClientSession,
) -> None:
    api = slow_api(world)
    api.latency = 0.1
    ids = world.add_copies(6, first_id=9_500_000)
    replicas = await start_replicas(2)
    acked: dict[str, float] = {}  # message ts -> ack time
    refused: list[str] = []

    async def burst() -> None:
        for n in range(EVENTS):
            ts = f"1700000500.{n:06d}"
            event = link_shared([portal_link(ids[n % len(ids)])], event_id=f"EvRST{n}", message_ts=ts)
            try:
                answer = await sender(http, replicas[n % 2]).event(event)
            except aiohttp.ClientError as error:
                refused.append(f"{ts}: {error!r}")
            else:
                if answer.status == 200:
                    acked[ts] = answer.elapsed
                else:
                    refused.append(f"{ts}: HTTP {answer.status}")
            await asyncio.sleep(EVERY)

    sending = asyncio.create_task(burst())
    try:
        await asyncio.sleep(1.0)
        await redis_server.stop()
        stopped = time.monotonic()
        # both replicas keep acking, work inline, and /readyz says so
        await wait_until(lambda: _all_inline(replicas), within=5)
        during = [await r.readyz() for r in replicas]
        await asyncio.sleep(max(0.0, 1.2 - (time.monotonic() - stopped)))
        await redis_server.start()
        await sending
    finally:
        sending.cancel()

    assert refused == []
    assert len(acked) == EVENTS
    assert max(acked.values()) < SLACK_ACK_LIMIT, sorted(acked.values())[-3:]
    await wait_until(lambda: set(acked) <= set(unfurl_counts(world.slack)), within=30)
    await wait_until(lambda: _nothing_pending(redis_client))
    counts = unfurl_counts(world.slack)
    assert set(counts) == set(acked)
    assert all(d["intake"] == INLINE for d in during)
    for replica in replicas:
        assert (await replica.readyz())["intake"] == "redis stream"  # durable again after the restart
        log = replica.log()
        assert "Redis unreachable at intake" in log and "working inline, not durable" in log
        assert "intake is durable again" in log


async def _all_inline(replicas: list[Replica]) -> bool:
    modes = [(await r.readyz())["intake"] for r in replicas]
    return modes == [INLINE] * len(replicas)


async def _nothing_pending(client: aioredis.Redis) -> bool:
    return not await pending(client)
