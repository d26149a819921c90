"""Card buttons and menus: modals open while trigger_id is fresh; everything else is queued, then acked.

A modal opens with its form at once when the incident is fresh in the cache and the person is a
named writer; otherwise it opens with "Loading…" and a job fills it.

What a click acts on comes from its sealed value only (bot/blocks/seal.py); a value the bot cannot
vouch for is answered "this card is out of date", and nothing is done.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ActionId
from bot.blocks.incident_list import decode_list_page
from bot.blocks.pending_modals import build_loading_modal, build_modal_for
from bot.blocks.refs import IncidentRef, is_response_url, ref_for_click
from bot.blocks.seal import CardOutOfDate, CardSeal, Sealed
from bot.incidents.service import IncidentService
from bot.jobs import (
    AssignToMe,
    Change,
    FillModal,
    ListIncidents,
    RefreshCard,
    Reopen,
    ShareIncident,
    ShowDetails,
    StartProgress,
    TellOutOfDate,
    Unassign,
    WriteIncident,
    submit_job,
)
from bot.people import People
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
_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,30}")
_VIEW = re.compile(r"V[A-Z0-9]{2,}")
_TEAM = re.compile(r"[TE][A-Z0-9]{2,30}")


def user_team(body: dict[str, Any]) -> str | None:
    """The clicker's own workspace (another organisation's for a Slack Connect guest), as the click
    says: `user.team_id`, else the payload's `team.id`; None when neither is a team id."""
    team = (body.get("user") or {}).get("team_id") or (body.get("team") or {}).get("id")
    return team if isinstance(team, str) and _TEAM.fullmatch(team) else None


def register(app: AsyncApp) -> None:
    app.action(ActionId.SHARE.value)(handle_share)
    app.action(ActionId.SHARE_CONFIRMED.value)(handle_share)
    app.action(ActionId.SHOW_DETAILS.value)(handle_show_details)
    app.action(ActionId.SHOW_ALERT_INCIDENT.value)(handle_show_details)
    app.action(ActionId.LIST_SHOW.value)(handle_show_details)
    app.action(ActionId.HOME_SHOW.value)(handle_show_details)
    app.action(ActionId.LIST_PAGE.value)(handle_list_page)
    app.action(ActionId.LIST_PAGE_PREVIOUS.value)(handle_list_page)
    app.action(ActionId.OPEN.value)(handle_open)
    app.action(ActionId.REFRESH.value)(handle_refresh)
    app.action(ActionId.MORE.value)(handle_more)
    for action_id in DIRECT_WRITES:
        app.action(action_id.value)(handle_direct_write)
    for action_id in MODAL_BUTTONS:
        app.action(action_id.value)(handle_modal_button)


def _opened(body: dict[str, Any], action: dict[str, Any], seal: CardSeal) -> tuple[ActionId, IncidentRef]:
    """Which action on which incident, and where its card is, from a button or an overflow option."""
    if action["action_id"] == ActionId.MORE:
        chosen, incident_id = seal.open_option((action.get("selected_option") or {}).get("value"))
        return chosen, ref_for_click(body, incident_id, None)
    button_ref = seal.open(action.get("value"))
    return ActionId(action["action_id"]), ref_for_click(body, button_ref.id, button_ref)


def out_of_date_job(body: dict[str, Any], error: CardOutOfDate) -> TellOutOfDate:
    """Where to say that a card or modal is out of date: the open modal, the card, or the channel."""
    url = body.get("response_url")
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
    view_id = (body.get("view") or {}).get("id")
    return TellOutOfDate(
        user_id=body["user"]["id"],
        incident_id=error.incident_id,
        response_url=url if isinstance(url, str) and is_response_url(url) else None,
        channel_id=channel if isinstance(channel, str) and _CHANNEL.fullmatch(channel) else None,
        view_id=view_id if isinstance(view_id, str) and _VIEW.fullmatch(view_id) else None,
    )


async def _clicked(
    body: dict[str, Any], action: dict[str, Any], seal: CardSeal, intake: Intake
) -> tuple[ActionId, IncidentRef] | None:
    """The click's action and card, or None once the person is being told the card is out of date."""
    try:
        return _opened(body, action, seal)
    except CardOutOfDate as error:
        await submit_job(intake, out_of_date_job(body, error))
        return None


def click_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """The same click delivered twice gives the same key."""
    return f"{body['user']['id']}:{action['action_id']}:{action.get('action_ts', '')}"


