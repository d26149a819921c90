"""Modal submissions: validated inline (Slack shows the errors under the inputs), then queued.

A submission writes only to the incident its modal was opened for: the one in the sealed
private_metadata (bot/blocks/seal.py). A modal whose metadata does not hold is replaced, in the
ack, by one saying it is out of date; nothing is queued.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.modals import (
    COMMENT_MAX_CHARS,
    modal_errors,
    parse_determination_value,
)
from bot.blocks.pending_modals import build_out_of_date_modal
from bot.blocks.refs import IncidentRef
from bot.blocks.seal import CardOutOfDate, CardSeal, out_of_date_text
from bot.jobs import AddComment, AssignTo, Change, EditTags, FillModal, Resolve, WriteIncident, submit_job
from bot.slack.listeners.actions import out_of_date_job
from bot.state.intake import Intake

_EMAIL = re.compile(r"[^@\s<>|,;]+@[^@\s<>|,;]+\.[^@\s<>|,;]+")


def register(app: AsyncApp) -> None:
    app.view(CallbackId.COMMENT_MODAL.value)(handle_comment_submission)
    app.view(CallbackId.ASSIGN_MODAL.value)(handle_assign_submission)
    app.view(CallbackId.RESOLVE_MODAL.value)(handle_resolve_submission)
    app.view(CallbackId.TAGS_MODAL.value)(handle_tags_submission)
    app.action(ActionId.CLASSIFICATION.value)(handle_classification_chosen)


def _value(view: dict[str, Any], block_id: str, action_id: ActionId) -> dict[str, Any]:
    return ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id.value) or {}


async def _opened(ack: AsyncAck, view: dict[str, Any], seal: CardSeal) -> IncidentRef | None:
    """The incident the modal was opened for; None once the ack has said the modal is out of date."""
    try:
        return seal.open(view.get("private_metadata"))
    except CardOutOfDate as error:
        await ack(response_action="update", view=build_out_of_date_modal(out_of_date_text(error)))
        return None


async def _queue(
    intake: Intake, body: dict[str, Any], view: dict[str, Any], ref: IncidentRef, change: Change
) -> None:
    """One write per view: its id is the idempotency key, so a second submission writes nothing."""
    job = WriteIncident(user_id=body["user"]["id"], ref=ref, key=f"view:{view['id']}", change=change)
    await submit_job(intake, job)


async def handle_comment_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, seal: CardSeal
) -> None:
    if (ref := await _opened(ack, view, seal)) is None:
        return
    text = (_value(view, BlockId.COMMENT_INPUT, ActionId.COMMENT_TEXT).get("value") or "").strip()
    if not text:
        await ack(**modal_errors({BlockId.COMMENT_INPUT: "Write a comment, or cancel."}))
        return
    if len(text) > COMMENT_MAX_CHARS:
        message = f"Keep it under {COMMENT_MAX_CHARS} characters ({len(text)} now)."
        await ack(**modal_errors({BlockId.COMMENT_INPUT: message}))
        return
    await _queue(intake, body, view, ref, AddComment(text=text))
    await ack()


async def handle_assign_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    intake: Intake,
    client: AsyncWebClient,
    seal: CardSeal,
) -> None:
    if (ref := await _opened(ack, view, seal)) is None:
        return
    user = _value(view, BlockId.ASSIGNEE_USER_INPUT, ActionId.ASSIGNEE_USER).get("selected_user")
    email = (_value(view, BlockId.ASSIGNEE_EMAIL_INPUT, ActionId.ASSIGNEE_EMAIL).get("value") or "").strip()
    if user:
        profile = ((await client.users_info(user=user)).get("user") or {}).get("profile") or {}
        email = profile.get("email") or ""
        if not email:
            await ack(
                **modal_errors(
                    {
                        BlockId.ASSIGNEE_USER_INPUT: "This person has no e-mail in Slack; "
                        "type their address below instead."
                    }
                )
            )
            return
    if not _EMAIL.fullmatch(email):
        block = BlockId.ASSIGNEE_EMAIL_INPUT
        await ack(**modal_errors({block: "Pick a person, or type an e-mail address like name@contoso.com."}))
        return
    await _queue(intake, body, view, ref, AssignTo(assignee=email))
    await ack()


async def handle_resolve_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, seal: CardSeal
) -> None:
    if (ref := await _opened(ack, view, seal)) is None:
        return
    classification = _value(view, BlockId.CLASSIFICATION_INPUT, ActionId.CLASSIFICATION).get(
        "selected_option"
    )
    values = (view.get("state") or {}).get("values") or {}
    det_block = next((b for b in values if b.startswith(BlockId.DETERMINATION_INPUT.value)), None)
    determination = (values.get(det_block) or {}).get(ActionId.DETERMINATION.value, {}).get("selected_option")
    if not classification or not determination or det_block is None:
        await ack(**modal_errors({det_block or BlockId.CLASSIFICATION_INPUT: "Choose both."}))
        return
    try:
        chosen_class, chosen_det = parse_determination_value(determination["value"])
    except ValueError:
        await ack(**modal_errors({det_block: "This determination does not fit; choose again."}))
        return
    if chosen_class.value != classification["value"]:
        message = "This determination belongs to another classification; choose one that fits."
        await ack(**modal_errors({det_block: message}))
        return
    comment = (
        _value(view, BlockId.RESOLVE_COMMENT_INPUT, ActionId.RESOLVE_COMMENT).get("value") or ""
    ).strip()
    change = Resolve(classification=chosen_class, determination=chosen_det, comment=comment)
    await _queue(intake, body, view, ref, change)
    await ack()


async def handle_tags_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, seal: CardSeal
) -> None:
    """Queue what was ticked and typed; the job applies it to the incident's tags as they are then."""
    if (ref := await _opened(ack, view, seal)) is None:
        return
    selected = [
        str(o["value"])
        for o in _value(view, BlockId.TAGS_SELECT_INPUT, ActionId.TAGS_SELECT).get("selected_options") or []
    ]
    new_text = _value(view, BlockId.TAGS_NEW_INPUT, ActionId.TAGS_NEW).get("value")
    await _queue(intake, body, view, ref, EditTags(kept=tuple(selected), added=new_text))
    await ack()


async def handle_classification_chosen(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake, seal: CardSeal
) -> None:
    """Narrow the determinations to the chosen classification: a job redraws the open modal."""
    view = body["view"]
    try:
        ref = seal.open(view.get("private_metadata"))
    except CardOutOfDate as error:
        await submit_job(intake, out_of_date_job(body, error))
        await ack()
        return
    job = FillModal(
        user_id=body["user"]["id"],
        modal=ActionId.RESOLVE,
        ref=ref,
        view_id=view["id"],
        view_hash=view.get("hash"),
        classification=(action.get("selected_option") or {}).get("value"),
    )
    await submit_job(intake, job)
    await ack()
