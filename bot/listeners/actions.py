"""Card buttons and menus: modals open while trigger_id is fresh; everything else is queued, then acked."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ActionId
from bot.blocks.modals import build_assign_modal, build_comment_modal, build_resolve_modal, build_tags_modal
from bot.blocks.refs import IncidentRef, decode_more_value
from bot.incidents import IncidentService
from bot.intake import Intake
from bot.once import Once
from bot.people import People
from bot.work.places import ref_for_click
from bot.work.writing import refusal_text

# Buttons that change the incident straight away, and the write each one queues.
DIRECT_WRITES = {
    ActionId.ASSIGN_ME: "assign_me",
    ActionId.UNASSIGN: "unassign",
    ActionId.REOPEN: "reopen",
    ActionId.IN_PROGRESS: "in_progress",
}
MODAL_BUTTONS = (ActionId.COMMENT, ActionId.ASSIGN, ActionId.RESOLVE, ActionId.TAGS)
DOUBLE_CLICK_SECONDS = 5


def register(app: AsyncApp) -> None:
    app.action(ActionId.SHARE.value)(handle_share)
    app.action(ActionId.OPEN.value)(handle_open)
    app.action(ActionId.REFRESH.value)(handle_refresh)
    app.action(ActionId.MORE.value)(handle_more)
    for action_id in DIRECT_WRITES:
        app.action(action_id.value)(handle_direct_write)
    for action_id in MODAL_BUTTONS:
        app.action(action_id.value)(handle_modal_button)


def _clicked(body: dict[str, Any], action: dict[str, Any]) -> tuple[ActionId, IncidentRef]:
    """Which action on which incident, and where its card is, from a button or an overflow option."""
    if action["action_id"] == ActionId.MORE:
        chosen, incident_id = decode_more_value(action["selected_option"]["value"])
        return chosen, ref_for_click(body, incident_id, None)
    button_ref = IncidentRef.loads(action["value"])
    return ActionId(action["action_id"]), ref_for_click(body, button_ref.id, button_ref)


def click_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """The same click delivered twice gives the same key."""
    return f"{body['user']['id']}:{action['action_id']}:{action.get('action_ts', '')}"


async def handle_share(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, once: Once
) -> None:
    """Post the ephemeral card in the channel for everyone (once, however often it is clicked)."""
    _, ref = _clicked(body, action)
    if not await once.first_within(f"click:{body['user']['id']}:share:{ref.id}", DOUBLE_CLICK_SECONDS):
        await ack()
        return
    await intake.submit(
        "share",
        {
            "incident_id": ref.id,
            "user_id": body["user"]["id"],
            "channel_id": ref.channel,
            "response_url": ref.response_url,
            "action_key": click_key(body, action),
        },
    )
    await ack()


async def handle_open(ack: AsyncAck) -> None:
    """The URL button opens the portal in the browser; Slack still expects an ack."""
    await ack()


async def handle_refresh(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake) -> None:
    _, ref = _clicked(body, action)
    await intake.submit("refresh", {"ref": ref.dumps(), "user_id": body["user"]["id"]})
    await ack()


async def queue_write(
    intake: Intake, once: Once, body: dict[str, Any], action: dict[str, Any], op: str, ref: IncidentRef
) -> None:
    """Queue one write; a second click on the same thing within a few seconds is dropped."""
    user_id = body["user"]["id"]
    if not await once.first_within(f"click:{user_id}:{op}:{ref.id}", DOUBLE_CLICK_SECONDS):
        return
    payload = {"op": op, "ref": ref.dumps(), "user_id": user_id, "key": click_key(body, action), "args": {}}
    await intake.submit("write", payload)


async def handle_direct_write(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, once: Once
) -> None:
    chosen, ref = _clicked(body, action)
    await queue_write(intake, once, body, action, DIRECT_WRITES[chosen], ref)
    await ack()


async def handle_more(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    intake: Intake,
    once: Once,
    client: AsyncWebClient,
    incidents: IncidentService,
    people: People,
) -> None:
    """The overflow menu: Tags… opens a modal, the others write directly."""
    chosen, ref = _clicked(body, action)
    if chosen in MODAL_BUTTONS:
        await open_modal(chosen, ref, body, client, incidents, people)
    elif chosen in DIRECT_WRITES:
        await queue_write(intake, once, body, action, DIRECT_WRITES[chosen], ref)
    await ack()


async def handle_modal_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    incidents: IncidentService,
    people: People,
) -> None:
    chosen, ref = _clicked(body, action)
    await open_modal(chosen, ref, body, client, incidents, people)
    await ack()


async def open_modal(
    chosen: ActionId,
    ref: IncidentRef,
    body: dict[str, Any],
    client: AsyncWebClient,
    incidents: IncidentService,
    people: People,
) -> None:
    """Open the modal for `chosen` (refusing people who may not write, before they type anything)."""
    user_id = body["user"]["id"]
    if not await people.may_write(user_id):
        await client.chat_postEphemeral(
            channel=ref.channel or user_id, user=user_id, text=refusal_text(people)
        )
        return
    incident = (await incidents.get(ref.id)).incident
    if chosen == ActionId.COMMENT:
        view = build_comment_modal(ref, incident.display_name)
    elif chosen == ActionId.ASSIGN:
        view = build_assign_modal(ref, incident.assigned_to)
    elif chosen == ActionId.RESOLVE:
        view = build_resolve_modal(ref, incident)
    else:
        view = build_tags_modal(ref, incident.custom_tags)
    await client.views_open(trigger_id=body["trigger_id"], view=view)
