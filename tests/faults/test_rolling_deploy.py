"""A rolling deploy: jobs the previous release left in the Redis stream (its payload shape, no
version) are still done by this one, or dead-lettered with the person told."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from bot.blocks.refs import IncidentRef
from tests.faults.conftest import settle
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.redis_server import RedisServer

STREAM = "incident-bot:jobs"
INCIDENT = "2972395"


async def queue_as_the_last_release(redis_url: str, kind: str, payload: dict[str, Any]) -> None:
    """XADD an entry exactly as the release before versioned jobs wrote it."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.xadd(STREAM, {"kind": kind, "payload": json.dumps(payload, separators=(",", ":"))})
    finally:
        await client.aclose()


async def test_an_old_command_job_in_the_stream_is_answered_after_the_upgrade(
    private_redis: RedisServer, start_ready: WorldFactory
) -> None:
    world: SlackWorld = await start_ready(cache_url=private_redis.url())
    payload = {
        "incident_id": INCIDENT,
        "user_id": "U0WRITER",
        "channel_id": "C0SOC",
        "response_url": world.slack.response_url("old-command"),
    }
    await queue_as_the_last_release(private_redis.url(), "command", payload)
    [answer] = await world.slack.wait_for("response_url:old-command", timeout=10)
    assert answer.args["response_type"] == "ephemeral"
    assert any(block["type"] == "header" for block in answer.args["blocks"])  # the card


async def test_an_old_write_job_is_done_once_and_the_card_redrawn(
    private_redis: RedisServer, start_ready: WorldFactory
) -> None:
    world = await start_ready(cache_url=private_redis.url())
    ref = IncidentRef(id=INCIDENT, channel="C0SOC", ts="1700000000.000100")
    payload = {"op": "assign", "ref": ref.dumps(), "user_id": "U0WRITER", "key": "view:V0OLD", "args": {
        "assignee": "rob@contoso.com"}}  # fmt: skip
    await queue_as_the_last_release(private_redis.url(), "write", payload)
    [redraw] = await world.slack.wait_for("chat.update", timeout=10)
    await settle(world)
    patches = [r.json for r in world.api.requests if r.method == "PATCH"]
    assert patches == [{"assignedTo": "rob@contoso.com"}]
    assert "rob@contoso.com" in json.dumps(redraw.args["blocks"])


async def test_an_old_job_that_no_longer_reads_is_dead_lettered_and_the_person_told(
    private_redis: RedisServer, start_ready: WorldFactory
) -> None:
    world = await start_ready(cache_url=private_redis.url())
    ref = IncidentRef(id=INCIDENT, response_url=world.slack.response_url("old-write"))
    payload = {"op": "resolve", "ref": ref.dumps(), "user_id": "U0WRITER", "key": "view:V0BAD", "args": {
        "classification": "notAClassification"}}  # fmt: skip
    await queue_as_the_last_release(private_redis.url(), "write", payload)
    [told] = await world.slack.wait_for("response_url:old-write", timeout=10)
    assert told.args["response_type"] == "ephemeral" and "again" in told.args["text"]
    await settle(world)
    client = aioredis.Redis.from_url(private_redis.url(), decode_responses=True)
    try:
        [(_, fields)] = await client.xrange(f"{STREAM}:dead")
    finally:
        await client.aclose()
    assert fields["kind"] == "write" and fields["attempts"] == "1"  # at once, not after five tries
    assert [r for r in world.api.requests if r.method == "PATCH"] == []
