"""Slack's clock: with the incident API slow (4 s, 10 s) and nothing cached, every listener still
acks within 3 s, and a modal opens within 2 s of the click (filled by views.update once read)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.blocks.ids import ActionId, CallbackId
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import INCIDENT, click, more
from tests.world import link_shared

ACK_WITHIN = 3.0
MODAL_WITHIN = 2.0
MODAL_BUTTONS = [ActionId.COMMENT, ActionId.ASSIGN, ActionId.RESOLVE, more(ActionId.TAGS)]


@pytest.mark.parametrize("latency", [4.0, 10.0], ids=["api-4s", "api-10s"])
async def test_every_listener_answers_in_time_while_the_api_is_slow(
    start_world: WorldFactory, latency: float
) -> None:
    world: SlackWorld = await start_world(incident_api_timeout=15.0, incident_api_deadline=30.0)
    world.api.latency = latency  # after start-up: the readiness probe has been answered
    clicks = [click(world, "message", button, response=f"click{n}") for n, button in enumerate(MODAL_BUTTONS)]
    started = time.monotonic()
    answers = await asyncio.gather(*(world.interact(payload) for payload in clicks))
    assert [a.status for a in answers] == [200] * 4 and max(a.elapsed for a in answers) < ACK_WITHIN
    opened = await world.slack.wait_for("views.open", count=4, timeout=MODAL_WITHIN)
    assert max(call.time for call in opened) - started < MODAL_WITHIN
    assert {call.args["view"]["callback_id"] for call in opened} == {CallbackId.PENDING_MODAL}

    command = await world.command(INCIDENT, response="slow")
    assert command.status == 200 and command.elapsed < ACK_WITHIN
    link = f"https://security.microsoft.com/incidents/{INCIDENT}"
    event = await world.event(link_shared([link], event_id="EvSLOWCLOCK"))
    assert event.status == 200 and event.elapsed < ACK_WITHIN

    # once the incident arrives (one GET for everyone), each modal is filled with its form
    filled = await world.slack.wait_for("views.update", count=4, timeout=latency + 5)
    assert {call.args["view"]["callback_id"] for call in filled} == {
        "incident-comment-modal", "incident-assign-modal", "incident-resolve-modal", "incident-tags-modal"
    }  # fmt: skip
    await world.slack.wait_for("response_url:slow", timeout=5)
    assert world.api.count("GET", f"/security/incidents/{INCIDENT}") == 1
