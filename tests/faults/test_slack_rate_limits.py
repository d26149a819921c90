"""Slack answering 429 (Retry-After) to chat.unfurl and chat.postEphemeral.

slack_sdk's rate-limit handler waits Retry-After and sends again; past its retries the job is
retried by the intake. Either way the unfurl or the ephemeral message arrives exactly once.
"""

from __future__ import annotations

import asyncio

from bot.blocks.ids import ActionId
from tests.faults.conftest import link_event, message_ts, unfurls_of
from tests.listeners.conftest import WorldFactory
from tests.listeners.test_actions import click

RATE_LIMITED = 429


async def test_a_rate_limited_chat_unfurl_is_sent_again_after_retry_after(start_ready: WorldFactory) -> None:
    world = await start_ready()
    world.slack.fail_next("chat.unfurl", retry_after=1)
    assert (await world.event(link_event("2972395", 1))).status == 200
    first, second = await world.slack.wait_for("chat.unfurl", count=2, timeout=10)
    assert second.time - first.time >= 1.0  # Retry-After was honoured
    assert second.args["unfurls"] == first.args["unfurls"]
    await world.settle()
    await asyncio.sleep(0.2)
    # one refused by Slack, one accepted: the person sees the unfurl once
    assert len(unfurls_of(world.slack, message_ts(1))) == 2


async def test_chat_unfurl_limited_past_the_sdk_retries_is_delivered_once_by_the_job_retry(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready()
    # slack_sdk tries 1 + 3 times; all four are refused, the job fails and runs again
    world.slack.fail_next("chat.unfurl", retry_after=0, count=4)
    assert (await world.event(link_event("2972395", 2))).status == 200
    calls = await world.slack.wait_for("chat.unfurl", count=5, timeout=15)
    await world.settle()
    await asyncio.sleep(0.2)
    assert len(unfurls_of(world.slack, message_ts(2))) == len(calls) == 5  # four refused, one accepted
    assert world.api.count("GET", "/security/incidents/2972395") == 1  # the retry read the cache


async def test_a_rate_limited_ephemeral_arrives_once_and_the_click_is_acked_in_time(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready()
    world.slack.fail_next("views.open", retry_after=1)
    # Comment… opens its modal before the ack: a 429 on views.open is waited out inside Slack's 3 s
    answer = await world.interact(click(world, "message", ActionId.COMMENT))
    assert answer.status == 200
    assert answer.elapsed < 3.0  # within Slack's 3 s, Retry-After included
    first, second = world.slack.calls_to("views.open")
    assert second.time - first.time >= 1.0
    [filled] = await world.slack.wait_for("views.update")
    assert filled.args["view"]["callback_id"] == "incident-comment-modal"
    await asyncio.sleep(0.2)
    assert len(world.slack.calls_to("views.open")) == 2  # one refused, one delivered
