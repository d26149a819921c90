"""Subscribed channels: each matching incident posted once per channel as a live card, its later
changes replied in the card's thread, once each, across restarts and replicas.

Exactly once, without trusting a process to live between `chat.postMessage` and its record: a post
(and a reply) is first claimed in the database with a fresh token (`SubscriptionStore.claim_post`),
and the message carries that token in its metadata (`event_type` incident_posted or
incident_update). A claim whose holder vanished goes stale after `claim_stale_after`; whoever takes
it over first looks in the channel (conversations.history / conversations.replies with
`include_all_metadata`) for a message bearing an earlier claim of this post, and records that one
instead of posting again. The post itself is bounded well inside the claim's life, so a slow post
is never mistaken for a dead one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks.bodies import message_card_body
from bot.blocks.thread_replies import ThreadFields, build_thread_reply, change_lines, thread_fields
from bot.config.unfurl import Detail
from bot.errors import BotError, Throttled, Unavailable
from bot.jobs import RouteIncident
from bot.models import IncidentSnapshot
from bot.models.filters import FilterError, parse_subscription
from bot.state.channel_posts import ChannelPost, claim_stale_after
from bot.state.live_cards import CardPlace
from bot.state.subscriptions import Subscription, SubscriptionStore
from bot.work.channels import channel_gone
from bot.work.context import Work
from bot.work.live import current_snapshot, write_down

logger = logging.getLogger(__name__)

POSTED = "incident_posted"  # metadata event_type of a subscription's parent message
UPDATED = "incident_update"  # … of a reply in its thread
# Slack's answers meaning the bot cannot post in the channel any more: its subscriptions pause.
LEFT = frozenset({"not_in_channel", "channel_not_found", "is_archived", "channel_is_archived"})
HISTORY_LOOKBACK = timedelta(minutes=10)
THROTTLED_WAIT = 8.0  # seconds at least between tries of a route job the budget refused
MAX_THROTTLED_WAIT = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


class ChannelGone(Exception):
    """Slack refuses to post in a channel (the bot was removed, the channel archived)."""

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel, self.reason = channel, reason


async def route_incident(work: Work, job: RouteIncident) -> None:
    """Reply in the threads that follow the incident; post it where it now matches and is not yet."""
    store = work.subscriptions
    if store is None:
        return
    subscriptions = await store.active()
    posts = await store.posts_following([job.incident_id])
    if not subscriptions and not posts:
        return
    try:
        snapshot = await current_snapshot(work, job.incident_id, job.version)
    except Throttled as error:
        # The API budget (or Defender) asks us to wait: wait here, then let the intake try again.
        # Dropping the job would lose the post for good (the watcher queues a change once).
        # Spread out: a bulk change queues many route jobs at once against one budget.
        wait = max(error.retry_after or 0.0, THROTTLED_WAIT) + random.uniform(0, THROTTLED_WAIT)
        await asyncio.sleep(min(wait, MAX_THROTTLED_WAIT))
        raise
    except Unavailable:
        raise  # the intake tries again
    except BotError as error:
        logger.warning("incident %s not routed: %s", job.incident_id, type(error).__name__)
        return
    seen = snapshot.incident.last_update_date_time
    if snapshot.stale and job.version is not None and (seen is None or seen < job.version):
        # A cached copy older than the change (the API could not be read): routing it would tell
        # nothing, or the wrong thing; the intake tries again.
        raise Unavailable(f"incident {job.incident_id} could only be read from an out-of-date copy")
    by_id = {s.id: s for s in subscriptions}
    threads = [
        post
        for post in posts
        if (subscription := by_id.get(post.subscription_id or 0)) and subscription.updates == "thread"
    ]
    new_posts: list[Subscription] = []
    incident = snapshot.incident
    when = incident.last_update_date_time or _now()
    done = {post.channel for post in posts}
    muted: set[str] | None = None  # read once, when the first subscription matches
    for subscription in subscriptions:
        if subscription.channel in done or subscription.created_at > when:
            continue  # posted there already, or changed before the subscription was made
        if not _matches(subscription, snapshot):
            continue
        if muted is None:  # muted by its own id or by the id it was merged from
            muted = await store.muting_channels({incident.id, job.incident_id})
        if subscription.channel in muted:
            continue
        done.add(subscription.channel)
        new_posts.append(subscription)
    await _all_channels(
        work,
        [_reply_changes(work, store, post, snapshot) for post in threads]
        + [_post_once(work, store, subscription, snapshot) for subscription in new_posts],
    )


async def _all_channels(work: Work, tellings: list[Coroutine[Any, Any, None]]) -> None:
    """Each channel's reply or post at once: a channel whose pace makes it wait (eighty new cards
    in one poll) holds up none of the others. A channel gone pauses its subscriptions; any other
    failure fails the job after the rest are done (the claims keep a retry to what is left)."""
    failures = []
    for outcome in await asyncio.gather(*tellings, return_exceptions=True):
        if isinstance(outcome, ChannelGone):
            await channel_gone(work, outcome.channel, outcome.reason)
        elif isinstance(outcome, BaseException):
            failures.append(outcome)
    if failures:
        raise failures[0]


def _matches(subscription: Subscription, snapshot: IncidentSnapshot) -> bool:
    try:
        return parse_subscription(subscription.filter)[0].matches(snapshot.incident)
    except FilterError:  # a filter this release no longer reads: said once, matched never
        logger.warning("subscription %d has a filter this release cannot read", subscription.id)
        return False


def claim_life(work: Work) -> tuple[timedelta, float]:
    """How long a claim lives, and how long its post may take (well inside it)."""
    stale = claim_stale_after(work.settings.intake_claim_idle_seconds)
    return stale, 0.75 * stale.total_seconds()


async def _post_once(
    work: Work, store: SubscriptionStore, subscription: Subscription, snapshot: IncidentSnapshot
) -> None:
    incident, channel = snapshot.incident, subscription.channel
    detail = await work.detail_in(channel)
    if detail is Detail.NONE:
        return  # the channel's policy shows nothing: no card, no thread
    stale_after, post_within = claim_life(work)
    await work.post_pace(channel).wait()  # before the claim: its life is for the post alone
    token, now = uuid.uuid4().hex, _now()
    claim = await store.claim_post(channel, incident.id, subscription.id, token=token, now=now,
                                   stale_after=stale_after)  # fmt: skip
    if claim.outcome in ("posted", "busy"):
        return
    version = incident.last_update_date_time or now
    fields = thread_fields(incident).to_json()
    if claim.outcome == "stale":
        # Look back from the claim taken over (`claim.post.claimed_at` is ours, made just now), and
        # keep the message found up to date like one posted here.
        since = claim.taken_from or claim.post.claimed_at
        found = await _find_marked(work, channel, POSTED, {"post": claim.post.id}, since=since)
        if found is not None:
            await store.posted(claim.post.id, token=token, ts=found, version=version, fields=fields, now=now)
            place = CardPlace("message", channel=channel, ts=found)
            await write_down(work, snapshot, [place], asked_for=incident.id, detail=detail)
            return
    ctx = work.card_context(live=work.live_now(), detail=detail)
    body = message_card_body(snapshot, ctx, render=work.cards)
    metadata = {"event_type": POSTED, "event_payload": {"post": claim.post.id, "incident": incident.id}}
    ts = await _post(work, channel, post_within, metadata=metadata, **body)
    await store.posted(claim.post.id, token=token, ts=ts, version=version, fields=fields, now=_now())
    place = CardPlace("message", channel=channel, ts=ts)
    await write_down(work, snapshot, [place], asked_for=incident.id, detail=detail)


async def _post(work: Work, channel: str, within: float, **arguments: Any) -> str:
    """chat.postMessage, bounded by `within` seconds; the message's ts."""
    try:
        async with asyncio.timeout(within):
            posted = await work.slack.chat_postMessage(channel=channel, **arguments)
    except SlackApiError as error:
        reason = str(error.response.get("error"))
        if reason in LEFT:
            raise ChannelGone(channel, reason) from None
        raise
    return str(posted["ts"])


