"""`link_shared` and `entity_details_requested`: queue the work before Bolt acks the event; Slack
retries of done work are dropped."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp

from bot.blocks.entity import parse_external_ref
from bot.config.settings import Settings
from bot.jobs import MAX_LINKS, ChannelLeft, PresentEntity, PublishHome, UnfurlLinks, submit_job
from bot.state.intake import Intake

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("link_shared")(handle_link_shared)
    app.event("entity_details_requested")(handle_entity_details_requested)
    app.event("app_home_opened")(handle_app_home_opened)
    app.event("channel_left")(handle_channel_left)


async def handle_link_shared(body: dict[str, Any], event: dict[str, Any], intake: Intake) -> None:
    """Queue one unfurl job per event (Bolt acks events after this returns: process_before_response).

    A Slack retry of an event already queued, by this replica or another, is acked and dropped:
    the intake keeps the event id with the job, in the same Redis round trip.
    """
    event_id = str(body.get("event_id") or "")
    job = UnfurlLinks(
        user_id=str(event.get("user") or ""),
        event_id=event_id,
        channel=event.get("channel"),
        message_ts=event.get("message_ts"),
        unfurl_id=event.get("unfurl_id"),
        source=event.get("source"),
        links=tuple(str(link.get("url", "")) for link in event.get("links") or [])[:MAX_LINKS],
    )
    await submit_job(intake, job, once=f"event:{event_id}" if event_id else None)


async def handle_entity_details_requested(
    body: dict[str, Any], event: dict[str, Any], intake: Intake, settings: Settings
) -> None:
    """Someone opened a Work Object's flexpane: queue its details, for that person alone.

    Only an entity this bot made is answered: its `external_ref` names an incident of our tenant.
    Anything else (another app's type, a malformed ref or trigger) is dropped, logged without its
    contents, and acked like every event.
    """
    found = parse_external_ref(event.get("external_ref") or {})
    tenant = (settings.azure_tenant_id or "").lower()
    if found is None or (tenant and found[1] is not None and found[1] != tenant):
        logger.info("entity_details_requested for an entity that is not one of ours: ignored")
        return
    event_id = str(body.get("event_id") or "")
    url = event.get("app_unfurl_url") or event.get("entity_url")
    try:
        job = PresentEntity(
            user_id=str(event.get("user") or ""),
            trigger_id=str(event.get("trigger_id") or ""),
            incident_id=found[0],
            url=url if isinstance(url, str) else None,
        )
    except ValidationError as error:
        logger.info("entity_details_requested unreadable (%d errors): ignored", error.error_count())
        return
    await submit_job(intake, job, once=f"event:{event_id}" if event_id else None)


async def handle_app_home_opened(event: dict[str, Any], intake: Intake) -> None:
    """The person opened the bot's Home tab: publish it (the job reads it at most once a minute)."""
    if event.get("tab", "home") != "home":
        return
    try:
        job = PublishHome(user_id=str(event.get("user") or ""))
    except ValidationError:
        return
    await submit_job(intake, job)


async def handle_channel_left(body: dict[str, Any], event: dict[str, Any], intake: Intake) -> None:
    """The bot was removed from a channel: its subscriptions there pause."""
    try:
        job = ChannelLeft(channel_id=str(event.get("channel") or ""), reason="the bot was removed")
    except ValidationError:
        return
    event_id = str(body.get("event_id") or "")
    await submit_job(intake, job, once=f"event:{event_id}" if event_id else None)
