"""Poison entries: N tries (INTAKE_MAX_ATTEMPTS, default 5), then the dead-letter stream, the user
told, the log and /metrics."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from benchmarks.harness import World
from tests.durability.conftest import (
    DEAD_STREAM,
    GROUP,
    STREAM,
    StartReplicas,
    pending,
    sender,
    wait_until,
)
from tests.world import metric

INCIDENT = "2972395"


async def test_a_poison_command_is_dead_lettered_after_five_tries_and_the_user_is_told(
    world: World, start_replicas: StartReplicas, redis_client: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    """The answer to /incident cannot be delivered (its response_url refuses it five times): the
    job fails every try, whichever replica works it, and the sixth post says it did not go through."""
    replicas = await start_replicas(2)
    world.slack.fail_next("response_url:poison", error="expired_url", status=404, count=5)
    answer = await sender(http, replicas[0]).command(INCIDENT, world.slack.response_url("poison"))
    assert answer.status == 200

    posts = await world.slack.wait_for("response_url:poison", count=6, timeout=30)
    await wait_until(lambda: _nothing_pending(redis_client))
    assert [INCIDENT in json.dumps(p.args) for p in posts[:5]] == [True] * 5  # the card, five times
    told = posts[5].args
    assert told["response_type"] == "ephemeral"
    assert told["text"] == (
        f"Sorry, your request about incident {INCIDENT} did not go through. Please try again."
    )

    dead: Any = await redis_client.xrange(DEAD_STREAM)
    jobs: Any = await redis_client.xrange(STREAM)
    ((_, fields),) = dead
    ((entry_id, _),) = jobs
    assert fields["kind"] == "show"
    assert fields["attempts"] == "5"
    assert fields["entry"] == entry_id
    assert json.loads(fields["payload"])["incident_id"] == INCIDENT

    texts = [await r.metrics() for r in replicas]
    assert sum(metric(t, "incident_bot_jobs_total", kind="show", outcome="dead") for t in texts) == 1
    assert sum(metric(t, "incident_bot_jobs_total", kind="show", outcome="retried") for t in texts) == 4
    assert sum(metric(t, "incident_bot_jobs_total", kind="show", outcome="done") for t in texts) == 0
    assert sum("dead-lettered" in r.log() for r in replicas) == 1
    assert len(world.slack.calls_to("response_url:poison")) == 6  # and nothing after


async def test_an_undecodable_entry_does_not_stop_a_replica(
    world: World, start_replicas: StartReplicas, redis_client: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    (replica,) = await start_replicas(1)
    await wait_until(lambda: _group_exists(redis_client))
    # e.g. written by another release, or by hand
    await redis_client.xadd(STREAM, {"kind": "command", "payload": "{not json"})
    await wait_until(lambda: _dead_letters(redis_client, 1), within=10)  # dead-lettered at once
    assert not await pending(redis_client)

    answer = await sender(http, replica).command(INCIDENT, world.slack.response_url("after"))
    assert answer.status == 200  # acked: queued in the stream
    await world.slack.wait_for("response_url:after", count=1, timeout=6)  # the replica still reads


async def _nothing_pending(client: aioredis.Redis) -> bool:
    return not await pending(client)


async def _group_exists(client: aioredis.Redis) -> bool:
    try:
        return any(g["name"] == GROUP for g in await client.xinfo_groups(STREAM))
    except aioredis.ResponseError:
        return False


async def _delivered(client: aioredis.Redis) -> bool:
    return bool(await pending(client))


async def _dead_letters(client: aioredis.Redis, count: int) -> bool:
    return bool(await client.xlen(DEAD_STREAM) == count)
