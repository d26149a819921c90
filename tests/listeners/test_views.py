"""Modal submissions end to end: signed view_submission in, inline errors or one write at the fake API.

Every submitted view is the one the bot opened: a click on the card's button (or overflow option),
then the view it sent to views.open, with its private_metadata, echoed back as Slack does.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.modals import determination_block_id
from tests.listeners.conftest import SlackWorld, slack_payload
from tests.listeners.test_actions import (
    GRAPH_PATH,
    INCIDENT,
    MESSAGE_TS,
    UNFURL_URL,
    card_field,
    click,
    incident_gets,
    more,
    text_of,
    writes,
)
from tests.world import CHANNEL, WRITER

SIGNED = "— Jane Doe (jane@contoso.com) via Slack"
COMMENTS_PATH = f"{GRAPH_PATH}/comments"
MODAL_BUTTONS: dict[str, ActionId | dict[str, Any]] = {
    "comment": ActionId.COMMENT,
    "assign": ActionId.ASSIGN,
    "resolve": ActionId.RESOLVE,
    "tags": more(ActionId.TAGS),
}


async def modal(
    world: SlackWorld, kind: str, container: str = "message", incident_id: str = INCIDENT
) -> dict[str, Any]:
    """Click the button for `kind` (comment, assign, resolve, tags) on a card in `container`, as the
    writer, and return the view the bot put in the modal: the form at once when the incident is
    fresh in the cache, else "Loading…" at once (views.open), then the form (views.update)."""
    return await opened_modal(world, click(world, container, MODAL_BUTTONS[kind], incident_id))


async def opened_modal(world: SlackWorld, payload: dict[str, Any]) -> dict[str, Any]:
    """Send the click `payload`; the form, as opened or as filled after its loading view."""
    seen_open, seen_update = (
        len(world.slack.calls_to("views.open")),
        len(world.slack.calls_to("views.update")),
    )
    answer = await world.interact(payload)
    assert answer.status == 200
    opened = (await world.slack.wait_for("views.open", count=seen_open + 1))[seen_open]
    if opened.args["view"]["callback_id"] != CallbackId.PENDING_MODAL:
        form: dict[str, Any] = opened.args["view"]
        return form
    filled = (await world.slack.wait_for("views.update", count=seen_update + 1))[seen_update]
    assert filled.args["view_id"] is not None
    view: dict[str, Any] = filled.args["view"]
    return view


def submission(
    view: dict[str, Any], values: dict[str, Any], *, user: str = WRITER, view_id: str = "V0VIEW0001"
) -> dict[str, Any]:
    """A view_submission of `view` (as the bot opened it) with the inputs' `values`."""
    payload = copy.deepcopy(slack_payload("view_submission"))
    payload["user"]["id"] = user
    payload["view"].update(
        id=view_id,
        root_view_id=view_id,
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        title=view["title"],
        state={"values": values},
    )
    return payload


def text_value(action: ActionId, value: str | None) -> dict[str, Any]:
    return {action.value: {"type": "plain_text_input", "value": value}}


def comment_values(text: str | None) -> dict[str, Any]:
    return {BlockId.COMMENT_INPUT.value: text_value(ActionId.COMMENT_TEXT, text)}


def assign_values(user: str | None = None, email: str | None = None) -> dict[str, Any]:
    return {
        BlockId.ASSIGNEE_USER_INPUT.value: {
            ActionId.ASSIGNEE_USER.value: {"type": "users_select", "selected_user": user}
        },
        BlockId.ASSIGNEE_EMAIL_INPUT.value: text_value(ActionId.ASSIGNEE_EMAIL, email),
    }


def selected(value: str | None) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value},
                                                         "value": value} if value else None}  # fmt: skip


def resolve_values(
    classification: str,
    determination: str | None,
    comment: str | None = None,
    *,
    det_block: str | None = None,
) -> dict[str, Any]:
    """`determination` is the option value, "classification:determination"."""
    return {
        BlockId.CLASSIFICATION_INPUT.value: {ActionId.CLASSIFICATION.value: selected(classification)},
        det_block or determination_block_id(classification): {
            ActionId.DETERMINATION.value: selected(determination)
        },
        BlockId.RESOLVE_COMMENT_INPUT.value: text_value(ActionId.RESOLVE_COMMENT, comment),
    }


def tags_values(kept: list[str], new: str | None) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": t}, "value": t} for t in kept]
    return {
        BlockId.TAGS_SELECT_INPUT.value: {
            ActionId.TAGS_SELECT.value: {"type": "multi_static_select", "selected_options": options}
        },
        BlockId.TAGS_NEW_INPUT.value: text_value(ActionId.TAGS_NEW, new),
    }


def inline_errors(answer: Any) -> dict[str, str]:
    body = answer.json()
    assert body["response_action"] == "errors", body
    errors: dict[str, str] = body["errors"]
    return errors


# ---- Add comment ----------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["message", "ephemeral"])
async def test_comment_is_posted_signed_and_the_card_redrawn(world: SlackWorld, container: str) -> None:
    view = await modal(world, "comment", container)
    answer = await world.interact(submission(view, comment_values("  Isolated WKSTN-0042.  ")))
    assert (answer.status, answer.text) == (200, "")  # the modal closes
    await world.settle()

    [post] = writes(world)
    assert (post.method, post.path) == ("POST", COMMENTS_PATH)
    assert post.json["@odata.type"] == "microsoft.graph.security.alertComment"
    assert post.json["comment"] == f"Isolated WKSTN-0042.\n\n{SIGNED}"
    assert post.json["comment"].endswith(SIGNED)
    if container == "message":
        [redraw] = world.slack.calls_to("chat.update")
        assert (redraw.args["channel"], redraw.args["ts"]) == (CHANNEL, MESSAGE_TS)
    else:
        [redraw] = world.slack.calls_to("response_url:click")
        assert redraw.args["replace_original"] is True
    assert "Isolated WKSTN-0042." in text_of(redraw.args["blocks"])

    # the read after the POST replaced the cached incident: /incident shows the comment in its ack,
    # no new read
    gets = incident_gets(world)
    answer = await world.command(INCIDENT, response="after")
    assert "Isolated WKSTN-0042." in text_of(answer.json()["blocks"])
    assert incident_gets(world) == gets


