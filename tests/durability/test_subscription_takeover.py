"""A subscription's post whose replica was SIGKILLed mid-chat.postMessage: still one parent per
incident per channel, and the survivor records the dead replica's message instead of posting again.

Two replicas share the private Redis (intake stream, watcher lease) and a PostgreSQL database of the
test's own; LIVE_POLL_SECONDS=1 and INTAKE_CLAIM_IDLE_SECONDS=1 (a post's claim goes stale after
4 s). The fake Slack API answers chat.postMessage after a delay (it records the call first, and the
message lands in the channel's history when the delay ends, whether or not the caller is still
there). When the first parent post arrives, the replica working that route job (its consumer holds
the job's stream entry) is SIGKILLed: its post lands, its record never happens. The survivor takes
the lease if it did not hold it, sees the stale claim, finds the message by its metadata and records
it; a later change of that incident is one reply in that message's thread, and that message is
redrawn. (The fake's ts follow the wall clock here, as Slack's do: the look-up asks for messages
since shortly before the claim it took over.)
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from benchmarks.harness import World
from tests.channels.conftest import create_incident
from tests.durability.conftest import STREAM, Replica, StartReplicas, pending, sender, wait_until
from tests.fakes import FakeSlackApi

CHANNEL = "C0HIGHSEV"
FIRST, SECOND = "9300001", "9300002"
POST_LATENCY = 1.5  # well inside the post's bound (three quarters of the 4 s claim)
RECOVERY_SECONDS = 15.0  # lease (5 s) + claim going stale (4 s) + a poll, a look and a post, with room


def parents(slack: FakeSlackApi, channel: str) -> list[dict[str, Any]]:
    """The top-level messages in the channel (what Slack shows), oldest first."""
    return [m for m in slack.history.get(channel, []) if "thread_ts" not in m]


def thread(slack: FakeSlackApi, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.history.get(channel, []) if m.get("thread_ts") == ts]


def incident_of(message: dict[str, Any]) -> str:
    return str(message["metadata"]["event_payload"]["incident"])


def parent_posts(slack: FakeSlackApi) -> list[Any]:
    """chat.postMessage calls of parent posts (thread replies and DMs left out)."""
    return [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args
            and (c.args.get("metadata") or {}).get("event_type") == "incident_posted"]  # fmt: skip


async def worker_of(client: aioredis.Redis, incident_id: str, replicas: list[Replica]) -> Replica:
    """The replica whose intake consumer holds the route job of `incident_id`."""
    for entry in await pending(client):
        [(_, fields)] = await client.xrange(STREAM, min=entry.entry, max=entry.entry)
        if fields.get("kind") == "route" and json.loads(fields["payload"])["incident_id"] == incident_id:
            [replica] = [r for r in replicas if entry.consumer.startswith(r.consumer_prefix)]
            return replica
    raise AssertionError(f"no replica holds the route job of {incident_id}")


async def recorded_posts(database_url: str) -> dict[str, tuple[str, str | None]]:
    """incident → (state, ts) of the channel's posts, as the database has them."""
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT incident_id, state, ts FROM channel_posts WHERE channel = $1", CHANNEL
        )
    finally:
        await connection.close()
    return {row["incident_id"]: (row["state"], row["ts"]) for row in rows}


async def test_a_post_whose_replica_died_mid_post_is_recorded_not_posted_again(
    world: World,
    start_replicas: StartReplicas,
    redis_client: aioredis.Redis,
    http: aiohttp.ClientSession,
    postgres_url: str,
) -> None:
    slack = world.slack
    slack.clock_ts = True  # the bot looks for a lost post with conversations.history's `oldest`
    replicas = await start_replicas(2, LIVE_POLL_SECONDS="1", INTAKE_CLAIM_IDLE_SECONDS="1")
    await sender(http, replicas[0]).command("subscribe severity>=high", slack.response_url("sub"),
                                            channel_id=CHANNEL)  # fmt: skip
    [answer] = await slack.wait_for("response_url:sub", timeout=10)
    assert str(answer.args["text"]).startswith("Subscribed (#1)"), answer.args

    slack.method_latency["chat.postMessage"] = POST_LATENCY
    create_incident(world.api, FIRST, severity="high")
    create_incident(world.api, SECOND, severity="high")
    await wait_until(lambda: len(parent_posts(slack)) >= 1, within=10)
    first = parent_posts(slack)[0]
    killed_incident = str(first.args["metadata"]["event_payload"]["incident"])
    doomed = await worker_of(redis_client, killed_incident, replicas)
    await doomed.kill()
    killed = time.monotonic()
    [survivor] = [r for r in replicas if r is not doomed]

    # The dead replica's message lands all the same (the fake finishes what it was sent) …
    await wait_until(lambda: any(incident_of(m) == killed_incident for m in parents(slack, CHANNEL)),
                     within=5)  # fmt: skip
    [original] = [m for m in parents(slack, CHANNEL) if incident_of(m) == killed_incident]
    assert original["metadata"] == first.args["metadata"]

    # … and the survivor records it, and posts whatever else matches, each once.
    async def all_recorded() -> bool:
        found = await recorded_posts(postgres_url)
        return set(found) == {FIRST, SECOND} and all(state == "posted" for state, _ in found.values())

    await wait_until(all_recorded, within=RECOVERY_SECONDS)
    recovery = time.monotonic() - killed
    recorded = await recorded_posts(postgres_url)
    assert recorded[killed_incident] == ("posted", original["ts"])
    shown = {incident_of(m): m["ts"] for m in parents(slack, CHANNEL)}
    assert {i: ts for i, (_, ts) in recorded.items()} == shown
    assert survivor.process is not None and survivor.process.returncode is None

    # A later change of the recovered incident: one reply, in the original message's thread, and
    # the original message redrawn (the survivor keeps the card it found live).
    world.api.change("v1.0", killed_incident, status="inProgress", assignedTo="kai@contoso.com")
    await wait_until(lambda: len(thread(slack, CHANNEL, original["ts"])) >= 1, within=10)
    await wait_until(lambda: any(c.args.get("ts") == original["ts"] for c in slack.calls_to("chat.update")),
                     within=10)  # fmt: skip
    await asyncio.sleep(3.0)  # three more polls: nothing more
    [reply] = thread(slack, CHANNEL, original["ts"])
    assert "In progress" in reply["text"] and "kai@contoso.com" in reply["text"]
    assert reply["metadata"]["event_type"] == "incident_update"
    redraw = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == original["ts"]][-1]
    assert "In progress" in json.dumps(redraw.args["blocks"])

    # Exactly one parent per incident in the channel, every matching incident posted, nothing else:
    # the survivor looked in the channel and found the dead replica's message instead of posting.
    assert sorted(incident_of(m) for m in parents(slack, CHANNEL)) == [FIRST, SECOND]
    assert [c.args["channel"] for c in parent_posts(slack)] == [CHANNEL, CHANNEL]
    assert slack.calls_to("conversations.history")
    assert {m["thread_ts"] for m in slack.history[CHANNEL] if "thread_ts" in m} == {original["ts"]}
    assert list(slack.history) == [CHANNEL]
    assert recovery < RECOVERY_SECONDS
