"""`/incident list` pages, App Home, and reminders in subscribed threads.

A page and a home view are read from `IncidentLists` (one list call per filter per 30 s, shared by
everyone) and filtered on the bot's side for what Graph's `$filter` cannot say; "mine" is the
incidents assigned to the person's Slack e-mail. A 429 on the list call is said on the page, and
the page already shown stays where it is.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.blocks.home import build_home
from bot.blocks.incident_list import build_incident_list, list_fallback_text
from bot.blocks.messages import build_notice_blocks
from bot.blocks.thread_replies import build_reminder
from bot.errors import BotError, Throttled
from bot.incidents.explain import explain, retry_hint
from bot.jobs import ListIncidents, PublishHome, RemindPost
from bot.models import Incident
from bot.models.enums import Status
from bot.models.filters import (
    FILTER_USAGE,
    FilterError,
    IncidentFilter,
    describe,
    parse_filter,
    parse_subscription,
)
from bot.work.context import Work
from bot.work.routing import send_reply

logger = logging.getLogger(__name__)

PAGE_ROWS = 10
HOME_EVERY = 60  # seconds: App Home is read again at most this often per person
OPEN = "status=active,inProgress,awaitingAction"
CLOSED = frozenset({Status.RESOLVED, Status.REDIRECTED})


def _newest_first(incidents: list[Incident]) -> list[Incident]:
    def when(incident: Incident) -> float:
        moment = incident.last_update_date_time or incident.created_date_time
        return moment.timestamp() if moment else 0.0

    return sorted(incidents, key=when, reverse=True)


async def _filter_for(work: Work, job: ListIncidents) -> tuple[IncidentFilter, str] | str:
    """The filter of a list and its title; or the answer when there is none."""
    text = job.filter_text.strip()
    words = text.split()
    if words[:1] == ["mine"]:
        person = await work.people.person(job.user_id)
        if not person.email:
            return "Your Slack profile has no e-mail, so the bot cannot tell which incidents are yours."
        text = " ".join([f"assignee={person.email}", *words[1:]])
    try:
        return parse_filter(text), (job.filter_text.strip() or "all")
    except FilterError as error:
        return f"{error}\n{FILTER_USAGE}"


async def list_incidents(work: Work, job: ListIncidents) -> None:
    """One page of `/incident list`, ephemeral; a page turned replaces the one clicked."""
    chosen = await _filter_for(work, job)
    if isinstance(chosen, str):
        await _say(work, job, chosen)
        return
    incidents, title = chosen
    try:
        listing = await work.lists.listing(incidents.graph_filter())
    except Throttled as error:
        await _say(
            work,
            job,
            f"Defender asks the bot to wait{retry_hint(error.retry_after)}: your page stays as it is.",
        )
        return
    except BotError as error:
        await _say(work, job, explain(error))
        return
    rows = _newest_first([i for i in listing.incidents if incidents.matches(i)])
    start = job.page * PAGE_ROWS
    shown = rows[start : start + PAGE_ROWS]
    blocks = build_incident_list(
        shown, title=title, page=job.page, has_next=len(rows) > start + PAGE_ROWS, read_at=listing.read_at,
        seal=work.seal, portal_url=work.settings.portal_url, tenant_id=work.settings.azure_tenant_id,
        filter_text=job.filter_text.strip(), now=datetime.now(UTC),
    )  # fmt: skip
    body = {"response_type": "ephemeral", "replace_original": job.replace,
            "text": list_fallback_text(title, len(rows), job.page), "blocks": blocks}  # fmt: skip
    await work.respond(job.response_url, body)


async def _say(work: Work, job: ListIncidents, text: str) -> None:
    body = {"response_type": "ephemeral", "replace_original": False, "text": text,
            "blocks": build_notice_blocks(text)}  # fmt: skip
    await work.respond(job.response_url, body)


async def publish_home(work: Work, job: PublishHome) -> None:
    """The person's App Home: their open incidents, the unassigned high ones, their channels'
    subscriptions; read again at most once a minute per person."""
    if not await work.once.first_within(f"home:{job.user_id}", HOME_EVERY):
        return
    person = await work.people.person(job.user_id)
    note: str | None = None
    read_at = None
    mine: list[Incident] = []
    unassigned_high: list[Incident] = []
    try:
        listing = await work.lists.listing(parse_filter(OPEN).graph_filter())
    except BotError as error:
        note = f":warning: {explain(error)}"
    else:
        read_at = listing.read_at
        email = (person.email or "").lower()
        open_ones = _newest_first(list(listing.incidents))
        mine = [i for i in open_ones if email and (i.assigned_to or "").strip().lower() == email]
        unassigned_high = [
            i for i in open_ones if not (i.assigned_to or "").strip() and str(i.severity) == "high"
        ]
    subscriptions = await _their_subscriptions(work, job.user_id)
    view = build_home(
        mine=mine, unassigned_high=unassigned_high, subscriptions=subscriptions, read_at=read_at,
        seal=work.seal, portal_url=work.settings.portal_url, tenant_id=work.settings.azure_tenant_id,
        email_known=bool(person.email), now=datetime.now(UTC), note=note,
    )  # fmt: skip
    await work.slack.views_publish(user_id=job.user_id, view=view)


async def _their_subscriptions(work: Work, user_id: str) -> list[tuple[str, str]]:
    """The subscriptions of channels the person is in (users.conversations), as (channel, text)."""
    store = work.subscriptions
    if store is None:
        return []
    active = await store.active()
    if not active:
        return []
    try:
        answer = await work.slack.users_conversations(user=user_id, types="public_channel,private_channel",
                                                      exclude_archived=True, limit=999)  # fmt: skip
        theirs = {str(c.get("id")) for c in answer.get("channels") or []}
    except Exception as error:  # Slack could not say: show none rather than others' channels
        logger.info("users.conversations failed for App Home (%s)", type(error).__name__)
        return []
    shown = []
    for subscription in active:
        if subscription.channel in theirs:
            try:
                shown.append((subscription.channel, describe(*parse_subscription(subscription.filter))))
            except FilterError:
                continue
    return shown


async def remind(work: Work, job: RemindPost) -> None:
    """One reminder in the thread, if the incident is still unassigned (or still open)."""
    store = work.subscriptions
    if store is None:
        return
    due = [d for d in await store.due_reminders(now=job.at or datetime.now(UTC)) if d.post.id == job.post_id]
    if not due:
        return
    reminder = due[0]
    if work.quiet_now():
        return
    try:
        # read past the cache: a reminder after the incident was assigned would be wrong
        snapshot = await work.incidents.get(reminder.post.follows_id, fresh=True)
    except BotError as error:
        logger.info("reminder of post %d skipped: %s", job.post_id, type(error).__name__)
        return
    incident = snapshot.incident
    unassigned = not (incident.assigned_to or "").strip()
    closed = str(incident.status) in CLOSED
    subscription = reminder.subscription
    if closed or not ((reminder.unassigned_due and unassigned) or (reminder.active_due and not closed)):
        return
    waited = (subscription.remind_unassigned if unassigned and subscription.remind_unassigned
              else subscription.remind_active)  # fmt: skip
    assert waited is not None
    text, _ = build_reminder(incident, unassigned=unassigned and reminder.unassigned_due, waited=waited)
    await send_reply(work, store, reminder.post, f"remind:{job.slot}", [text])
    await store.reminded(reminder.post.id, now=job.at or datetime.now(UTC))
