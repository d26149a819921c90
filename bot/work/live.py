"""Live cards: redraw every card of a changed incident where it is, once per change.

The watcher (bot/watch) queues one `RefreshLiveCards` per changed incident. Its cards are redrawn
with the surface's own call: `chat.update` for the bot's messages, `chat.unfurl` again for an
unfurl (the same message and URL: Slack replaces the unfurl it showed), the `response_url` with
`replace_original` for an ephemeral answer while Slack still takes it (30 minutes, 5 uses).

Exactly once: each card's redraw for a change is claimed under `live:<card>:<change>` (shared by
replicas), so two queued refreshes of one change (a watcher that died before moving its watermark,
and the next) redraw it once; a card whose digest did not change is not touched at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from slack_sdk.errors import SlackApiError

from bot.blocks.bodies import fallback_text, message_card_body
from bot.config.unfurl import Detail
from bot.errors import BotError, Unavailable
from bot.jobs import RefreshLiveCards
from bot.models import IncidentSnapshot
from bot.slackweb import ResponseUrlRefused
from bot.state.card_book import RESPONSE_URL_LIFETIME, RESPONSE_URL_USES, LiveCards, card_digest
from bot.state.intake import Delivery
from bot.state.live_cards import CardPlace, LiveCard
from bot.work.context import Work
from bot.work.unfurls import unfurl_arguments

logger = logging.getLogger(__name__)

# Slack's answers for a card that is not there any more: forget it rather than retry forever.
GONE = frozenset(
    {
        "message_not_found",
        "cant_update_message",
        "channel_not_found",
        "is_archived",
        "cannot_find_message",
        "cannot_find_channel",
        "cannot_unfurl_message",
        "not_in_channel",
    }
)


# A live redraw waits this long at most for Slack's pace before it is left for the next poll.
PACE_WAIT = 1.0
Redrawn = Literal["drawn", "same", "deferred"]


def _now() -> datetime:
    return datetime.now(UTC)


async def refresh_live_cards(work: Work, job: RefreshLiveCards, delivery: Delivery) -> None:
    """Redraw the cards that follow `job.incident_id` (and retire those whose time is up)."""
    live = work.live
    if live is None:
        return
    now = _now()
    cards = await live.store.following([job.incident_id], now=now)
    expired = await live.store.expired(now=now) if job.retire else []
    retiring = [card for card in expired if card.id in job.retire]
    if not cards and not retiring:
        return
    try:
        snapshot = await _snapshot_for(work, live, job)
    except Unavailable:
        raise  # the intake tries again
    except BotError as error:
        logger.warning("live cards of incident %s not redrawn: %s", job.incident_id, type(error).__name__)
        return
    drawn, deferred = 0, []
    for card in cards:
        outcome = await _redraw(work, live, card, snapshot, job, delivery, live_now=live.is_live(now))
        drawn += outcome == "drawn"
        if outcome == "deferred":
            deferred.append(card.id)
    for card in retiring:
        drawn += await _redraw(work, live, card, snapshot, job, delivery, live_now=False) == "drawn"
    if deferred:
        # Slack's pace has no room for them now: the next poll queues them again, and meanwhile
        # this worker is free for the rest of the queue (an unfurl must not wait for a bulk redraw).
        await live.store.mark_needs_redraw(deferred)
    if retiring:
        await live.store.forget([card.id for card in retiring])
    versions = {}
    if job.version is not None:
        versions[job.incident_id] = job.version
    if snapshot.incident.last_update_date_time is not None:
        versions[snapshot.incident.id] = snapshot.incident.last_update_date_time
    await live.store.set_versions(versions)
    work.counted_redraws(drawn)


async def _snapshot_for(work: Work, live: LiveCards, job: RefreshLiveCards) -> IncidentSnapshot:
    """The incident to draw. A job without a change (cards that Slack's pace deferred, or a card's
    last redraw) draws the version the cards were last brought to."""
    version = job.version
    if version is None:
        version = (await live.store.versions([job.incident_id])).get(job.incident_id)
    return await current_snapshot(work, job.incident_id, version)


async def current_snapshot(work: Work, incident_id: str, version: datetime | None) -> IncidentSnapshot:
    """The incident at least as new as the change `version`: a copy kept in the cache that has it,
    however old (a newer change is listed by the watcher and comes with its own version), else a
    read. A paced bulk redraw, or a route job waiting for a busy channel, takes minutes, and the
    jobs queued behind it would otherwise read Defender again once the cache's minute was over."""
    snapshot = await work.incidents.get(incident_id, at_least=version)
    if version is not None and not snapshot.merged_from and not snapshot.shows(version):
        # a read joined in flight began before the change, or Defender's detail lags its list
        snapshot = await work.incidents.get(incident_id, fresh=True)
    return snapshot


def shown_on(card: LiveCard, snapshot: IncidentSnapshot) -> IncidentSnapshot:
    """The snapshot as this card shows it: a card asked for an incident since merged says so."""
    if card.incident_id != snapshot.incident.id and not snapshot.merged_from:
        return snapshot.model_copy(update={"merged_from": (card.incident_id,)})
    return snapshot


