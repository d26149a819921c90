"""`link_shared`: queue the unfurl before Bolt acks the event; Slack retries of done work are dropped."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.jobs import MAX_LINKS, UnfurlLinks, submit_job
from bot.state.intake import Intake


def register(app: AsyncApp) -> None:
    app.event("link_shared")(handle_link_shared)


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
