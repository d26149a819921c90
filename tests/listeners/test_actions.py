"""Card buttons end to end: signed block_actions in, writes at the fake API, the card redrawn in place.

The helpers here build interactions the way Slack sends them (templates in tests/data/slack) and
are shared by the other action test files (test_views, test_authorization, test_exactly_once, ...).
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from tests.fakes import FakeSlackApi, SlackCall
from tests.listeners.conftest import SEAL, SlackWorld, WorldFactory, portal_link, slack_payload
from tests.world import CHANNEL, WRITER

INCIDENT = "2972395"
GRAPH_PATH = f"/v1.0/security/incidents/{INCIDENT}"
UNFURL_URL = portal_link(INCIDENT)
# where the templates put the clicked card
MESSAGE_TS = "1700000000.000100"
CONTAINERS = ("message", "ephemeral", "unfurl")
_ACTION_TS = itertools.count(1)


def action_ts() -> str:
    """A fresh action_ts: every real click has its own."""
    return f"1700000100.{next(_ACTION_TS):06d}"


def click(
    world: SlackWorld,
    container: str,
    action: ActionId | dict[str, Any],
    incident_id: str = INCIDENT,
    *,
    user: str = WRITER,
    response: str = "click",
) -> dict[str, Any]:
    """A block_actions payload: `action` is a card button id (built like the card builds it) or an element.

    `container` is "message" (a channel message), "ephemeral" (the /incident answer) or "unfurl".
    """
    payload = copy.deepcopy(slack_payload(f"block_actions_{container}"))
    unfurl_url = UNFURL_URL if container == "unfurl" else None
    if isinstance(action, ActionId):
        element: dict[str, Any] = {
            "type": "button",
            "action_id": action.value,
            "block_id": BlockId.CARD_ACTIONS.value,
            "text": {"type": "plain_text", "text": action.value},
            "value": SEAL.button_value(incident_id, unfurl_url),
        }
    else:
        element = copy.deepcopy(action)
    element.setdefault("block_id", BlockId.CARD_ACTIONS.value)
    element["action_ts"] = action_ts()
    payload["actions"] = [element]
    payload["user"]["id"] = user
    payload["response_url"] = world.slack.response_url(response)
    if container == "unfurl":
        payload["app_unfurl"]["app_unfurl_url"] = UNFURL_URL
        payload["container"]["app_unfurl_url"] = UNFURL_URL
    return payload


def more(action: ActionId, incident_id: str = INCIDENT) -> dict[str, Any]:
    """The card's overflow menu with `action` chosen."""
    return {
        "type": "overflow",
        "action_id": ActionId.MORE.value,
        "selected_option": {
            "text": {"type": "plain_text", "text": action.value},
            "value": SEAL.option_value(action, incident_id),
        },
    }


def card_element(blocks: list[dict[str, Any]], action_id: ActionId) -> dict[str, Any]:
    """A button (or the overflow menu) of a card the bot sent."""
    for block in blocks:
        if block.get("block_id") == BlockId.CARD_ACTIONS:
            for element in block["elements"]:
                if element["action_id"] == action_id:
                    return dict(element)
    raise AssertionError(f"no {action_id} in the card")


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b.get("type") == "actions" for e in b["elements"]]


def writes(world: SlackWorld) -> list[Any]:
    """Every request that changed something at the incident API (Graph PATCH/POST, legacy PATCH)."""
    return [r for r in world.api.requests if r.method in ("PATCH", "POST")]


def incident_gets(world: SlackWorld, incident_id: str = INCIDENT) -> int:
    return sum(1 for r in world.api.requests if r.method == "GET" and r.path.endswith(f"/{incident_id}"))


def told(slack: FakeSlackApi, response: str = "click") -> list[str]:
    """Texts of the ephemeral notes sent to the clicking user (response_url or chat.postEphemeral)."""
    notes = [
        c.args.get("text", "")
        for c in slack.calls_to(f"response_url:{response}")
        if not c.args.get("replace_original") and not c.args.get("delete_original")
    ]
    return notes + [c.args.get("text", "") for c in slack.calls_to("chat.postEphemeral")]


def redraws(slack: FakeSlackApi, response: str = "click") -> list[SlackCall]:
    """Card redraws: chat.update, chat.unfurl, or a response_url reply replacing the original."""
    return [
        c
        for c in slack.calls
        if c.method in ("chat.update", "chat.unfurl")
        or (c.method == f"response_url:{response}" and c.args.get("replace_original") is True)
    ]


def redrawn_blocks(call: SlackCall) -> list[dict[str, Any]]:
    if call.method == "chat.unfurl":
        [unfurl] = call.args["unfurls"].values()
        blocks: list[dict[str, Any]] = unfurl["blocks"]
        return blocks
    return list(call.args["blocks"])


def text_of(blocks: object) -> str:
    return json.dumps(blocks)


def card_field(blocks: list[dict[str, Any]], label: str) -> str:
    """The value of one of the card's key fields, e.g. "Assigned to"."""
    for block in blocks:
        for field in block.get("fields") or []:
            head, _, value = str(field["text"]).partition("\n")
            if head == f"*{label}*":
                return value
    raise AssertionError(f"no {label} field in the card")