@pytest.mark.parametrize("text", [None, "", "   \n  "])
async def test_empty_comment_is_an_inline_error_and_nothing_is_written(
    world: SlackWorld, text: str | None
) -> None:
    answer = await world.interact(submission(await modal(world, "comment"), comment_values(text)))
    assert answer.status == 200
    assert list(inline_errors(answer)) == [BlockId.COMMENT_INPUT.value]
    await world.settle()
    assert writes(world) == []


async def test_comment_modal_limits_the_length_in_slack(world: SlackWorld) -> None:
    view = await modal(world, "comment")
    [block] = [b for b in view["blocks"] if b.get("block_id") == BlockId.COMMENT_INPUT]
    assert block["element"]["multiline"] is True
    assert block["element"]["max_length"] == 1000


async def test_comment_longer_than_the_modal_allows_is_an_inline_error(world: SlackWorld) -> None:
    answer = await world.interact(submission(await modal(world, "comment"), comment_values("x" * 1001)))
    assert list(inline_errors(answer)) == [BlockId.COMMENT_INPUT.value]
    await world.settle()
    assert writes(world) == []


# ---- Assign… ---------------------------------------------------------------------------------


async def test_assign_to_a_slack_user_uses_their_email(world: SlackWorld) -> None:
    answer = await world.interact(
        submission(await modal(world, "assign", "unfurl"), assign_values(user="U0READER"))
    )
    assert (answer.status, answer.text) == (200, "")
    await world.settle()
    assert [(r.method, r.path, r.json) for r in writes(world)] == [
        ("PATCH", GRAPH_PATH, {"assignedTo": "rob@contoso.com"})
    ]
    assert any(c.args.get("user") == "U0READER" for c in world.slack.calls_to("users.info"))
    [redraw] = world.slack.calls_to("chat.unfurl")
    assert card_field(redraw.args["unfurls"][UNFURL_URL]["blocks"], "Assigned to") == "rob@contoso.com"


async def test_assign_to_a_typed_address(world: SlackWorld) -> None:
    await world.interact(
        submission(await modal(world, "assign"), assign_values(email=" ext.analyst@fabrikam.com "))
    )
    await world.settle()
    assert [r.json for r in writes(world)] == [{"assignedTo": "ext.analyst@fabrikam.com"}]


@pytest.mark.parametrize("email", ["not-an-address", "a@b", "x@y.com, z@w.com", None])
async def test_invalid_address_is_an_inline_error(world: SlackWorld, email: str | None) -> None:
    answer = await world.interact(submission(await modal(world, "assign"), assign_values(email=email)))
    assert list(inline_errors(answer)) == [BlockId.ASSIGNEE_EMAIL_INPUT.value]
    await world.settle()
    assert writes(world) == []


async def test_slack_user_without_email_is_an_inline_error(world: SlackWorld) -> None:
    world.slack.users["U0NOMAIL"] = {"id": "U0NOMAIL", "name": "bot-ish", "profile": {"real_name": "No Mail"}}
    answer = await world.interact(submission(await modal(world, "assign"), assign_values(user="U0NOMAIL")))
    errors = inline_errors(answer)
    assert list(errors) == [BlockId.ASSIGNEE_USER_INPUT.value]
    assert "no e-mail" in errors[BlockId.ASSIGNEE_USER_INPUT.value]
    await world.settle()
    assert writes(world) == []


# ---- from the click, through views.open, to the write ------------------------------------------


async def test_comment_from_click_to_write(world: SlackWorld) -> None:
    view = await opened_modal(world, click(world, "unfurl", ActionId.COMMENT))
    await world.interact(submission(view, comment_values("Seen on two hosts.")))
    await world.settle()
    [post] = writes(world)
    assert post.json["comment"].endswith(SIGNED)
    [redraw] = world.slack.calls_to("chat.unfurl")
    assert list(redraw.args["unfurls"]) == [UNFURL_URL]


async def test_tags_from_the_overflow_menu_show_the_current_tags_preselected(world: SlackWorld) -> None:
    view = await opened_modal(world, click(world, "message", more(ActionId.TAGS)))
    [select] = [b for b in view["blocks"] if b.get("block_id") == BlockId.TAGS_SELECT_INPUT]
    assert [o["value"] for o in select["element"]["initial_options"]] == ["Demo"]
    await world.interact(submission(view, tags_values([], "triaged")))
    await world.settle()
    assert [r.json for r in writes(world)] == [{"customTags": ["triaged"]}]


async def test_a_comment_reaches_defender_without_control_or_bidi_characters(world: SlackWorld) -> None:
    view = await modal(world, "comment")
    typed = "Isolated\x00 WKSTN\x1b[2J-0042\x07 \u202etxt.exe\u202c, next: \u05e9\u05dc\u05d5\u05dd"
    await world.interact(submission(view, comment_values(typed)))
    await world.settle()
    [post] = writes(world)
    assert post.json["comment"].startswith("Isolated WKSTN[2J-0042 txt.exe, next: \u05e9\u05dc\u05d5\u05dd")
    assert not [c for c in post.json["comment"] if c in "\x00\x1b\x07\u202e\u202c"]
