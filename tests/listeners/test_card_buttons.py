"""Refresh, Share in channel, and the buttons that open modals (views.open with the card's place)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from tests.listeners.conftest import READER, SEAL, SlackWorld
from tests.listeners.test_actions import (
    CONTAINERS,
    INCIDENT,
    MESSAGE_TS,
    UNFURL_URL,
    action_ids,
    card_element,
    card_field,
    click,
    incident_gets,
    more,
    redrawn_blocks,
    redraws,
    text_of,
    told,
    writes,
)
from tests.world import CHANNEL

# ---- Refresh and Share ----------------------------------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
async def test_refresh_reads_past_the_cache_and_redraws(world: SlackWorld, container: str) -> None:
    await world.command(INCIDENT, response="cmd")
    await world.slack.wait_for("response_url:cmd")
    before = incident_gets(world)
    world.api.incidents["v1.0"][INCIDENT]["assignedTo"] = "someone.else@contoso.com"  # changed in Defender
    await world.interact(click(world, container, ActionId.REFRESH))
    await world.settle()
    assert incident_gets(world) == before + 1
    assert writes(world) == []
    [redraw] = redraws(world.slack)
    assert card_field(redrawn_blocks(redraw), "Assigned to") == "someone.else@contoso.com"


async def test_share_posts_the_card_in_the_channel_and_deletes_the_ephemeral(world: SlackWorld) -> None:
    await world.command(INCIDENT, response="cmd")
    [card] = await world.slack.wait_for("response_url:cmd")
    share = card_element(card.args["blocks"], ActionId.SHARE)
    await world.interact(click(world, "ephemeral", share, response="cmd"))
    await world.settle()
    [post] = world.slack.calls_to("chat.postMessage")
    assert post.args["channel"] == CHANNEL
    assert "Shared by <@U0WRITER>" in text_of(post.args["blocks"])
    assert "incident-share" not in action_ids(post.args["blocks"])  # the shared card is not shareable again
    assert world.slack.calls_to("response_url:cmd")[-1].args == {"delete_original": True}
    assert writes(world) == []


async def test_share_not_in_channel_asks_to_invite_the_bot(world: SlackWorld) -> None:
    world.slack.fail_next("chat.postMessage", error="not_in_channel", status=200)
    await world.interact(click(world, "ephemeral", ActionId.SHARE))
    await world.settle()
    [note] = told(world.slack)
    assert "/invite" in note
    assert not any(c.args.get("delete_original") for c in world.slack.calls_to("response_url:click"))


async def test_double_click_on_share_posts_once(world: SlackWorld) -> None:
    await world.interact(click(world, "ephemeral", ActionId.SHARE))
    await world.interact(click(world, "ephemeral", ActionId.SHARE))
    await world.settle()
    assert len(world.slack.calls_to("chat.postMessage")) == 1


# ---- modal buttons: views.open with the modal and the card's place --------------------------


@pytest.mark.parametrize("container", CONTAINERS)
async def test_add_comment_opens_the_comment_modal_carrying_the_cards_place(
    world: SlackWorld, container: str
) -> None:
    payload = click(world, container, ActionId.COMMENT)
    answer = await world.interact(payload)
    assert answer.status == 200
    [opened] = world.slack.calls_to("views.open")
    assert opened.args["trigger_id"] == payload["trigger_id"]
    assert opened.args["view"]["callback_id"] == "incident-pending-modal"  # "Loading…", at once
    [filled] = await world.slack.wait_for("views.update")
    view = filled.args["view"]
    assert view["callback_id"] == "incident-comment-modal"
    [text_input] = [b for b in view["blocks"] if b.get("block_id") == BlockId.COMMENT_INPUT]
    assert text_input["element"]["multiline"] is True
    assert text_input["element"]["max_length"] == 1000  # Slack refuses longer text in the modal
    ref = SEAL.open(view["private_metadata"])
    assert ref.id == INCIDENT
    assert ref.response_url == world.slack.response_url("click")
    if container == "unfurl":
        assert (ref.url, ref.channel, ref.ts) == (UNFURL_URL, CHANNEL, MESSAGE_TS)
    elif container == "message":
        assert (ref.url, ref.channel, ref.ts) == (None, CHANNEL, MESSAGE_TS)
    else:
        assert (ref.url, ref.ts) == (None, None)  # an ephemeral is redrawn through its response_url


@pytest.mark.parametrize(
    ("action", "callback_id"),
    [
        (ActionId.ASSIGN, "incident-assign-modal"),
        (ActionId.RESOLVE, "incident-resolve-modal"),
        (more(ActionId.TAGS), "incident-tags-modal"),
    ],
    ids=["assign", "resolve", "tags"],
)
async def test_modal_buttons_open_their_modal(world: SlackWorld, action: Any, callback_id: str) -> None:
    answer = await world.interact(click(world, "message", action))
    assert answer.status == 200
    [filled] = await world.slack.wait_for("views.update")
    assert filled.args["view"]["callback_id"] == callback_id
    assert writes(world) == []


async def test_a_writer_on_a_fresh_incident_gets_the_form_at_once_with_no_job(world: SlackWorld) -> None:
    await world.command(INCIDENT, response="warm")
    await world.slack.wait_for("response_url:warm")
    await world.settle()
    gets = world.api.count("GET", f"/security/incidents/{INCIDENT}")
    await world.interact(click(world, "message", ActionId.COMMENT))
    [opened] = await world.slack.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == "incident-comment-modal"  # the form, not "Loading…"
    assert SEAL.open(opened.args["view"]["private_metadata"]).id == INCIDENT
    await world.settle()
    assert world.slack.calls_to("views.update") == []
    assert world.api.count("GET", f"/security/incidents/{INCIDENT}") == gets


async def test_a_person_not_named_a_writer_still_gets_loading_then_the_jobs_answer(world: SlackWorld) -> None:
    await world.command(INCIDENT, response="warm")
    await world.slack.wait_for("response_url:warm")
    await world.interact(click(world, "message", ActionId.COMMENT, user=READER))
    [opened] = await world.slack.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == "incident-pending-modal"
    [filled] = await world.slack.wait_for("views.update")
    assert filled.args["view"].get("callback_id") != "incident-comment-modal"  # the refusal, not the form
