"""Jobs that show incidents: the `/incident` answer, "Share in channel", and link unfurls."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.blocks.bodies import (
    ephemeral_card_body,
    ephemeral_error_body,
    message_card_body,
    unfurl_body,
    unfurl_error_body,
)
from bot.blocks.messages import build_notice_blocks
from bot.errors import BotError
from bot.incidents.explain import explain, wait_note
from bot.incidents.links import IncidentLink, parse_incident_link
from bot.jobs import ShareIncident, ShowIncident, UnfurlLinks
from bot.models import IncidentSnapshot
from bot.state.intake import Delivery
from bot.state.live_cards import CardPlace
from bot.work.context import Work
from bot.work.live import write_down

logger = logging.getLogger(__name__)


# A shorter wait for the API is not worth a note before the card.
NOTE_WAITS_OVER = 1.0


async def show_incident(work: Work, job: ShowIncident) -> None:
    """Answer `/incident <id>` with the card, only to the person who asked.

    When nothing is cached and the API asks us to wait, the person is told so first; the card
    then replaces that note.
    """
    incident_id = job.incident_id
    noted = False

    async def tell_wait(seconds: float) -> None:
        nonlocal noted
        if seconds > NOTE_WAITS_OVER and not noted:
            noted = await _post_wait_note(work, job.response_url, seconds)

    snapshot: IncidentSnapshot | None = None
    try:
        snapshot = await work.incidents.get(incident_id, on_wait=tell_wait)
    except BotError as error:
        body = ephemeral_error_body(explain(error, incident_id, work.settings.azure_tenant_id))
    else:
        ctx = work.card_context(shareable=True, live=work.live_now())
        body = ephemeral_card_body(snapshot, ctx, work.cards)
    if noted:
        body = {**body, "replace_original": True}
    await work.respond(job.response_url, body)
    if snapshot is not None:
        place = CardPlace("ephemeral", channel=job.channel_id, response_url=job.response_url)
        await write_down(work, snapshot, [place], asked_for=incident_id, uses=2 if noted else 1)


async def _post_wait_note(work: Work, response_url: str, seconds: float) -> bool:
    """The interim "asks us to wait N s" answer; False if Slack did not take it (the card follows anyway)."""
    text = wait_note(seconds)
    body = {
        "response_type": "ephemeral",
        "text": text,
        "blocks": build_notice_blocks(f":hourglass_flowing_sand: {text}"),
    }
    try:
        await work.respond(response_url, body)
    except (RuntimeError, aiohttp.ClientError, TimeoutError) as error:
        logger.warning("the wait note was not posted: %s", type(error).__name__)
        return False
    return True


async def share_incident(work: Work, job: ShareIncident, delivery: Delivery) -> None:
    """Post the card in the channel for everyone, saying who shared it, and drop the ephemeral one."""
    ref, key = job.ref, f"share:{job.click}"
    if not await work.once.begin(key, delivery.id):
        return
    try:
        snapshot = await work.incidents.get(ref.id)
    except BotError as error:  # the transport has retried what can be; this is the answer
        await work.once.finish(key)
        if ref.response_url:
            text = f"Not shared. {explain(error, ref.id, work.settings.azure_tenant_id)}"
            await work.respond(ref.response_url, {"response_type": "ephemeral", "replace_original": False,
                                                  "text": text})  # fmt: skip
        return
    ctx = work.card_context(live=work.live_now())
    body = message_card_body(snapshot, ctx, shared_by=job.user_id, render=work.cards)
    try:
        posted = await work.slack.chat_postMessage(channel=job.channel_id, **body)
    except SlackApiError as error:
        if error.response.get("error") not in ("not_in_channel", "channel_not_found"):
            raise
        text = "I can't post in this channel yet: invite me with `/invite @Incident Bot` and share again."
        if ref.response_url:
            answer = {"response_type": "ephemeral", "text": text, "replace_original": False}
            await work.respond(ref.response_url, answer)
        await work.once.finish(key)
        return
    await work.once.finish(key)
    place = CardPlace("message", channel=str(posted.get("channel") or job.channel_id), ts=posted.get("ts"))
    await write_down(work, snapshot, [place], asked_for=ref.id, shared_by=job.user_id)
    if ref.response_url:
        await work.respond(ref.response_url, {"delete_original": True})


async def tell_gave_up(work: Work, job: ShowIncident | ShareIncident) -> None:
    """The job failed every try: say so where the person asked."""
    response_url = job.response_url if isinstance(job, ShowIncident) else job.ref.response_url
    if not response_url:
        return
    incident = job.incident_id if isinstance(job, ShowIncident) else job.ref.id
    text = f"Sorry, your request about incident {incident} did not go through. Please try again."
    await work.respond(
        response_url,
        {
            "response_type": "ephemeral",
            "replace_original": False,
            "text": text,
            "blocks": build_notice_blocks(f":x: {text}"),
        },
    )


def _accepted_links(work: Work, urls: tuple[str, ...]) -> list[IncidentLink]:
    """Portal links of this deployment's cloud and tenant; others are left to Slack."""
    host = work.settings.portal_host
    tenant = (work.settings.azure_tenant_id or "").lower()
    accepted = []
    for url in urls:
        link = parse_incident_link(url, host)
        if link is None:
            continue
        if tenant and link.tenant_id and link.tenant_id.lower() != tenant:
            logger.info("not unfurling incident %s: link is for another tenant", link.incident_id)
            continue
        accepted.append(link)
    return accepted


