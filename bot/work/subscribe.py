"""`/incident subscribe|subscriptions|unsubscribe|mute` in a channel, answered to the person only.

Subscribing, unsubscribing and muting change what a channel is told, so they are for INCIDENT_WRITERS;
listing a channel's subscriptions is for anyone in it. A filter that does not read is answered with
the word that is wrong and the choices; a channel whose policy shows nothing (`UNFURL_DETAIL=…none`)
takes no subscription, since nothing could be posted there.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError

from bot.blocks.messages import build_notice_blocks
from bot.blocks.text import mrkdwn_cut
from bot.config.unfurl import Detail
from bot.errors import InvalidIncidentId
from bot.jobs import ManageSubscriptions
from bot.models import validate_incident_id
from bot.models.filters import FILTER_USAGE, FilterError, describe, parse_filter, parse_subscription
from bot.state.subscriptions import Subscription
from bot.work.context import Work

logger = logging.getLogger(__name__)

_ID = re.compile(r"#?([0-9]{1,9})")
NOTHING_SHOWN = (
    "This conversation shows no incident details (UNFURL_DETAIL says none here), so it cannot "
    "subscribe to incidents."
)


async def _answer(work: Work, job: ManageSubscriptions, text: str) -> None:
    body = {"response_type": "ephemeral", "text": text, "blocks": build_notice_blocks(text)}
    await work.respond(job.response_url, body)


def _line(subscription: Subscription) -> str:
    try:
        incidents, options = parse_subscription(subscription.filter)
        shown = describe(incidents, options)
    except FilterError:
        shown = "(a filter this release cannot read)"
    paused = (
        f" · _paused: {mrkdwn_cut(subscription.paused_reason or 'paused', 60)}_"
        if subscription.paused
        else ""
    )
    return f"• *#{subscription.id}* {shown}{paused}"


async def manage_subscriptions(work: Work, job: ManageSubscriptions) -> None:
    store = work.subscriptions
    if store is None:
        await _answer(work, job, "Subscriptions need the bot's database, which this deployment has not.")
        return
    if job.op == "list":
        found = await store.in_channel(job.channel_id)
        lines = [_line(s) for s in found] or ["No incident subscriptions in this channel yet."]
        await _answer(work, job, "\n".join(["*Incident subscriptions in this channel*", *lines]))
        return
    if not await work.people.may_write(job.user_id):
        await _answer(work, job, work.people.refusal_text())
        return
    if job.op == "subscribe":
        await _subscribe(work, job)
    elif job.op == "unsubscribe":
        match = _ID.fullmatch(job.argument.strip())
        removed = match is not None and await store.remove(int(match.group(1)), channel=job.channel_id)
        text = (
            f"Subscription #{match.group(1)} removed." if removed and match
            else "No such subscription in this channel: `/incident subscriptions` lists them."
        )  # fmt: skip
        await _answer(work, job, text)
    else:
        try:
            incident_id = validate_incident_id(job.argument.strip().lstrip("#"))
        except InvalidIncidentId as error:
            await _answer(work, job, f"{error}. Use `/incident mute <incident id>`.")
            return
        await store.mute(job.channel_id, incident_id, by=job.user_id, now=datetime.now(UTC))
        await _answer(work, job, f"Incident {incident_id} will not be posted or updated in this channel.")


async def _subscribe(work: Work, job: ManageSubscriptions) -> None:
    store = work.subscriptions
    assert store is not None
    try:
        incidents, options = parse_subscription(job.argument)
    except FilterError as error:
        await _answer(work, job, f"{error}\n{FILTER_USAGE}")
        return
    if not incidents.text:
        await _answer(work, job, f"Say which incidents, e.g. `severity>=high status=active`.\n{FILTER_USAGE}")
        return
    detail = await work.detail_in(job.channel_id)
    if detail is Detail.NONE:
        await _answer(work, job, NOTHING_SHOWN)
        return
    canonical = " ".join(part for part in (incidents.text, options.text) if part)
    parse_filter(incidents.text)  # the stored text reads back (the filter module guarantees it)
    subscription = await store.add(
        job.channel_id, canonical, updates=options.updates, remind_unassigned=options.remind_unassigned,
        remind_active=options.remind_active, created_by=job.user_id, now=datetime.now(UTC),
    )  # fmt: skip
    limited = (
        " They show limited details here (a public or shared conversation)."
        if detail is Detail.REDACTED
        else ""
    )
    member = await _bot_is_member(work, job.channel_id)
    invite = "" if member else " Invite me first with `/invite @Incident Bot`, or nothing can be posted."
    text = (
        f"Subscribed (#{subscription.id}): {describe(incidents, options)}. Incidents that match from now "
        f"on are posted here once each, their changes in the card's thread.{limited}{invite}"
    )
    await _answer(work, job, text)


async def _bot_is_member(work: Work, channel: str) -> bool:
    """Whether the bot is in the channel (conversations.info's is_member); True when Slack cannot say."""
    try:
        answer = await work.slack.conversations_info(channel=channel)
    except SlackApiError:
        return True
    info = answer.get("channel") or {}
    return info.get("is_member") is not False or bool(info.get("is_im"))