# ---- Assign to me from each kind of card -------------------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
async def test_assign_to_me_patches_and_redraws_where_clicked(world: SlackWorld, container: str) -> None:
    answer = await world.interact(click(world, container, ActionId.ASSIGN_ME))
    assert answer.status == 200
    await world.settle()

    [patch] = writes(world)
    assert (patch.method, patch.path, patch.json) == ("PATCH", GRAPH_PATH, {"assignedTo": "jane@contoso.com"})
    [redraw] = redraws(world.slack)
    if container == "message":
        assert redraw.method == "chat.update"
        assert (redraw.args["channel"], redraw.args["ts"]) == (CHANNEL, MESSAGE_TS)
    elif container == "ephemeral":
        assert redraw.method == "response_url:click"
        assert redraw.args["replace_original"] is True
        assert "incident-share" in action_ids(redraw.args["blocks"])  # still the shareable card
    else:
        assert redraw.method == "chat.unfurl"
        assert (redraw.args["channel"], redraw.args["ts"]) == (CHANNEL, MESSAGE_TS)
        assert list(redraw.args["unfurls"]) == [UNFURL_URL]
    assert card_field(redrawn_blocks(redraw), "Assigned to") == "jane@contoso.com"

    # the cache holds the API's answer: /incident shows it, in its ack, without another read
    gets = incident_gets(world)
    answer = await world.command(INCIDENT, response="after")
    assert card_field(answer.json()["blocks"], "Assigned to") == "jane@contoso.com"
    assert incident_gets(world) == gets


async def test_click_on_the_card_the_bot_sent_from_incident_command(world: SlackWorld) -> None:
    """/incident → the ephemeral card → its own Assign to me button, as Slack would send it back."""
    await world.command(INCIDENT, response="cmd")
    [card] = await world.slack.wait_for("response_url:cmd")
    button = card_element(card.args["blocks"], ActionId.ASSIGN_ME)
    await world.interact(click(world, "ephemeral", button, response="cmd"))
    await world.settle()
    assert [r.json for r in writes(world)] == [{"assignedTo": "jane@contoso.com"}]
    redraw = world.slack.calls_to("response_url:cmd")[-1]
    assert redraw.args["replace_original"] is True
    assert card_field(redraw.args["blocks"], "Assigned to") == "jane@contoso.com"
    assert "alerts:*" in text_of(redraw.args["blocks"])  # kept from the cached read (PATCH has none)


async def test_click_in_an_unfurl_the_bot_made_redraws_that_unfurl(world: SlackWorld) -> None:
    event = copy.deepcopy(slack_payload("link_shared"))
    event["event"]["links"] = [{"domain": "security.microsoft.com", "url": UNFURL_URL}]
    await world.event(event)
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    button = card_element(unfurl.args["unfurls"][UNFURL_URL]["blocks"], ActionId.ASSIGN_ME)
    assert SEAL.open(button["value"]).url == UNFURL_URL
    await world.interact(click(world, "unfurl", button))
    await world.settle()
    [_, redraw] = world.slack.calls_to("chat.unfurl")
    assert (redraw.args["channel"], redraw.args["ts"]) == (CHANNEL, unfurl.args["ts"])
    assert card_field(redraw.args["unfurls"][UNFURL_URL]["blocks"], "Assigned to") == "jane@contoso.com"


async def test_a_write_on_a_cold_cache_keeps_the_alerts_on_the_card(world: SlackWorld) -> None:
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.settle()
    [redraw] = world.slack.calls_to("chat.update")
    assert "alerts:*" in text_of(redraw.args["blocks"])


async def test_user_without_email_is_told_why_assign_to_me_cannot_work(start_world: WorldFactory) -> None:
    world = await start_world(incident_writers="U0WRITER,U0NOMAIL")
    world.slack.users["U0NOMAIL"] = {"id": "U0NOMAIL", "name": "nomail", "profile": {"real_name": "No Mail"}}
    await world.interact(click(world, "message", ActionId.ASSIGN_ME, user="U0NOMAIL"))
    await world.settle()
    assert writes(world) == []
    [note] = told(world.slack)
    assert "no e-mail" in note
    assert "Assign…" in note


async def test_profile_lookup_is_cached_across_writes(world: SlackWorld) -> None:
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.interact(click(world, "message", more(ActionId.IN_PROGRESS)))
    await world.settle()
    assert len(writes(world)) == 2
    assert len(world.slack.calls_to("users.info")) == 1


# ---- other direct writes ---------------------------------------------------------------------


async def test_unassign_from_the_overflow_menu(world: SlackWorld) -> None:
    await world.interact(click(world, "unfurl", more(ActionId.UNASSIGN)))
    await world.settle()
    assert [(r.method, r.path, r.json) for r in writes(world)] == [("PATCH", GRAPH_PATH, {"assignedTo": ""})]
    [redraw] = world.slack.calls_to("chat.unfurl")
    assert list(redraw.args["unfurls"]) == [UNFURL_URL]  # the URL came from the payload's app_unfurl
    assert card_field(redrawn_blocks(redraw), "Assigned to") == "_Unassigned_"


async def test_set_in_progress_from_the_overflow_menu(world: SlackWorld) -> None:
    await world.interact(click(world, "message", more(ActionId.IN_PROGRESS)))
    await world.settle()
    assert [r.json for r in writes(world)] == [{"status": "inProgress"}]
    [redraw] = world.slack.calls_to("chat.update")
    assert card_field(redraw.args["blocks"], "Status") == "In progress"


async def test_reopen_a_resolved_incident(world: SlackWorld) -> None:
    stored = world.api.get("v1.0", INCIDENT)
    assert stored is not None
    world.api.put("v1.0", {**stored, "status": "resolved"})
    await world.command(INCIDENT, response="cmd")
    [card] = await world.slack.wait_for("response_url:cmd")
    reopen = card_element(card.args["blocks"], ActionId.REOPEN)
    await world.interact(click(world, "message", reopen))
    await world.settle()
    assert [r.json for r in writes(world)] == [{"status": "active"}]
    [redraw] = world.slack.calls_to("chat.update")
    assert "incident-resolve" in action_ids(redraw.args["blocks"])  # Resolve… is back