async def unfurl_links(work: Work, job: UnfurlLinks) -> None:
    """One chat.unfurl for a message's incident links, each distinct incident fetched once.

    No claim here: the intake queues an event once (Slack's retries are dropped at the ack), and
    chat.unfurl replaces a message's unfurl, so even a redelivery after a crash shows one card.
    """
    links = _accepted_links(work, job.links)
    if not links:
        return
    ids = list(dict.fromkeys(link.incident_id for link in links))
    results = await asyncio.gather(*(work.incidents.get(i) for i in ids), return_exceptions=True)
    fetched: dict[str, IncidentSnapshot | BaseException] = dict(zip(ids, results, strict=True))
    unfurls: dict[str, Any] = {}
    # A composer preview is replaced by the posted message's own unfurl: only that one is kept live.
    kept = job.source != "composer" and bool(job.channel and job.message_ts)
    live = kept and work.live_now()
    for link in links:
        result = fetched[link.incident_id]
        if isinstance(result, IncidentSnapshot):
            ctx = work.card_context(unfurl_url=link.url, live=live)
            unfurls[link.url] = unfurl_body(result, ctx, work.cards)
        elif isinstance(result, BotError):
            text = explain(result, link.incident_id, work.settings.azure_tenant_id)
            unfurls[link.url] = unfurl_error_body(text)
        else:
            # Each link stands alone: one that fails in a way nobody foresaw costs its own card only.
            logger.error("unfurl of incident %s failed", link.incident_id, exc_info=result)
            unfurls[link.url] = unfurl_error_body(f"Incident {link.incident_id} could not be shown.")
    target: dict[str, Any] = (
        {"unfurl_id": job.unfurl_id, "source": job.source}
        if job.source == "composer" and job.unfurl_id
        else {"channel": job.channel, "ts": job.message_ts}
    )
    try:
        await work.slack.chat_unfurl(unfurls=unfurls, **target)
    except SlackApiError as error:
        if error.response.get("error") in ("ratelimited",) or error.response.status_code >= 500:
            raise
        logger.warning("chat.unfurl refused: %s", error.response.get("error"))
        return
    if kept:
        for link in links:
            result = fetched[link.incident_id]
            if isinstance(result, IncidentSnapshot):
                place = CardPlace("unfurl", channel=job.channel, ts=job.message_ts, url=link.url)
                await write_down(work, result, [place], asked_for=link.incident_id)
    # A crash between chat.unfurl and the XACK brings the job back; its chat.unfurl replaces
    # this one with the same card.
