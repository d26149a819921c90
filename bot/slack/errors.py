"""The one error handler: a listener that fails still answers the person, with a reference to quote.

Known refusals are answered by the listeners themselves; this is for what nobody expected. The log
line and the answer carry the same correlation id, so an operator finds the one from the other.
Nothing from the payload goes into the log but its kind.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.messages import build_notice_blocks
from bot.blocks.pending_modals import build_problem_modal
from bot.logs import correlation_id
from bot.slackweb import post_to_response_url

logger = logging.getLogger(__name__)

FAILED = "listener_failed"  # context key: ObservedApp counts the request as an error
_JSON: dict[str, str | Sequence[str]] = {"content-type": ["application/json;charset=utf-8"]}


def problem_text(reference: str) -> str:
    """What the person reads when something failed on our side."""
    return (
        "Sorry, that did not work: something went wrong on our side. If it happens again, give "
        f"whoever runs the bot this reference: `{reference}`."
    )


async def handle_error(
    error: Exception, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> BoltResponse | None:
    """Log the failure with its correlation id and answer the person where they are.

    A slash command is answered in its ack, a modal submission by a notice pushed over the form,
    a click by an ephemeral message. An event gets no answer: Slack retries it (a 500).
    """
    cid = correlation_id.get() or uuid.uuid4().hex[:12]
    kind = str(body.get("type") or ("slash_command" if body.get("command") else "request"))
    logger.error(
        "listener failed on %s (correlation id %s)", kind, cid, exc_info=error, extra={"correlation_id": cid}
    )
    context[FAILED] = True
    text = problem_text(cid)
    if body.get("command"):
        blocks = build_notice_blocks(f":x: {text}")
        return _json({"response_type": "ephemeral", "text": text, "blocks": blocks})
    if kind == "view_submission":
        return _json({"response_action": "push", "view": build_problem_modal(text)})
    if kind == "block_actions":
        await _tell(client, body, text)
        return BoltResponse(status=200, body="")
    return None


def _json(answer: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(answer), headers=_JSON)


async def _tell(client: AsyncWebClient, body: dict[str, Any], text: str) -> None:
    """An ephemeral note next to the clicked card (its response_url, else chat.postEphemeral)."""
    user = str((body.get("user") or {}).get("id") or "")
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    )
    message = {"response_type": "ephemeral", "replace_original": False, "text": text}
    try:
        if body.get("response_url") and client.session is not None:
            await post_to_response_url(client.session, str(body["response_url"]), message)
        elif channel and user:
            await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except (SlackApiError, aiohttp.ClientError, TimeoutError, RuntimeError) as failure:
        logger.warning("could not tell the person about the failure: %s", type(failure).__name__)
