"""`/incident <id>`: usage and bad ids answered in the ack; a valid id queued, then acked."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks.messages import build_error_blocks, build_usage_blocks, build_usage_text
from bot.config.settings import Settings
from bot.errors import InvalidIncidentId
from bot.incidents.links import parse_command_text
from bot.jobs import ShowIncident, submit_job
from bot.state.intake import Intake

COMMAND = "/incident"


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_incident_command)


async def handle_incident_command(
    ack: AsyncAck, command: dict[str, str], intake: Intake, settings: Settings
) -> None:
    """Answer help and bad ids at once; queue a lookup before acking, so nothing acked is lost."""
    text = (command.get("text") or "").strip()
    if text.lower() in ("", "help"):
        await ack(text=build_usage_text(COMMAND), blocks=build_usage_blocks(COMMAND))
        return
    try:
        incident_id = parse_command_text(text, settings.portal_host)
    except InvalidIncidentId as error:
        message = f"{error}\n{build_usage_text(COMMAND)}"
        await ack(text=message, blocks=build_error_blocks(str(error)) + build_usage_blocks(COMMAND))
        return
    job = ShowIncident(
        incident_id=incident_id,
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        response_url=command["response_url"],
    )
    await submit_job(intake, job)
    await ack()