async def handle_share(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, once: Once, seal: CardSeal
) -> None:
    """Post the ephemeral card in the channel for everyone (once, however often it is clicked)."""
    if (clicked := await _clicked(body, action, seal, intake)) is None:
        await ack()
        return
    _, ref = clicked
    if not await once.first_within(
        f"click:{body['user']['id']}:{action['action_id']}:{ref.id}", DOUBLE_CLICK_SECONDS
    ):
        await ack()
        return
    if ref.channel is None:  # a click always names its channel; there is nowhere to share otherwise
        await ack()
        return
    user = body["user"]["id"]
    job = ShareIncident(
        user_id=user,
        user_team=user_team(body),
        ref=ref,
        channel_id=ref.channel,
        click=click_key(body, action),
        confirmed=action["action_id"] == ActionId.SHARE_CONFIRMED,
    )
    await submit_job(intake, job)
    await ack()


async def handle_show_details(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, once: Once, seal: CardSeal
) -> None:
    """The full card, ephemerally, to the clicker if they may see it (the job decides and answers)."""
    if (clicked := await _clicked(body, action, seal, intake)) is not None:
        _, ref = clicked
        user = body["user"]["id"]
        if await once.first_within(f"click:{user}:details:{ref.id}", DOUBLE_CLICK_SECONDS):
            await submit_job(intake, ShowDetails(user_id=user, user_team=user_team(body), ref=ref))
    await ack()


async def handle_list_page(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake
) -> None:
    """Next / Previous on an `/incident list` page: the job replaces the page with the other one.
    A value that is not a page (or a click without a response_url) is acked and dropped."""
    page = decode_list_page(action.get("value"))
    url = body.get("response_url")
    if page is not None and isinstance(url, str) and is_response_url(url):
        filter_text, number = page
        job = ListIncidents(user_id=body["user"]["id"], filter_text=filter_text, page=number,
                            response_url=url, replace=True)  # fmt: skip
        await submit_job(intake, job)
    await ack()


async def handle_open(ack: AsyncAck) -> None:
    """The URL button opens the portal in the browser; Slack still expects an ack."""
    await ack()


async def handle_refresh(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, seal: CardSeal
) -> None:
    if (clicked := await _clicked(body, action, seal, intake)) is not None:
        await submit_job(intake, RefreshCard(user_id=body["user"]["id"], ref=clicked[1]))
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
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, once: Once, seal: CardSeal
) -> None:
    if (clicked := await _clicked(body, action, seal, intake)) is not None:
        chosen, ref = clicked
        await queue_write(intake, once, body, action, DIRECT_WRITES[chosen], ref)
    await ack()


async def handle_more(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    intake: Intake,
    once: Once,
    client: AsyncWebClient,
    seal: CardSeal,
    incidents: IncidentService,
    people: People,
) -> None:
    """The overflow menu: Tags… opens a modal, the others write directly."""
    if (clicked := await _clicked(body, action, seal, intake)) is not None:
        chosen, ref = clicked
        if chosen in MODAL_BUTTONS:
            await open_modal(chosen, seal.seal(ref), body, client, intake, incidents, people)
        elif chosen in DIRECT_WRITES:
            await queue_write(intake, once, body, action, DIRECT_WRITES[chosen], ref)
    await ack()


async def handle_modal_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    intake: Intake,
    seal: CardSeal,
    incidents: IncidentService,
    people: People,
) -> None:
    if (clicked := await _clicked(body, action, seal, intake)) is not None:
        chosen, ref = clicked
        await open_modal(chosen, seal.seal(ref), body, client, intake, incidents, people)
    await ack()


async def open_modal(
    chosen: ActionId,
    ref: Sealed,
    body: dict[str, Any],
    client: AsyncWebClient,
    intake: Intake,
    incidents: IncidentService,
    people: People,
) -> None:
    """Open the modal at once, while trigger_id is good: the form itself when everything it needs
    is at hand (the incident fresh in the cache, the person a named writer), else "Loading…", and
    a job fills it in.

    Nothing here waits for the incident API or for Slack's user groups: the job does both, and
    replaces the modal with the form or with the reason there is none.
    """
    user_id = body["user"]["id"]
    snapshot = await incidents.cached(ref.id) if people.writes_without_asking(user_id) else None
    if snapshot is not None:
        await client.views_open(
            trigger_id=body["trigger_id"], view=build_modal_for(chosen, ref, snapshot.incident)
        )
        return
    opened = await client.views_open(trigger_id=body["trigger_id"], view=build_loading_modal(chosen, ref))
    view = opened.get("view") or {}
    job = FillModal(
        user_id=user_id,
        modal=chosen,
        ref=ref.ref,
        view_id=str(view.get("id")),
        view_hash=view.get("hash"),
    )
    await submit_job(intake, job)
