"""Jobs that show incidents: the `/incident` answer, "Share in channel", and link unfurls."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

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
from bot.explain import explain
from bot.intake import Job
from bot.links import IncidentLink, parse_incident_link
from bot.models import IncidentSnapshot
from bot.work import Work

logger = logging.getLogger(__name__)


def register(work: Work) -> None:
    work.on("command", lambda job: show_incident(work, job), lambda job: tell_gave_up(work, job))
    work.on("share", lambda job: share_incident(work, job), lambda job: tell_gave_up(work, job))
    work.on("unfurl", lambda job: unfurl_links(work, job))


async def show_incident(work: Work, job: Job) -> None:
    """Answer `/incident <id>` with the card, only to the person who asked."""
    payload = job.payload
    incident_id = payload["incident_id"]
    try:
        snapshot = await work.incidents.get(incident_id)
    except BotError as error:
        body = ephemeral_error_body(explain(error, incident_id, work.settings.azure_tenant_id))
    else:
        body = ephemeral_card_body(snapshot, work.card_context(shareable=True))
    await work.respond(payload["response_url"], body)


async def share_incident(work: Work, job: Job) -> None:
    """Post the card in the channel for everyone, saying who shared it, and drop the ephemeral one."""
    payload = job.payload
    if not await work.once.begin(f"share:{payload['action_key']}", job.id):
        return
    snapshot = await work.incidents.get(payload["incident_id"])
    body = message_card_body(snapshot, work.card_context(), shared_by=payload["user_id"])
    try:
        await work.slack.chat_postMessage(channel=payload["channel_id"], **body)
    except SlackApiError as error:
        if error.response.get("error") not in ("not_in_channel", "channel_not_found"):
            raise
        text = "I can't post in this channel yet: invite me with `/invite @Incident Bot` and share again."
        await work.respond(
            payload["response_url"], {"response_type": "ephemeral", "text": text, "replace_original": False}
        )
        await work.once.finish(f"share:{payload['action_key']}")
        return
    await work.once.finish(f"share:{payload['action_key']}")
    await work.respond(payload["response_url"], {"delete_original": True})


async def tell_gave_up(work: Work, job: Job) -> None:
    """The job failed every try: say so where the person asked."""
    response_url = job.payload.get("response_url")
    if not response_url:
        return
    incident = job.payload.get("incident_id", "")
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


def _accepted_links(work: Work, urls: list[str]) -> list[IncidentLink]:
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


async def unfurl_links(work: Work, job: Job) -> None:
    """One chat.unfurl for a message's incident links, each distinct incident fetched once.

    No claim here: the intake queues an event once (Slack's retries are dropped at the ack), and
    chat.unfurl replaces a message's unfurl, so even a redelivery after a crash shows one card.
    """
    payload = job.payload
    links = _accepted_links(work, payload["links"])
    if not links:
        return
    ids = list(dict.fromkeys(link.incident_id for link in links))
    results = await asyncio.gather(*(work.incidents.get(i) for i in ids), return_exceptions=True)
    fetched: dict[str, IncidentSnapshot | BaseException] = dict(zip(ids, results, strict=True))
    unfurls: dict[str, Any] = {}
    for link in links:
        result = fetched[link.incident_id]
        if isinstance(result, IncidentSnapshot):
            unfurls[link.url] = unfurl_body(result, work.card_context(unfurl_url=link.url))
        elif isinstance(result, BotError):
            text = explain(result, link.incident_id, work.settings.azure_tenant_id)
            unfurls[link.url] = unfurl_error_body(text)
        else:
            raise result
    target: dict[str, Any] = (
        {"unfurl_id": payload["unfurl_id"], "source": payload["source"]}
        if payload.get("source") == "composer" and payload.get("unfurl_id")
        else {"channel": payload["channel"], "ts": payload["message_ts"]}
    )
    try:
        await work.slack.chat_unfurl(unfurls=unfurls, **target)
    except SlackApiError as error:
        if error.response.get("error") in ("ratelimited",) or error.response.status_code >= 500:
            raise
        logger.warning("chat.unfurl refused: %s", error.response.get("error"))
    # A crash between chat.unfurl and the XACK brings the job back; its chat.unfurl replaces
    # this one with the same card.