async def _redraw(
    work: Work,
    live: LiveCards,
    card: LiveCard,
    snapshot: IncidentSnapshot,
    job: RefreshLiveCards,
    delivery: Delivery,
    *,
    live_now: bool,
) -> Redrawn:
    """What became of the card: drawn, already showing this (or gone, or another job's), or deferred
    for lack of room in Slack's pace (only a live redraw: a card's last one waits its turn)."""
    shown = shown_on(card, snapshot)
    digest = card_digest(shown, card.incident_id)
    if digest == card.digest and not card.needs_redraw and live_now:
        return "same"
    method = _method(card)
    if method is not None:
        pace = work.slack_pace(method)
        if not live_now:
            await pace.wait()
        elif not await pace.take(within=PACE_WAIT):
            return "deferred"
    change = job.version.isoformat() if job.version is not None else digest
    claim = f"live:{card.id}:{change}:{'live' if live_now else 'final'}"
    if not await work.once.begin(claim, delivery.id):
        return "same"
    now = _now()
    uses = card.uses + 1 if card.place.surface == "ephemeral" else None
    try:
        drawn = await _draw(work, card, shown, live_now=live_now, now=now)
    except SlackApiError as error:
        reason = error.response.get("error")
        if reason not in GONE:
            raise
        logger.info("live card %s of incident %s is gone (%s): forgotten", card.id, card.follows_id, reason)
        drawn = False
    except ResponseUrlRefused as error:
        if error.status >= 500:
            raise
        drawn = False
    if not drawn:
        await live.store.forget([card.id])
    else:
        await live.store.drawn(card.id, digest=digest, follows_id=shown.incident.id, now=now, uses=uses)
    await work.once.finish(claim)
    return "drawn" if drawn else "same"


def _method(card: LiveCard) -> str | None:
    """The Slack Web API method that redraws the card (a response_url has no rate tier)."""
    if card.place.surface == "ephemeral":
        return None
    return "chat.unfurl" if card.place.surface == "unfurl" and card.place.url else "chat.update"


async def _draw(
    work: Work, card: LiveCard, shown: IncidentSnapshot, *, live_now: bool, now: datetime
) -> bool:
    """Put the card where it is, as much of it as it showed (a redacted card stays redacted);
    False when Slack no longer takes it there."""
    place = card.place
    detail = recorded_detail(card.detail)
    if place.surface == "ephemeral":
        if place.response_url is None or card.uses >= RESPONSE_URL_USES:
            return False
        if now >= card.created_at + RESPONSE_URL_LIFETIME:
            return False  # Slack no longer takes it: not even tried
        ctx = work.card_context(shareable=True, live=live_now, detail=detail)
        body = {"replace_original": True, "response_type": "ephemeral", "text": fallback_text(shown, ctx),
                "blocks": work.cards(shown, ctx)}  # fmt: skip
        await work.respond(place.response_url, body)
        return True
    if place.channel is None or place.ts is None:
        return False
    if place.surface == "unfurl" and place.url:
        ctx = work.card_context(unfurl_url=place.url, live=live_now, detail=detail)
        await work.slack.chat_unfurl(channel=place.channel, ts=place.ts, **unfurl_arguments(work, shown, ctx))
        return True
    ctx = work.card_context(live=live_now, detail=detail)
    message = message_card_body(shown, ctx, card.shared_by, render=work.cards)
    await work.slack.chat_update(
        channel=place.channel, ts=place.ts, text=message["text"], blocks=message["blocks"]
    )
    return True


def recorded_detail(value: str) -> Detail:
    """A card's recorded detail; anything unreadable (a newer release's word) is redacted, never full."""
    try:
        detail = Detail(value)
    except ValueError:
        return Detail.REDACTED
    return Detail.REDACTED if detail is Detail.NONE else detail


async def write_down(
    work: Work,
    snapshot: IncidentSnapshot,
    places: list[CardPlace],
    *,
    asked_for: str,
    uses: int = 0,
    shared_by: str | None = None,
    detail: Detail = Detail.FULL,
) -> None:
    """Record cards just put in Slack, so the watcher keeps them up to date (as `detail` as drawn)."""
    if work.live is None or not places:
        return
    now = _now()
    cards = [
        work.live.card(
            snapshot, place, now=now, asked_for=asked_for, uses=uses, shared_by=shared_by, detail=detail.value
        )
        for place in places
    ]
    try:
        await work.live.remember(cards, snapshot.incident.last_update_date_time)
    except Exception:  # the card is in Slack already: a database failure leaves it a snapshot, no more
        logger.exception("cards of incident %s could not be written down", snapshot.incident.id)


async def gave_up(work: Work, job: RefreshLiveCards) -> None:
    """Every try failed: flag the cards so the next poll tries them again."""
    if work.live is None:
        return
    cards = await work.live.store.following([job.incident_id], now=_now())
    await work.live.store.mark_needs_redraw([card.id for card in cards])
