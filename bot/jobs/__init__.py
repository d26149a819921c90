"""The work listeners hand to the workers: one pydantic model per kind of job, versioned.

Listeners build a job and submit it (`submit_job`); the intake stores `model_dump_json()` (in
memory or on a Redis stream that outlives deploys); a worker parses it back (`parse_job`) and
`match`es on its type, so mypy checks the hand-off from end to end. Neither side imports the other.

Every job carries `v`, its schema version. A change that old workers could misread gets a new
version, and `parse_job` keeps reading the versions still in streams: the shape before versions
(v0: a `kind` beside a bare payload object) is upgraded here, so a rolling deploy finishes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, TypeAdapter, ValidationError, field_validator

from bot.blocks.ids import ActionId
from bot.blocks.refs import IncidentRef, is_response_url
from bot.jobs.base import CHANNEL, TEAM, JobBase, checked_response_url
from bot.jobs.changes import (
    AddComment,
    AssignTo,
    AssignToMe,
    Change,
    EditTags,
    Reopen,
    Resolve,
    SetTags,
    StartProgress,
    Unassign,
    WriteOp,
)
from bot.jobs.telling import (
    ChannelLeft,
    ListIncidents,
    ManageSubscriptions,
    PublishHome,
    RemindPost,
    RouteIncident,
)
from bot.models import validate_incident_id
from bot.models.alert_ids import validate_alert_id

__all__ = [
    "JOB_VERSION",
    "MAX_LINKS",
    "AddComment",
    "AssignTo",
    "AssignToMe",
    "Change",
    "ChannelLeft",
    "EditTags",
    "FillModal",
    "Job",
    "JobUnreadable",
    "ListIncidents",
    "ManageSubscriptions",
    "PresentEntity",
    "PublishHome",
    "RefreshCard",
    "RefreshLiveCards",
    "RemindPost",
    "Reopen",
    "Resolve",
    "RouteIncident",
    "SetTags",
    "ShareIncident",
    "ShowAlertIncident",
    "ShowDetails",
    "ShowIncident",
    "StartProgress",
    "Submitter",
    "TellOutOfDate",
    "Unassign",
    "UnfurlLinks",
    "WriteIncident",
    "WriteOp",
    "parse_job",
    "reply_address",
    "submit_job",
]  # fmt: skip

JOB_VERSION = 1
MAX_LINKS = 20


class ShowIncident(JobBase):
    """`/incident <id>`: the card, ephemeral, through the command's response_url."""

    kind: Literal["show"] = "show"
    incident_id: str
    channel_id: str
    response_url: str

    @field_validator("incident_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_incident_id(value)

    _response_url = field_validator("response_url")(checked_response_url)


class ShareIncident(JobBase):
    """ "Share in channel": the card posted for everyone, once per click."""

    kind: Literal["share"] = "share"
    ref: IncidentRef
    channel_id: str = Field(pattern=CHANNEL)
    click: str  # the click's idempotency key: the same click delivered twice posts once
    user_team: str | None = Field(None, pattern=TEAM)  # the sharer's own workspace, as the click says
    # Where outsiders read, the person was warned and shared the limited card anyway.
    confirmed: bool = False


class ShowDetails(JobBase):
    """ "Show details" on a redacted card, "Show incident" on an alert card: the full card,
    ephemerally, to the clicker if they may read incidents; a short refusal otherwise."""

    kind: Literal["details"] = "details"
    ref: IncidentRef
    user_team: str | None = Field(None, pattern=TEAM)  # the clicker's own workspace, as the click says


class PresentEntity(JobBase):
    """`entity_details_requested`: a Work Object's flexpane, for the one person who opened it."""

    kind: Literal["entity"] = "entity"
    trigger_id: str = Field(pattern=r"^[0-9]{1,20}\.[0-9]{1,20}\.[0-9a-f]{1,64}$")
    incident_id: str
    url: str | None = Field(None, max_length=3000)  # the unfurled link

    @field_validator("incident_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_incident_id(value)


class ShowAlertIncident(JobBase):
    """`/incident <alert id>`: the card of the alert's incident, ephemeral, via the response_url."""

    kind: Literal["show_alert"] = "show_alert"
    alert_id: str
    channel_id: str
    response_url: str

    @field_validator("alert_id")
    @classmethod
    def _alert(cls, value: str) -> str:
        return validate_alert_id(value)

    _response_url = field_validator("response_url")(checked_response_url)


class UnfurlLinks(JobBase):
    """`link_shared`: one card per incident link of the message (or composer preview)."""

    kind: Literal["unfurl"] = "unfurl"
    user_id: str = Field("", max_length=40)  # who shared the link, as the event says (may be absent)
    event_id: str = ""
    channel: str | None = None
    message_ts: str | None = None
    unfurl_id: str | None = None
    source: str | None = None
    links: tuple[str, ...] = Field(default=(), max_length=MAX_LINKS)


class RefreshCard(JobBase):
    """The card's Refresh: read past the cache and redraw it where it is."""

    kind: Literal["refresh"] = "refresh"
    ref: IncidentRef


class WriteIncident(JobBase):
    """One change to an incident, signed by the person, done once per `key`."""

    kind: Literal["write"] = "write"
    ref: IncidentRef
    key: str = Field(min_length=1, max_length=300)
    change: Change


class FillModal(JobBase):
    """A modal opened at once with "Loading…", filled by views.update once the incident is read."""

    kind: Literal["fill_modal"] = "fill_modal"
    modal: Literal[ActionId.COMMENT, ActionId.ASSIGN, ActionId.RESOLVE, ActionId.TAGS]
    ref: IncidentRef
    view_id: str = Field(pattern=r"^V[A-Z0-9]{2,}$")
    view_hash: str | None = None
    classification: str | None = Field(None, max_length=60)  # resolve: the one just picked


class TellOutOfDate(JobBase):
    """A click or modal action whose card value the bot cannot vouch for: say so, where it happened."""

    kind: Literal["out_of_date"] = "out_of_date"
    incident_id: str | None = Field(None, pattern=r"^[0-9]{1,20}$")  # when the value named one
    response_url: str | None = None
    channel_id: str | None = Field(None, pattern=CHANNEL)
    view_id: str | None = Field(None, pattern=r"^V[A-Z0-9]{2,}$")  # an open modal: the answer replaces it

    @field_validator("response_url")
    @classmethod
    def _response_url(cls, value: str | None) -> str | None:
        if value is not None and not is_response_url(value):
            raise ValueError("not a response_url")
        return value


class RefreshLiveCards(JobBase):
    """The watcher saw an incident change: redraw every card that follows it where it is, once per
    change. `version` is the change (its lastUpdateDateTime); None redraws the cards a failed
    refresh left behind. `retire` names cards whose time is up: drawn once more, no longer live,
    then forgotten."""

    kind: Literal["live"] = "live"
    user_id: str = Field("", max_length=40)  # nobody asked: the watcher
    incident_id: str
    version: datetime | None = None
    retire: tuple[int, ...] = Field(default=(), max_length=500)

    @field_validator("incident_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_incident_id(value)


Job = Annotated[
    ShowIncident
    | ShareIncident
    | UnfurlLinks
    | RefreshCard
    | WriteIncident
    | FillModal
    | TellOutOfDate
    | RefreshLiveCards
    | ShowDetails
    | PresentEntity
    | ShowAlertIncident
    | RouteIncident
    | RemindPost
    | ManageSubscriptions
    | ListIncidents
    | PublishHome
    | ChannelLeft,
    Field(discriminator="kind"),
]
_JOB: TypeAdapter[Job] = TypeAdapter(Job)


class JobUnreadable(ValueError):
    """A stored job that no version of the format explains; it can only be dead-lettered."""


def parse_job(kind: str, stored: Mapping[str, Any] | str) -> Job:
    """The job a stored entry holds (its JSON object, or that text): this version, or an older
    shape upgraded."""
    try:
        data = json.loads(stored) if isinstance(stored, str) else dict(stored)
    except ValueError as error:
        raise JobUnreadable(f"job body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise JobUnreadable("job body is not a JSON object")
    if "v" not in data:
        data = _upgrade_v0(kind, data)
    try:
        return _JOB.validate_python(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        raise JobUnreadable(f"{kind} job does not fit its schema: {problems}") from None


def _upgrade_v0(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Jobs as the release before versioned jobs wrote them: `kind` beside a bare payload."""
    if kind == "command":
        shown = ("incident_id", "user_id", "channel_id", "response_url")
        return {"v": 1, "kind": "show", **{k: payload.get(k) for k in shown}}
    if kind == "share":
        place = {"id": payload.get("incident_id"), "channel": payload.get("channel_id")}
        if payload.get("response_url"):
            place["response_url"] = payload["response_url"]
        return {"v": 1, "kind": "share", "user_id": payload.get("user_id"), "ref": place,
                "channel_id": payload.get("channel_id"), "click": payload.get("action_key")}  # fmt: skip
    if kind == "unfurl":
        keys = ("event_id", "channel", "message_ts", "unfurl_id", "source", "links")
        return {"v": 1, "kind": "unfurl", **{k: payload.get(k) for k in keys if payload.get(k) is not None}}
    if kind in ("refresh", "write"):
        ref = json.loads(payload["ref"]) if isinstance(payload.get("ref"), str) else payload.get("ref")
        upgraded = {"v": 1, "kind": kind, "user_id": payload.get("user_id"), "ref": ref}
        if kind == "write":
            upgraded |= {"key": payload.get("key"), "change": _upgrade_change(payload)}
        return upgraded
    raise JobUnreadable(f"unknown job kind {kind!r}")


def _upgrade_change(payload: dict[str, Any]) -> dict[str, Any]:
    args = payload.get("args") or {}
    if payload.get("op") == "assign":
        return {"op": "assign", "assignee": args.get("assignee")}
    if payload.get("op") == "tags":
        return {"op": "tags", "tags": args.get("tags")}
    return {"op": payload.get("op"), **args}


def reply_address(stored: Mapping[str, Any] | str) -> str | None:
    """Where to tell the person about a stored job that no longer reads: its response_url, if any."""
    try:
        data = json.loads(stored) if isinstance(stored, str) else dict(stored)
        ref = data.get("ref")
        ref = json.loads(ref) if isinstance(ref, str) else ref
        found = data.get("response_url") or (ref.get("response_url") if isinstance(ref, dict) else None)
    except (ValueError, TypeError, AttributeError):
        return None
    return found if isinstance(found, str) and is_response_url(found) else None


class Submitter(Protocol):
    """What listeners need of the intake: queue a job's JSON object under its kind, at most once
    per key."""

    async def submit(self, kind: str, payload: dict[str, Any], *, once: str | None = None) -> bool: ...


async def submit_job(intake: Submitter, job: Job, *, once: str | None = None) -> bool:
    """Queue `job`; False when `once` says it was queued already (e.g. a Slack retry)."""
    return await intake.submit(job.kind, job.model_dump(mode="json"), once=once)
