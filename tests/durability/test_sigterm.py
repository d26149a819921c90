"""SIGTERM to one of two replicas in the middle of a burst: nothing Slack was told "received" is lost.

Every incident's GET is held for 2 s and the SIGTERMed replica may take SHUTDOWN_SECONDS=1 s, so
it stops with jobs unfinished: they stay pending in Redis under its consumer and the other
replica's janitor finishes them.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import redis.asyncio as aioredis

from benchmarks.harness import World
from tests.durability.conftest import (
    StartReplicas,
    pending,
    portal_link,
    sender,
    slow_api,
    unfurl_counts,
    wait_until,
)
from tests.world import link_shared

EVENTS = 40


async def test_sigterm_during_a_burst_loses_nothing_acked(
    world: World, start_replicas: StartReplicas, redis_client: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    api = slow_api(world)
    api.get_hold = 2.0
    ids = world.add_copies(EVENTS, first_id=9_600_000)
    stopping, survivor = await start_replicas(2, SHUTDOWN_SECONDS="1")
    acked: list[str] = []
    not_acked: list[str] = []

    async def one(n: int) -> None:
        ts = f"1700000600.{n:06d}"
        event = link_shared([portal_link(ids[n])], event_id=f"EvTERM{n}", message_ts=ts)
        try:
            answer = await sender(http, (stopping, survivor)[n % 2]).event(event)
        except aiohttp.ClientError:
            not_acked.append(ts)
            return
        (acked if answer.status == 200 else not_acked).append(ts)

    sends = []
    for n in range(EVENTS):
        sends.append(asyncio.create_task(one(n)))
        if n == EVENTS // 2:
            assert stopping.process is not None
            stopping.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.03)
    await asyncio.gather(*sends)
    assert await stopping.terminate(wait_seconds=20) == 0

    assert len(acked) >= EVENTS // 2 + 1  # the survivor acked its half and more came before the signal
    await wait_until(lambda: set(acked) <= set(unfurl_counts(world.slack)), within=40)
    await wait_until(lambda: _nothing_pending(redis_client))
    counts = unfurl_counts(world.slack)
    assert {ts: counts[ts] for ts in acked} == dict.fromkeys(acked, 1)  # each once
    log = stopping.log()
    assert "stopping with" in log and "left pending in Redis" in log
    assert "taking over job" in survivor.log()


async def _nothing_pending(client: aioredis.Redis) -> bool:
    return not await pending(client)
