"""Every path that puts an incident into a conversation follows the policy: "Share in channel" warns
before it posts the limited card where outsiders read (and posts nothing where the policy says
none), and the live refresh of a redacted card stays redacted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.blocks.ids import ActionId, BlockId
from tests.listeners.conftest import SlackWorld, portal_link
from tests.listeners.test_actions import click, told
from tests.listeners.test_events import link_event
from tests.policy.conftest import fixture_strings, leaks

INCIDENT = "2972395"


def in_channel(payload: dict[str, Any], channel: str) -> dict[str, Any]:
    payload["container"]["channel_id"] = channel
    payload["channel"]["id"] = channel
    return payload


def share_click(world: SlackWorld, channel: str, action: Any = ActionId.SHARE) -> dict[str, Any]:
    return in_channel(click(world, "ephemeral", action, response="cmd"), channel)


async def test_share_into_a_public_channel_warns_then_posts_the_limited_card(world: SlackWorld) -> None:
    await world.interact(share_click(world, "C0PUBLIC"))
    await world.settle()
    assert world.slack.calls_to("chat.postMessage") == []
    [warning] = world.slack.calls_to("response_url:cmd")
    assert warning.args["replace_original"] is False
    assert "People outside your security team may read this conversation" in json.dumps(warning.args)
    [actions] = [b for b in warning.args["blocks"] if b.get("block_id") == BlockId.SHARE_WARNING_ACTIONS]
    [confirm] = actions["elements"]
    assert confirm["action_id"] == ActionId.SHARE_CONFIRMED
    await world.interact(share_click(world, "C0PUBLIC", {**confirm, "block_id": actions["block_id"]}))
    await world.settle()
    [post] = world.slack.calls_to("chat.postMessage")
    assert post.args["channel"] == "C0PUBLIC"
    assert leaks(post.args, fixture_strings(INCIDENT)) == []
    assert "Shared by <@U0WRITER>" in json.dumps(post.args["blocks"])
    assert ActionId.SHOW_DETAILS.value in json.dumps(post.args["blocks"])


async def test_share_into_a_private_channel_posts_the_full_card_at_once(world: SlackWorld) -> None:
    await world.interact(share_click(world, "C0PRIV"))
    await world.settle()
    [post] = world.slack.calls_to("chat.postMessage")
    assert "Multi-stage incident involving Initial access" in json.dumps(post.args)


async def test_share_where_the_policy_says_none_posts_nothing(start_world: Any) -> None:
    world = await start_world(unfurl_detail="shared=none")
    await world.interact(share_click(world, "C0PARTNER"))
    await world.settle()
    assert world.slack.calls_to("chat.postMessage") == []
    assert told(world.slack, "cmd")[0].startswith("Not shared: incident details are not shown")


async def test_a_live_refresh_of_a_redacted_unfurl_stays_redacted(start_world: Any) -> None:
    world = await start_world(live_poll_seconds=1)
    await world.event(link_event([portal_link(INCIDENT)], event_id="EvLIVE", channel="C0PUBLIC"))
    await world.slack.wait_for("chat.unfurl")
    await world.settle()
    await asyncio.sleep(1.1)  # the change comes after the card's version
    world.api.change("v1.0", INCIDENT, assignedTo="mallory@contoso.com", status="inProgress")
    calls = await world.slack.wait_for("chat.unfurl", count=2, timeout=10)
    refreshed = calls[1].args
    assert refreshed["channel"] == "C0PUBLIC"
    assert leaks(refreshed, fixture_strings(INCIDENT) | {"mallory@contoso.com"}) == []
    assert "In progress" in json.dumps(refreshed)
