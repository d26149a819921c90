"""Channel subscriptions through the running bot: `/incident subscribe` (Slack-signed commands), the
1 s watcher listing the fake API, posts and thread replies at the fake Slack Web API, the real
SQLite database. Every post and reply is counted: exactly once each."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.channels.conftest import POLL, create_incident
from tests.listeners.conftest import SlackWorld
from tests.world import wait_until

HIGH_A, HIGH_B, VIP, LOW_A, LOW_B = "9100001", "9100002", "9100003", "9100004", "9100005"


async def subscribe(world: SlackWorld, channel: str, text: str, *, user: str = "U0WRITER") -> str:
    name = f"sub{len(world.slack.calls)}"
    await world.sender.command(f"subscribe {text}", world.slack.response_url(name), user_id=user,
                               channel_id=channel)  # fmt: skip
    [answer] = await world.slack.wait_for(f"response_url:{name}")
    return str(answer.args["text"])


def posts(world: SlackWorld, channel: str | None = None) -> list[Any]:
    """Top-level chat.postMessage calls (not thread replies, not DMs to people)."""
    return [c for c in world.slack.calls_to("chat.postMessage")
            if "thread_ts" not in c.args and (channel is None or c.args["channel"] == channel)
            and str(c.args["channel"]).startswith("C")]  # fmt: skip


def replies(world: SlackWorld) -> list[Any]:
    return [c for c in world.slack.calls_to("chat.postMessage") if "thread_ts" in c.args]


def incident_of(call: Any) -> str:
    return str(call.args["metadata"]["event_payload"]["incident"])


@pytest.fixture
async def subscribed(start_world: Any) -> SlackWorld:
    world: SlackWorld = await start_world(live_poll_seconds=POLL)
    assert (await subscribe(world, "C0HIGH", "severity>=high")).startswith("Subscribed (#1)")
    assert (await subscribe(world, "C0VIP", "tag=VIP")).startswith("Subscribed (#2)")
    return world


async def test_matching_new_incidents_are_posted_once_in_the_right_channels(subscribed: SlackWorld) -> None:
    world = subscribed
    create_incident(world.api, HIGH_A, severity="high")
    create_incident(world.api, HIGH_B, severity="high")
    create_incident(world.api, VIP, severity="low", customTags=["VIP"])
    create_incident(world.api, LOW_A, severity="low")
    create_incident(world.api, LOW_B, severity="medium")
    await wait_until(lambda: len(posts(world)) >= 3, within=10)
    await asyncio.sleep(3 * POLL)  # more polls: nothing more
    await world.settle()
    assert sorted(incident_of(c) for c in posts(world, "C0HIGH")) == [HIGH_A, HIGH_B]
    assert [incident_of(c) for c in posts(world, "C0VIP")] == [VIP]
    assert len(posts(world)) == 3
    assert all("Multi-stage incident" in json.dumps(c.args["blocks"]) for c in posts(world))


async def test_a_change_is_one_thread_reply_and_the_parent_is_redrawn(subscribed: SlackWorld) -> None:
    world = subscribed
    create_incident(world.api, HIGH_A, severity="high")
    await wait_until(lambda: len(posts(world)) == 1, within=10)
    await world.settle()
    assert len(posts(world)) == 1
    parent_ts = world.slack.history["C0HIGH"][0]["ts"]
    await asyncio.sleep(1.1)
    world.api.change("v1.0", HIGH_A, status="inProgress", assignedTo="kai@contoso.com",
                     comment="Isolated the device")  # fmt: skip
    await wait_until(lambda: len(replies(world)) == 1, within=10)
    await wait_until(lambda: any(c.args.get("ts") == parent_ts for c in world.slack.calls_to("chat.update")),
                     within=10)  # fmt: skip
    await asyncio.sleep(3 * POLL)
    await world.settle()
    [reply] = replies(world)
    assert reply.args["thread_ts"] == parent_ts and reply.args["channel"] == "C0HIGH"
    text = reply.args["text"]
    assert "*Status*: Active → In progress" in text
    assert "kai@contoso.com" in text and "Isolated the device" in text
    assert len(posts(world)) == 1
    redraw = [c for c in world.slack.calls_to("chat.update") if c.args.get("ts") == parent_ts][-1]
    assert "In progress" in json.dumps(redraw.args["blocks"])


async def test_many_posts_into_one_channel_keep_slacks_pace_and_hold_up_no_other_channel(
    start_world: Any,
) -> None:
    # chat.postMessage "generally allows one message per second per channel": a burst of 4, then 1 a
    # second (CHANNEL_POSTS_PER_MINUTE=60), while another channel's post goes at once.
    world: SlackWorld = await start_world(live_poll_seconds=POLL)
    assert (await subscribe(world, "C0HIGH", "severity>=high")).startswith("Subscribed (#1)")
    assert (await subscribe(world, "C0VIP", "tag=VIP")).startswith("Subscribed (#2)")
    high = [str(9100100 + n) for n in range(8)]
    for incident_id in high:
        create_incident(
            world.api, incident_id, severity="high", customTags=["VIP"] if incident_id == high[-1] else []
        )
    await wait_until(lambda: len(posts(world)) >= 9, within=20)
    await asyncio.sleep(2 * POLL)
    await world.settle()
    busy, other = posts(world, "C0HIGH"), posts(world, "C0VIP")
    assert sorted(incident_of(c) for c in busy) == high and [incident_of(c) for c in other] == [high[-1]]
    times = sorted(c.time for c in busy)
    # The bucket refills from the first post's token: the k-th post after the burst takes its token
    # k seconds after it. Seen at the fake Slack, each post also carries its claim and its call, and
    # the first one's (the first claim, the first card drawn) may take longer: 0.5 s allowed for it.
    late = [round(when - times[0], 2) for when in times]
    assert all(late[k] >= k - 3 - 0.5 for k in range(4, len(times))), late
    assert other[0].time < times[-1] - 2  # not queued behind the busy channel


async def test_a_merge_folds_the_thread_into_the_target(subscribed: SlackWorld) -> None:
    world = subscribed
    create_incident(world.api, HIGH_A, severity="high")
    await wait_until(lambda: len(posts(world)) == 1, within=10)
    await world.settle()
    await asyncio.sleep(1.1)
    # the target is an older incident, not changed since long before the subscription
    old = "2026-01-01T00:00:00Z"
    create_incident(world.api, HIGH_B, severity="high", createdDateTime=old, lastUpdateDateTime=old)
    world.api.change("v1.0", HIGH_A, status="redirected", redirectIncidentId=HIGH_B)
    await wait_until(
        lambda: any("was merged into incident" in c.args["text"] for c in replies(world)), within=10
    )
    await asyncio.sleep(1.1)
    world.api.change("v1.0", HIGH_B, assignedTo="kai@contoso.com")
    await wait_until(lambda: any("kai@contoso.com" in c.args["text"] for c in replies(world)), within=10)
    await world.settle()
    thread = world.slack.history["C0HIGH"][0]["ts"]
    assert all(c.args["thread_ts"] == thread for c in replies(world))
    assert [incident_of(c) for c in posts(world)] == [HIGH_A]  # B is told in A's thread, not posted again


async def test_what_is_refused(subscribed: SlackWorld) -> None:
    world = subscribed
    bad = await subscribe(world, "C0HIGH", "severity>=urgent")
    assert "urgent" in bad and "high" in bad  # the bad word and the choices
    assert (await subscribe(world, "C0HIGH", "tag=X", user="U0READER")).startswith("You are not allowed")
    name = "unsub"
    await world.sender.command("unsubscribe 2", world.slack.response_url(name), channel_id="C0HIGH")
    [answer] = await world.slack.wait_for(f"response_url:{name}")
    assert answer.args["text"].startswith("No such subscription in this channel")
    await world.sender.command("subscriptions", world.slack.response_url("list"), channel_id="C0VIP")
    [listed] = await world.slack.wait_for("response_url:list")
    assert "#2" in listed.args["text"] and "#1" not in listed.args["text"]


async def test_a_muted_incident_is_not_posted(subscribed: SlackWorld) -> None:
    world = subscribed
    await world.sender.command(f"mute {HIGH_B}", world.slack.response_url("mute"), channel_id="C0HIGH")
    await world.slack.wait_for("response_url:mute")
    create_incident(world.api, HIGH_A, severity="high")
    create_incident(world.api, HIGH_B, severity="high")
    await wait_until(lambda: len(posts(world)) >= 1, within=10)
    await asyncio.sleep(3 * POLL)
    await world.settle()
    assert [incident_of(c) for c in posts(world)] == [HIGH_A]


async def test_a_channel_the_bot_left_pauses_and_the_maker_is_told(subscribed: SlackWorld) -> None:
    world = subscribed
    world.slack.fail_next("chat.postMessage", error="not_in_channel", status=200, count=1)
    create_incident(world.api, HIGH_A, severity="high")

    def told_the_maker() -> bool:
        return any(c.args.get("channel") == "U0WRITER" for c in world.slack.calls_to("chat.postMessage"))

    await wait_until(told_the_maker, within=10)
    await world.settle()
    [told] = [c for c in world.slack.calls_to("chat.postMessage") if c.args.get("channel") == "U0WRITER"]
    assert "#1" in told.args["text"] and "paused" in told.args["text"]
    await world.sender.command("subscriptions", world.slack.response_url("list"), channel_id="C0HIGH")
    [listed] = await world.slack.wait_for("response_url:list")
    assert "paused" in listed.args["text"]
