"""`doctor`'s Slack rows: the bot token and its scopes, Socket Mode, and the app's unfurl domains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.settings import Settings
from bot.ops.doctor_table import FAIL, OK, SKIP, Check
from bot.ops.unfurl_domains import unfurl_domain_check

# manifest.yml's bot scopes: twelve always used, usergroups:read only for user groups in INCIDENT_WRITERS
# or INCIDENT_READERS. Without the four conversations.info ones every unfurl is redacted (UNFURL_DETAIL);
# without the two history ones a subscription post whose record was lost cannot be found again.
CORE_SCOPES = (
    "commands", "chat:write", "links:read", "links:write", "users:read", "users:read.email",
    "channels:read", "groups:read", "im:read", "mpim:read", "channels:history", "groups:history",
)  # fmt: skip
GROUP_SCOPE = "usergroups:read"

_BOT_TOKEN_FIX = "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
_APP_TOKEN_FIX = (
    "create an app-level token (xapp-…) with the connections:write scope under Basic Information → "
    "App-Level Tokens, put it in SLACK_APP_TOKEN, and turn Socket Mode on"
)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    return next((str(value) for key, value in (headers or {}).items() if key.lower() == name), None)


def _slack_fix(error: str) -> str:
    if error in ("invalid_auth", "not_authed", "not_allowed_token_type"):
        return f"SLACK_BOT_TOKEN is not valid: {_BOT_TOKEN_FIX} into SLACK_BOT_TOKEN"
    if error in ("token_revoked", "account_inactive", "token_expired"):
        return f"the app was uninstalled or its token revoked: reinstall it, then {_BOT_TOKEN_FIX}"
    return f"Slack answered {error}: check SLACK_BOT_TOKEN and SLACK_API_URL"


async def check_slack(settings: Settings, client: AsyncWebClient) -> list[Check]:
    """auth.test with the bot token, then its granted scopes against the ones the bot needs."""
    if settings.slack_bot_token is None:
        unusable = "no usable SLACK_BOT_TOKEN (see the settings row)"
        return [Check("slack", SKIP, unusable), Check("slack scopes", SKIP, unusable)]
    no_scopes = Check("slack scopes", SKIP, "needs a working auth.test")
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error") or "unknown_error")
        return [Check("slack", FAIL, f"auth.test: {code}", _slack_fix(code)), no_scopes]
    except (aiohttp.ClientError, TimeoutError) as error:
        fix = f"cannot reach {settings.slack_api_url}: check the network and proxy, or SLACK_API_URL"
        return [Check("slack", FAIL, f"auth.test: {type(error).__name__}", fix), no_scopes]
    who = f"team {response.get('team')} ({response.get('team_id')}), bot @{response.get('user')}"
    row = Check("slack", OK, f"{who} ({response.get('user_id')})")
    header = _header(response.headers, "x-oauth-scopes")
    if header is None:
        return [row, Check("slack scopes", SKIP, "Slack did not report the token's scopes")]
    granted = {scope.strip() for scope in header.split(",")}
    groups = any(who.startswith("S") for who in [*settings.incident_writers, *settings.incident_readers])
    required = [*CORE_SCOPES, GROUP_SCOPE] if groups else list(CORE_SCOPES)
    if missing := [scope for scope in required if scope not in granted]:
        fix = "reinstall the app from manifest.yml (or add these scopes and reinstall it to the workspace)"
        return [row, Check("slack scopes", FAIL, "missing " + ", ".join(missing), fix)]
    needed_for = "needed for user groups in INCIDENT_WRITERS or INCIDENT_READERS"
    note = "" if GROUP_SCOPE in granted else f"; no {GROUP_SCOPE} ({needed_for})"
    return [row, Check("slack scopes", OK, f"all {len(required)} required scopes granted{note}")]


async def check_socket_mode(settings: Settings, client: AsyncWebClient) -> Check:
    """apps.connections.open with the app token; the websocket itself is not opened."""
    if settings.slack_app_token is None:
        return Check("socket mode", SKIP, "not used (no SLACK_APP_TOKEN)")
    try:
        await client.apps_connections_open(app_token=settings.slack_app_token.get_secret_value())
    except SlackApiError as error:
        code = str(error.response.get("error") or "unknown_error")
        return Check("socket mode", FAIL, f"apps.connections.open: {code}", _APP_TOKEN_FIX)
    except (aiohttp.ClientError, TimeoutError) as error:
        fix = f"cannot reach {settings.slack_api_url}: check the network and proxy"
        return Check("socket mode", FAIL, f"apps.connections.open: {type(error).__name__}", fix)
    return Check("socket mode", OK, "apps.connections.open answered (websocket not opened)")


async def check_unfurl_domains(settings: Settings, client: AsyncWebClient) -> Check:
    """The configured cloud's portal host among the app's unfurl domains (apps.manifest.export)."""
    token = settings.slack_config_token.get_secret_value() if settings.slack_config_token else None
    return Check(
        "unfurl domains",
        *await unfurl_domain_check(settings, client, config_token=token, app_id=settings.slack_app_id),
    )
