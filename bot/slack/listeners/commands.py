"""`/incident <id>`: usage and bad ids answered in the ack; so is a card whose incident is fresh in
the cache. Anything else is queued, then acked: the job fetches and answers via the response_url."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks.bodies import RenderedCards, card_context_for, ephemeral_card_body
from bot.blocks.messages import build_error_blocks, build_usage_blocks, build_usage_text
from bot.blocks.refs import is_response_url
from bot.blocks.seal import CardSeal
from bot.config.settings import Settings
from bot.errors import InvalidIncidentId
from bot.incidents.alert_links import alert_id_in_command
from bot.incidents.links import parse_command_text
from bot.incidents.service import IncidentService
from bot.jobs import ListIncidents, ManageSubscriptions, ShowAlertIncident, ShowIncident, submit_job
from bot.jobs.telling import MAX_FILTER_CHARS
from bot.people import People
from bot.state.card_book import LiveCards
from bot.state.intake import Intake
from bot.state.live_cards import CardPlace

COMMAND = "/incident"


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_incident_command)


SUBSCRIPTION_OPS: dict[str, Literal["subscribe", "list", "unsubscribe", "mute"]] = {
    "subscribe": "subscribe",
    "subscriptions": "list",
    "unsubscribe": "unsubscribe",
    "mute": "mute",
}


def telling_job(command: dict[str, str], text: str) -> ManageSubscriptions | ListIncidents | None:
    """The job of `/incident subscribe|subscriptions|unsubscribe|mute|list …`; None for anything
    else (an incident or alert id, a link). Its text is checked by the job, which answers."""
    word, _, rest = text.partition(" ")
    word, rest = word.lower(), rest.strip()[:MAX_FILTER_CHARS]
    user, url = command["user_id"], command["response_url"]
    if word == "list":
        return ListIncidents(user_id=user, filter_text=rest, response_url=url)
    if word in SUBSCRIPTION_OPS:
        op = SUBSCRIPTION_OPS[word]
        return ManageSubscriptions(user_id=user, op=op, channel_id=command["channel_id"], argument=rest,
                                   response_url=url)  # fmt: skip
    return None


async def handle_incident_command(
    ack: AsyncAck,
    command: dict[str, str],
    intake: Intake,
    settings: Settings,
    incidents: IncidentService,
    cards: RenderedCards,
    seal: CardSeal,
    live: LiveCards,
    people: People,
) -> None:
    """Answer help, bad ids and cached incidents at once; queue a lookup before acking otherwise,
    so nothing acked is lost. An ack that carries the card is its delivery."""
    text = (command.get("text") or "").strip()
    if text.lower() in ("", "help"):
        await ack(text=build_usage_text(COMMAND), blocks=build_usage_blocks(COMMAND))
        return
    if (telling := telling_job(command, text)) is not None:
        await submit_job(intake, telling)
        await ack()
        return
    if (alert_id := alert_id_in_command(text, settings.portal_host)) is not None:
        alert_job = ShowAlertIncident(
            alert_id=alert_id,
            user_id=command["user_id"],
            channel_id=command["channel_id"],
            response_url=command["response_url"],
        )
        await submit_job(intake, alert_job)
        await ack()
        return
    try:
        incident_id = parse_command_text(text, settings.portal_host)
    except InvalidIncidentId as error:
        message = f"{error}\n{build_usage_text(COMMAND)}"
        await ack(text=message, blocks=build_error_blocks(str(error)) + build_usage_blocks(COMMAND))
        return
    # Only a named reader (or everyone, INCIDENT_READERS unset) is answered from the cache here;
    # anyone else is checked by the job, which may have to ask Slack for user-group members.
    snapshot = (
        await incidents.cached(incident_id) if people.reads_without_asking(command["user_id"]) else None
    )
    if snapshot is not None:
        demo, now = settings.incident_source == "demo", datetime.now(UTC)
        ctx = card_context_for(
            settings, seal, sample_data=demo, now=now, shareable=True, live=live.is_live(now)
        )
        await ack(**ephemeral_card_body(snapshot, ctx, cards))
        # Written down after the ack, in a batch: the response_url is not used yet (5 uses left).
        if is_response_url(response_url := command.get("response_url", "")):
            place = CardPlace("ephemeral", channel=command.get("channel_id"), response_url=response_url)
            card = live.card(snapshot, place, now=now, asked_for=incident_id)
            live.note(card, snapshot.incident.last_update_date_time)
        return
    job = ShowIncident(
        incident_id=incident_id,
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        response_url=command["response_url"],
    )
    await submit_job(intake, job)
    await ack()
