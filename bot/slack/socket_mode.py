"""Socket Mode start-up: reach Slack with one clear log line per failed try, never a traceback loop.

slack_sdk's own connect loop retries forever and logs a full traceback on each failure. The bot
asks Slack for the websocket URL itself (apps.connections.open, the call that fails while Slack is
unreachable or the app token is wrong), with a growing pause between tries, and hands the URL to
the SDK only once it has one; from then on the SDK keeps the connection up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
_FIXES = {
    "invalid_auth": "SLACK_APP_TOKEN is not valid: create an app-level token with connections:write",
    "not_allowed_token_type": "SLACK_APP_TOKEN must be an app-level token (xapp-…)",
    "missing_scope": "the app-level token needs the connections:write scope",
}


def connect_failure(error: BaseException, *, app_token: bool = True) -> str:
    """Why a call to Slack failed, in one line without secrets (`app_token`: the fix names it)."""
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error") or "unknown_error")
        fix = _FIXES.get(code) if app_token else None
        return f"Slack answered {code}" + (f" ({fix})" if fix else "")
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def connect_socket_mode(
    handler: AsyncSocketModeHandler,
    slack: AsyncWebClient,
    app_token: str,
    on_state: Callable[[str], None],
    *,
    first_pause: float = FIRST_PAUSE,
) -> None:
    """Open the Socket Mode connection, trying until it works; `on_state` hears each state."""
    pause = first_pause
    while True:
        try:
            response = await slack.apps_connections_open(app_token=app_token)
            url = str(response["url"])
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = connect_failure(error)
            on_state(f"failing: {reason}")
            logger.warning("Socket Mode: could not connect to Slack (%s); next try in %g s", reason, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            continue
        break
    handler.client.wss_uri = url  # the SDK's connect uses a URL it is given before asking for one
    await handler.connect_async()  # type: ignore[no-untyped-call]
    on_state("connected")
    logger.info("Socket Mode: connected to Slack")