async def _find_marked(
    work: Work, channel: str, event_type: str, payload: Mapping[str, Any], *, since: datetime,
    thread_ts: str | None = None,
) -> str | None:  # fmt: skip
    """The ts of a message of ours in `channel` (or in the thread `thread_ts`) whose metadata is
    `event_type` with `payload`'s items: a post whose record was lost."""
    oldest = f"{(since - HISTORY_LOOKBACK).timestamp():.6f}"
    if thread_ts is None:
        answer = await work.slack.conversations_history(channel=channel, oldest=oldest,
                                                        include_all_metadata=True, limit=200)  # fmt: skip
    else:
        answer = await work.slack.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest,
                                                        include_all_metadata=True, limit=200)  # fmt: skip
    for message in answer.get("messages") or []:
        meta = message.get("metadata") or {}
        found = meta.get("event_payload") or {}
        if meta.get("event_type") == event_type and all(found.get(k) == v for k, v in payload.items()):
            return str(message.get("ts"))
    return None


async def _reply_changes(
    work: Work, store: SubscriptionStore, post: ChannelPost, snapshot: IncidentSnapshot
) -> None:
    """One reply in the post's thread for what changed since the thread last spoke."""
    if post.ts is None:
        return
    incident = snapshot.incident
    merged_from = post.follows_id if incident.id != post.follows_id else None
    version = incident.last_update_date_time
    seen = post.last_version
    if merged_from is None and version is not None and seen is not None and version <= seen:
        return  # this change (or a later one) was replied already
    # After a merge the thread goes on with the target's versions, which may be older than the
    # merged incident's last one: the thread's mark never moves back.
    told = max(v for v in (version, seen, None if version or seen else _now()) if v is not None)
    before = ThreadFields.from_json(post.last_fields) or ThreadFields(follows=post.follows_id)
    detail = await work.detail_in(post.channel)
    lines = change_lines(before, incident, redacted=detail is not Detail.FULL, merged_from=merged_from)
    fields = thread_fields(incident).to_json()
    if merged_from is not None:
        await store.follow(post.id, incident.id)
    if lines:
        key = f"v:{incident.id}:{(version or told).isoformat()}"
        await send_reply(work, store, post, key, lines)
    await store.replied(post.id, version=told, fields=fields)


