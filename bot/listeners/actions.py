"""Card buttons: each acked at once; the work is queued (or a modal opened while trigger_id is fresh)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks.ids import ActionId
from bot.blocks.refs import IncidentRef
from bot.intake import Intake


def register(app: AsyncApp) -> None:
    app.action(ActionId.SHARE.value)(handle_share)
    app.action(ActionId.OPEN.value)(handle_open)


def action_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """Identifies one click: the same click delivered twice gives the same key."""
    return f"{body['user']['id']}:{action['action_id']}:{action.get('action_ts', '')}"


async def handle_share(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], intake: Intake) -> None:
    """Post the ephemeral card in the channel for everyone."""
    ref = IncidentRef.loads(action["value"])
    await intake.submit(
        "share",
        {
            "incident_id": ref.id,
            "user_id": body["user"]["id"],
            "channel_id": (body.get("channel") or {}).get("id") or body["container"].get("channel_id"),
            "response_url": body.get("response_url"),
            "action_key": action_key(body, action),
        },
    )
    await ack()


async def handle_open(ack: AsyncAck) -> None:
    """The URL button opens the portal in the browser; Slack still expects an ack."""
    await ack()
