"""Jobs that change incidents: comment, assign, resolve, status, tags, and refresh.

Every write is checked against INCIDENT_WRITERS, happens once (the job's key is claimed in
the shared cache), is signed with the Slack user's name and e-mail, is written to the audit
log, and ends with the card redrawn where it was clicked.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.blocks.tags_modal import resulting_tags
from bot.errors import BotError, SavedButNotReread, Unavailable
from bot.incidents.explain import explain
from bot.incidents.service import Saved
from bot.jobs import (
    AddComment,
    AssignTo,
    AssignToMe,
    Change,
    EditTags,
    RefreshCard,
    Reopen,
    Resolve,
    SetTags,
    StartProgress,
    Unassign,
    WriteIncident,
)
from bot.models import Status
from bot.people import Person
from bot.state.intake import Delivery
from bot.work.context import Work
from bot.work.places import redraw, tell

logger = logging.getLogger(__name__)
audit = logging.getLogger("bot.audit")

UNKNOWN_OUTCOME = (
    "Defender did not answer in time, so your change may still be saved. Use Refresh in a minute "
    "and do it again only if the card does not show it."
)


async def refresh(work: Work, job: RefreshCard) -> None:
    """Fetch past the cache and redraw the card."""
    ref = job.ref
    try:
        snapshot = await work.incidents.get(ref.id, fresh=True)
    except BotError as error:
        await tell(work, ref, job.user_id, explain(error, ref.id, work.settings.azure_tenant_id))
        return
    await redraw(work, ref, snapshot)


def _with_signature(text: str, person: Person) -> str:
    return f"{text.strip()}\n\n— {person.signature}"


async def write(work: Work, job: WriteIncident, delivery: Delivery) -> None:
    """Run one write job from start to the redrawn card."""
    ref, user_id, op = job.ref, job.user_id, job.change.op.value
    args = job.change.model_dump(exclude={"op"})
    if not await work.people.may_write(user_id):
        _audit(user_id, None, op, ref.id, {}, "refused")
        await tell(work, ref, user_id, work.people.refusal_text())
        return
    key = f"write:{job.key}"
    if not await work.once.begin(key, delivery.id):
        logger.info("write %s already done or being done by another job", job.key)
        return
    person = await work.people.person(user_id)
    try:
        saved, changes = await _apply(work, job.change, ref.id, person, retried=delivery.attempt > 1)
    except SavedButNotReread as error:
        _audit(user_id, person.email, op, ref.id, args, "ok", error=error.cause)
        await work.once.finish(key)
        reason = explain(error.cause, ref.id)
        message = f"Your change was saved in Defender, but the card could not be refreshed: {reason}"
        await tell(work, ref, user_id, message + " Use Refresh in a moment.")
        return
    except OutcomeUnknown as unknown:
        _audit(user_id, person.email, op, ref.id, args, "unknown", error=unknown.__cause__)
        await work.once.finish(key)
        await tell(work, ref, user_id, str(unknown))
        return
    except BotError as error:
        if isinstance(error, Unavailable) and error.status == 0:
            # Sent and not answered (after the transport's own retries): it may have been saved.
            _audit(user_id, person.email, op, ref.id, args, "unknown", error=error)
            await work.once.finish(key)
            await tell(work, ref, user_id, UNKNOWN_OUTCOME)
            return
        _audit(user_id, person.email, op, ref.id, args, "failed", error=error)
        await work.once.finish(key)  # a refused write is an answer, not something to retry
        await tell(work, ref, user_id, f"Nothing was changed. {explain(error, ref.id)}")
        return
    _audit(user_id, person.email, op, ref.id, changes, "ok", request_id=saved.request_id)
    await work.once.finish(key)
    await redraw(work, ref, saved.snapshot)


async def _apply(
    work: Work, change: Change, incident_id: str, person: Person, *, retried: bool
) -> tuple[Saved, dict[str, Any]]:
    """Do the write; returns what was saved and the changes for the audit log."""
    fields: dict[str, Any]
    match change:
        case AddComment(text=text):
            signed = _with_signature(text, person)
            return await _add_comment_once(work, incident_id, signed, retried=retried), {"comment": signed}
        case AssignToMe():
            if not person.email:
                raise UserFacingRefusal(
                    "Your Slack profile has no e-mail address, so Defender cannot assign the incident "
                    "to you. Use Assign… with your address."
                )
            fields = {"assignedTo": person.email}
        case AssignTo(assignee=assignee):
            fields = {"assignedTo": assignee}
        case Unassign():
            fields = {"assignedTo": ""}
        case Reopen():
            fields = {"status": Status.ACTIVE.value}
        case StartProgress():
            fields = {"status": Status.IN_PROGRESS.value}
        case SetTags(tags=tags):
            fields = {"customTags": list(tags)}
        case EditTags(kept=kept, added=added):
            current = (await work.incidents.get(incident_id)).incident.custom_tags
            fields = {"customTags": resulting_tags(current, kept, added)}
        case Resolve():
            fields = _resolution(change, person)
    return await work.incidents.update(incident_id, fields), fields


def _resolution(change: Resolve, person: Person) -> dict[str, Any]:
    """One PATCH: status, classification, determination and the signed resolving comment together,
    so a resolve is saved whole or not at all."""
    fields: dict[str, Any] = {
        "status": Status.RESOLVED.value,
        "classification": change.classification.value,
        "determination": change.determination.value,
    }
    if change.comment.strip():
        fields["resolvingComment"] = _with_signature(change.comment, person)
    return fields


class OutcomeUnknown(BotError):
    """The write was sent and not answered: it may or may not have been saved."""


class UserFacingRefusal(BotError):
    """A write the bot refuses before calling the API; the message is shown as is."""


async def _saved_with(work: Work, incident_id: str, text: str) -> Saved | None:
    """The incident as Defender has it now, if it already holds this exact comment."""
    snapshot = await work.incidents.get(incident_id, fresh=True)
    found = any(c.comment.strip() == text.strip() for c in snapshot.incident.comments)
    return Saved(snapshot, None) if found else None


async def _add_comment_once(work: Work, incident_id: str, text: str, *, retried: bool) -> Saved:
    """Post the comment unless Defender already has it: a comment must never be lost nor doubled.

    A POST sent but not answered (status 0) may or may not have been saved. After a reset the API
    is done with it, so the comments tell: post again only if it is absent. After a timeout the
    API may still be saving it, so the person is told to check rather than a second POST sent.
    """
    if retried and (saved := await _saved_with(work, incident_id, text)) is not None:
        return saved
    try:
        return await work.incidents.add_comment(incident_id, text)
    except Unavailable as error:
        if error.status != 0:
            raise
        try:
            saved = await _saved_with(work, incident_id, text)
        except BotError:
            raise OutcomeUnknown(UNKNOWN_OUTCOME) from error
        if saved is not None:
            return saved
        if error.code == "Timeout":
            raise OutcomeUnknown(UNKNOWN_OUTCOME) from error
        return await work.incidents.add_comment(incident_id, text)


async def gave_up(work: Work, job: WriteIncident) -> None:
    ref = job.ref
    await tell(
        work,
        ref,
        job.user_id,
        f":x: Your change to incident {ref.id} did not go through. Nothing was lost on "
        "Slack's side: please try again.",
    )


def _audit(
    user_id: str,
    email: str | None,
    op: str,
    incident_id: str,
    changes: dict[str, Any],
    result: str,
    *,
    error: BaseException | None = None,
    request_id: str | None = None,
) -> None:
    """One audit line per write: who (Slack id and e-mail), what, on which incident, the outcome."""
    fields: dict[str, Any] = {
        "audit": True,
        "slack_user": user_id,
        "email": email,
        "action": op,
        "incident_id": incident_id,
        "fields": sorted(changes),
        "result": result,
        "request_id": getattr(error, "request_id", None) if error else request_id,
        "error": type(error).__name__ if error else None,
    }
    text = " ".join(f"{k}={v}" for k, v in fields.items() if k != "audit" and v is not None)
    audit.info("audit %s", text, extra=fields)