async def send_reply(
    work: Work, store: SubscriptionStore, post: ChannelPost, change_key: str, lines: list[str]
) -> None:
    """One reply in the post's thread for `change_key`, exactly once."""
    assert post.ts is not None
    stale_after, post_within = claim_life(work)
    await work.post_pace(post.channel).wait()
    token, now = uuid.uuid4().hex, _now()
    claim = await store.claim_reply(post.id, change_key, token=token, now=now, stale_after=stale_after)
    if claim.outcome in ("sent", "busy"):
        return
    payload = {"post": post.id, "change": change_key}
    if claim.outcome == "stale":
        since = claim.taken_from or claim.reply.claimed_at
        found = await _find_marked(work, post.channel, UPDATED, payload, since=since, thread_ts=post.ts)
        if found is not None:
            await store.reply_sent(claim.reply.id, token=token, ts=found)
            return
    text, blocks = build_thread_reply(lines)
    metadata = {"event_type": UPDATED, "event_payload": payload}
    try:
        ts = await _post(work, post.channel, post_within, text=text, blocks=blocks, thread_ts=post.ts,
                         metadata=metadata, unfurl_links=False)  # fmt: skip
    except ChannelGone as gone:
        await channel_gone(work, gone.channel, gone.reason)
        return
    await store.reply_sent(claim.reply.id, token=token, ts=ts)
