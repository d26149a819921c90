"""Slack's clock: with the incident API slow (4 s, 10 s) and nothing cached, every listener still
acks within 3 s, and a modal opens within 2 s of the click (filled by views.update once read)."""

from __future__ import annotations

import time

import pytest

from bot.blocks.ids import ActionId, CallbackId
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import INCIDENT, click, more
from tests.world import link_shared

ACK_WITHIN = 3.0
MODAL_WITHIN = 2.0
MODAL_BUTTONS = [ActionId.COMMENT, ActionId.ASSIGN, ActionId.RESOLVE, more(ActionId.TAGS)]


@pytest.fixture(params=[4.0, 10.0], ids=["api-4s", "api-10s"])
async def slow_world(request: pytest.FixtureRequest, start_world: WorldFactory) -> SlackWorld:
    world = await start_world(incident_api_timeout=15.0, incident_api_deadline=30.0)
    world.api.latency = request.param  # after start-up: the readiness probe has been answered
    return world


@pytest.mark.parametrize("button", MODAL_BUTTONS, ids=["comment", "assign", "resolve", "tags"])
async def test_a_modal_opens_at_once_and_is_filled_when_the_incident_arrives(
    slow_world: SlackWorld, button: object
) -> None:
    payload = click(slow_world, "message", button)  # type: ignore[arg-type]
    clicked = time.monotonic()
    answer = await slow_world.interact(payload)
    assert answer.status == 200 and answer.elapsed < ACK_WITHIN
    [opened] = await slow_world.slack.wait_for("views.open", timeout=MODAL_WITHIN)
    assert opened.time - clicked < MODAL_WITHIN
    assert opened.args["view"]["callback_id"] == CallbackId.PENDING_MODAL
    [filled] = await slow_world.slack.wait_for("views.update", timeout=slow_world.api.latency + 5)
    assert filled.args["view"]["callback_id"] != CallbackId.PENDING_MODAL
    assert "submit" in filled.args["view"]  # the form, with the incident's data


async def test_a_command_and_an_unfurl_are_acked_in_time(slow_world: SlackWorld) -> None:
    command = await slow_world.command(INCIDENT, response="slow")
    assert command.status == 200 and command.elapsed < ACK_WITHIN
    link = f"https://security.microsoft.com/incidents/{INCIDENT}"
    event = await slow_world.event(link_shared([link], event_id="EvSLOWCLOCK"))
    assert event.status == 200 and event.elapsed < ACK_WITHIN
    await slow_world.slack.wait_for("response_url:slow", timeout=slow_world.api.latency + 5)
