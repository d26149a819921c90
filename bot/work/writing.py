"""Jobs that change incidents: comment, assign, resolve, status, tags, and refresh.

Every write is checked against INCIDENT_WRITERS, happens once (the job's key is claimed in
the shared cache), is signed with the Slack user's name and e-mail, is written to the audit
log, and ends with the card redrawn where it was clicked.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.blocks.refs import IncidentRef
from bot.errors import BotError, SavedButNotReread, Unavailable
from bot.explain import explain
from bot.graph.transport import last_request_id
from bot.intake import Job
from bot.models import IncidentSnapshot, Status
from bot.people import People, Person
from bot.work import Work
from bot.work.places import redraw, tell

logger = logging.getLogger(__name__)
audit = logging.getLogger("bot.audit")

NOT_CONFIGURED = (
    "Changing incidents from Slack is not enabled in this workspace yet: an admin must set "
    "INCIDENT_WRITERS to the Slack user (U…) or user-group (S…) ids allowed to do it."
)
UNKNOWN_OUTCOME = (
    "Defender did not answer in time, so your change may still be saved. Use Refresh in a minute "
    "and do it again only if the card does not show it."
)
NOT_ALLOWED = (
    "You are not allowed to change incidents from Slack. Ask an admin to add you to INCIDENT_WRITERS."
)


def register(work: Work) -> None:
    work.on("write", lambda job: write(work, job), lambda job: gave_up(work, job))
    work.on("refresh", lambda job: refresh(work, job))


def refusal_text(people: People) -> str:
    """Why this person may not write, and what an admin would set."""
    return NOT_ALLOWED if people.writers_configured else NOT_CONFIGURED


async def refresh(work: Work, job: Job) -> None:
    """Fetch past the cache and redraw the card."""
    ref = IncidentRef.loads(job.payload["ref"])
    try:
        snapshot = await work.incidents.get(ref.id, fresh=True)
    except BotError as error:
        await tell(work, ref, job.payload["user_id"], explain(error, ref.id, work.settings.azure_tenant_id))
        return
    await redraw(work, ref, snapshot)


def _with_signature(text: str, person: Person) -> str:
    return f"{text.strip()}\n\n— {person.signature}"


async def write(work: Work, job: Job) -> None:
    """Run one write job from start to the redrawn card."""
    payload = job.payload
    ref = IncidentRef.loads(payload["ref"])
    user_id = payload["user_id"]
    op = payload["op"]
    args = payload.get("args") or {}
    if not await work.people.may_write(user_id):
        _audit(user_id, None, op, ref.id, {}, "refused")
        await tell(work, ref, user_id, refusal_text(work.people))
        return
    key = f"write:{payload['key']}"
    if not await work.once.begin(key, job.id):
        logger.info("write %s already done or being done by another job", payload["key"])
        return
    person = await work.people.person(user_id)
    try:
        snapshot, changes, note = await _apply(work, op, ref.id, args, person, job)
    except SavedButNotReread as error:
        _audit(user_id, person.email, op, ref.id, args, "ok", error.cause)
        await work.once.finish(key)
        reason = explain(error.cause, ref.id)
        message = f"Your change was saved in Defender, but the card could not be refreshed: {reason}"
        await tell(work, ref, user_id, message + " Use Refresh in a moment.")
        return
    except OutcomeUnknown as unknown:
        _audit(user_id, person.email, op, ref.id, args, "unknown", unknown.__cause__)
        await work.once.finish(key)
        await tell(work, ref, user_id, str(unknown))
        return
    except BotError as error:
        if isinstance(error, Unavailable) and error.status == 0:
            # Sent and not answered (after the transport's own retries): it may have been saved.
            _audit(user_id, person.email, op, ref.id, args, "unknown", error)
            await work.once.finish(key)
            await tell(work, ref, user_id, UNKNOWN_OUTCOME)
            return
        _audit(user_id, person.email, op, ref.id, args, "failed", error)
        await work.once.finish(key)  # a refused write is an answer, not something to retry
        await tell(work, ref, user_id, f"Nothing was changed. {explain(error, ref.id)}")
        return
    _audit(user_id, person.email, op, ref.id, changes, "ok")
    await work.once.finish(key)
    await redraw(work, ref, snapshot)
    if note:
        await tell(work, ref, user_id, note)


async def _apply(
    work: Work, op: str, incident_id: str, args: dict[str, Any], person: Person, job: Job
) -> tuple[IncidentSnapshot, dict[str, Any], str | None]:
    """Do the write; returns the new snapshot, the changes for the audit log, and a note for the user."""
    incidents = work.incidents
    changes: dict[str, Any]
    if op == "comment":
        text = _with_signature(args["text"], person)
        return (
            await _add_comment_once(work, incident_id, text, retried=job.attempt > 1),
            {"comment": text},
            None,
        )
    if op == "assign_me":
        if not person.email:
            raise_user(
                "Your Slack profile has no e-mail address, so Defender cannot assign the incident "
                "to you. Use Assign… with your address."
            )
        changes = {"assignedTo": person.email}
    elif op == "assign":
        changes = {"assignedTo": args["assignee"]}
    elif op == "unassign":
        changes = {"assignedTo": ""}
    elif op == "reopen":
        changes = {"status": Status.ACTIVE.value}
    elif op == "in_progress":
        changes = {"status": Status.IN_PROGRESS.value}
    elif op == "tags":
        changes = {"customTags": list(args["tags"])}
    elif op == "resolve":
        return await _resolve(work, incident_id, args, person)
    else:
        raise ValueError(f"unknown write {op!r}")
    return await incidents.update(incident_id, changes), changes, None


async def _resolve(
    work: Work, incident_id: str, args: dict[str, Any], person: Person
) -> tuple[IncidentSnapshot, dict[str, Any], str | None]:
    """One PATCH: status, classification, determination and the signed resolving comment together,
    so a resolve is saved whole or not at all."""
    changes: dict[str, Any] = {
        "status": Status.RESOLVED.value,
        "classification": args["classification"],
        "determination": args["determination"],
    }
    comment = (args.get("comment") or "").strip()
    if comment:
        changes["resolvingComment"] = _with_signature(comment, person)
    return await work.incidents.update(incident_id, changes), changes, None


class OutcomeUnknown(BotError):
    """The write was sent and not answered: it may or may not have been saved."""


class UserFacingRefusal(BotError):
    """A write the bot refuses before calling the API; the message is shown as is."""


def raise_user(message: str) -> None:
    raise UserFacingRefusal(message)


async def _saved_with(work: Work, incident_id: str, text: str) -> IncidentSnapshot | None:
    """The incident as Defender has it now, if it already holds this exact comment."""
    snapshot = await work.incidents.get(incident_id, fresh=True)
    found = any(c.comment.strip() == text.strip() for c in snapshot.incident.comments)
    return snapshot if found else None


async def _add_comment_once(work: Work, incident_id: str, text: str, *, retried: bool) -> IncidentSnapshot:
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


async def gave_up(work: Work, job: Job) -> None:
    ref = IncidentRef.loads(job.payload["ref"])
    await tell(
        work,
        ref,
        job.payload["user_id"],
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
    error: BaseException | None = None,
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
        "request_id": getattr(error, "request_id", None) if error else last_request_id.get(),
        "error": type(error).__name__ if error else None,
    }
    text = " ".join(f"{k}={v}" for k, v in fields.items() if k != "audit" and v is not None)
    audit.info("audit %s", text, extra=fields)
