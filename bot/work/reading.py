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
from bot.blocks.entity import unfurl_metadata
from bot.blocks.messages import build_notice_blocks
from bot.blocks.share_warning import SHARE_REFUSED, build_share_warning, share_warning_text
from bot.config.unfurl import Detail
from bot.errors import BotError
from bot.incidents.audience import link_conversation
from bot.incidents.explain import explain, wait_note
from bot.incidents.links import IncidentLink, parse_incident_link
from bot.jobs import ShareIncident, ShowAlertIncident, ShowIncident, UnfurlLinks
from bot.models import IncidentSnapshot
from bot.state.intake import Delivery
from bot.state.live_cards import CardPlace
from bot.work.alert_unfurls import accepted_alert_links, alert_unfurls, incident_of
from bot.work.context import Work
from bot.work.live import write_down
from bot.work.places import tell, whisper
from bot.work.unfurls import link_entity, sends_work_objects

logger = logging.getLogger(__name__)


# A shorter wait for the API is not worth a note before the card.
NOTE_WAITS_OVER = 1.0


async def show_incident(work: Work, job: ShowIncident) -> None:
    """Answer `/incident <id>` with the card, only to the person who asked.

    When nothing is cached and the API asks us to wait, the person is told so first; the card
    then replaces that note.
    """
    incident_id = job.incident_id
    # Slash commands come only from members of workspaces the app is installed in: ours.
    our_team = await work.our_team()
    if not await work.people.may_read(job.user_id, team_id=our_team, our_team=our_team):
        text = work.people.reader_refusal_text()
        await work.respond(job.response_url, {"response_type": "ephemeral", "text": text,
                                              "blocks": build_notice_blocks(text)})  # fmt: skip
        return
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


async def show_alert_incident(work: Work, job: ShowAlertIncident) -> None:
    """`/incident <alert id>`: the card of the incident the alert belongs to."""
    try:
        alert = await work.alerts.get(job.alert_id)
    except BotError as error:
        text = explain(error, job.alert_id, work.settings.azure_tenant_id, kind="alert")
        await work.respond(job.response_url, ephemeral_error_body(text))
        return
    incident_id = incident_of(alert)
    if incident_id is None:
        text = f"Alert {job.alert_id} does not name an incident the bot can show."
        await work.respond(job.response_url, ephemeral_error_body(text))
        return
    show = ShowIncident(incident_id=incident_id, user_id=job.user_id, channel_id=job.channel_id,
                        response_url=job.response_url)  # fmt: skip
    await show_incident(work, show)


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
    """Post the card in the channel for everyone, saying who shared it, and drop the ephemeral one.

    The channel decides how much the card shows (`UNFURL_DETAIL`): where outsiders read, the person
    is warned first and the limited card is posted once they confirm; where nothing may be shown,
    nothing is posted.
    """
    ref, key = job.ref, f"share:{job.click}"
    detail = await work.detail_in(job.channel_id, sharer_team=job.user_team)
    if detail is Detail.NONE:
        await tell(work, ref, job.user_id, SHARE_REFUSED)
        return
    if detail is Detail.REDACTED and not job.confirmed:
        value = work.seal.button_value(ref.id)
        blocks = build_share_warning(ref.id, value, show_title=work.settings.unfurl_redacted_title == "show")
        await whisper(work, ref, job.user_id, {"text": share_warning_text(ref.id), "blocks": blocks})
        return
    if not await work.once.begin(key, delivery.id):
        return
    try:
        snapshot = await work.incidents.get(ref.id)
    except BotError as error:  # the transport has retried what can be; this is the answer
        await work.once.finish(key)
        await tell(
            work, ref, job.user_id, f"Not shared. {explain(error, ref.id, work.settings.azure_tenant_id)}"
        )
        return
    ctx = work.card_context(live=work.live_now(), detail=detail)
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
    await write_down(work, snapshot, [place], asked_for=ref.id, shared_by=job.user_id, detail=detail)
    if ref.response_url:
        await work.respond(ref.response_url, {"delete_original": True})


