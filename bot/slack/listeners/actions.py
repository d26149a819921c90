"""Card buttons and menus: modals open while trigger_id is fresh; everything else is queued, then acked."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ActionId
from bot.blocks.pending_modals import build_loading_modal
from bot.blocks.refs import IncidentRef, decode_more_value, ref_for_click
from bot.jobs import (
    AssignToMe,
    Change,
    FillModal,
    RefreshCard,
    Reopen,
    ShareIncident,
    StartProgress,
    Unassign,
    WriteIncident,
    submit_job,
)
from bot.state.intake import Intake
from bot.state.once import Once

# Buttons that change the incident straight away, and the write each one queues.
DIRECT_WRITES: dict[ActionId, Change] = {
    ActionId.ASSIGN_ME: AssignToMe(),
    ActionId.UNASSIGN: Unassign(),
    ActionId.REOPEN: Reopen(),
    ActionId.IN_PROGRESS: StartProgress(),
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
    if ref.channel is None:  # a click always names its channel; there is nowhere to share otherwise
        await ack()
        return
    user = body["user"]["id"]
    await submit_job(
        intake, ShareIncident(user_id=user, ref=ref, channel_id=ref.channel, click=click_key(body, action))
    )
    await ack()


async def handle_open(ack: AsyncAck) -> None:
    """The URL button opens the portal in the browser; Slack still expects an ack."""
    await ack()


async def handle_refresh(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake) -> None:
    _, ref = _clicked(body, action)
    await submit_job(intake, RefreshCard(user_id=body["user"]["id"], ref=ref))
    await ack()


async def queue_write(
    intake: Intake, once: Once, body: dict[str, Any], action: dict[str, Any], change: Change, ref: IncidentRef
) -> None:
    """Queue one write; a second click on the same thing within a few seconds is dropped."""
    user_id = body["user"]["id"]
    if not await once.first_within(f"click:{user_id}:{change.op}:{ref.id}", DOUBLE_CLICK_SECONDS):
        return
    job = WriteIncident(user_id=user_id, ref=ref, key=click_key(body, action), change=change)
    await submit_job(intake, job)


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
) -> None:
    """The overflow menu: Tags… opens a modal, the others write directly."""
    chosen, ref = _clicked(body, action)
    if chosen in MODAL_BUTTONS:
        await open_modal(chosen, ref, body, client, intake)
    elif chosen in DIRECT_WRITES:
        await queue_write(intake, once, body, action, DIRECT_WRITES[chosen], ref)
    await ack()


async def handle_modal_button(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, intake: Intake
) -> None:
    chosen, ref = _clicked(body, action)
    await open_modal(chosen, ref, body, client, intake)
    await ack()


async def open_modal(
    chosen: ActionId, ref: IncidentRef, body: dict[str, Any], client: AsyncWebClient, intake: Intake
) -> None:
    """Open the modal at once ("Loading…", while trigger_id is good), and queue filling it in.

    Nothing here waits for the incident API or for the writer check: the job does both, and
    replaces the modal with the form or with the reason there is none.
    """
    opened = await client.views_open(trigger_id=body["trigger_id"], view=build_loading_modal(chosen, ref))
    view = opened.get("view") or {}
    job = FillModal(
        user_id=body["user"]["id"],
        modal=chosen,
        ref=ref,
        view_id=str(view.get("id")),
        view_hash=view.get("hash"),
    )
    await submit_job(intake, job)