async def tell_gave_up(work: Work, job: ShowIncident | ShareIncident | ShowAlertIncident) -> None:
    """The job failed every try: say so where the person asked."""
    response_url = job.ref.response_url if isinstance(job, ShareIncident) else job.response_url
    if not response_url:
        return
    if isinstance(job, ShowAlertIncident):
        about = f"alert {job.alert_id}"
    else:
        about = f"incident {job.incident_id if isinstance(job, ShowIncident) else job.ref.id}"
    text = f"Sorry, your request about {about} did not go through. Please try again."
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
    accepted = []
    for url in urls:
        link = parse_incident_link(url, host)
        if link is None:
            continue
        if not _our_tenant(work, link.tenant_id):
            logger.info("not unfurling incident %s: link is for another tenant", link.incident_id)
            continue
        accepted.append(link)
    return accepted


def _our_tenant(work: Work, tenant_id: str | None) -> bool:
    tenant = (work.settings.azure_tenant_id or "").lower()
    return not tenant or not tenant_id or tenant_id.lower() == tenant


async def unfurl_links(work: Work, job: UnfurlLinks) -> None:
    """One chat.unfurl for a message's incident and alert links, each distinct one fetched once.

    What the unfurl shows follows the conversation (`UNFURL_DETAIL`): the full card, the redacted
    one, or nothing at all. No claim here: the intake queues an event once (Slack's retries are
    dropped at the ack), and chat.unfurl replaces a message's unfurl, so even a redelivery after a
    crash shows one card.
    """
    links = _accepted_links(work, job.links)
    alert_links = accepted_alert_links(work, job.links)
    if not links and not alert_links:
        return
    channel = link_conversation({"channel": job.channel, "source": job.source})
    detail = await work.detail_in(channel, sharer=job.user_id or None)
    if detail is Detail.NONE:
        logger.info("not unfurling %d link(s): UNFURL_DETAIL says none here", len(job.links))
        return
    ids = list(dict.fromkeys(link.incident_id for link in links))
    results = await asyncio.gather(*(work.incidents.get(i) for i in ids), return_exceptions=True)
    fetched: dict[str, IncidentSnapshot | BaseException] = dict(zip(ids, results, strict=True))
    unfurls: dict[str, Any] = {}
    entities: list[dict[str, Any]] = []
    # A composer preview is replaced by the posted message's own unfurl: only that one is kept live.
    kept = job.source != "composer" and bool(job.channel and job.message_ts)
    live = kept and work.live_now()
    for link in links:
        result = fetched[link.incident_id]
        if isinstance(result, IncidentSnapshot):
            ctx = work.card_context(unfurl_url=link.url, live=live, detail=detail)
            unfurls[link.url] = unfurl_body(result, ctx, work.cards)
            entities.append(link_entity(result, ctx))
        elif isinstance(result, BotError):
            text = explain(result, link.incident_id, work.settings.azure_tenant_id)
            unfurls[link.url] = unfurl_error_body(text)
        else:
            # Each link stands alone: one that fails in a way nobody foresaw costs its own card only.
            logger.error("unfurl of incident %s failed", link.incident_id, exc_info=result)
            unfurls[link.url] = unfurl_error_body(f"Incident {link.incident_id} could not be shown.")
    unfurls.update(await alert_unfurls(work, alert_links, detail=detail))
    target: dict[str, Any] = (
        {"unfurl_id": job.unfurl_id, "source": job.source}
        if job.source == "composer" and job.unfurl_id
        else {"channel": job.channel, "ts": job.message_ts}
    )
    if sends_work_objects(work) and entities:
        target["metadata"] = unfurl_metadata(entities)
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
                await write_down(work, result, [place], asked_for=link.incident_id, detail=detail)
    # A crash between chat.unfurl and the XACK brings the job back; its chat.unfurl replaces
    # this one with the same card.
