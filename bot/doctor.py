"""`incident-bot doctor`: check settings, Entra, the incident API, Slack and the cache; print a table.

Each check stands alone (only the incident read waits for a token) and says what it found and,
when it fails, what to change. Nothing printed carries a secret or a token.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import textwrap
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import redis.asyncio as aioredis
import redis.exceptions
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.errors import AuthError, BotError, PermissionDenied
from bot.explain import explain
from bot.graph import build_http_client, build_incident_api, build_token_provider
from bot.graph.auth import TokenProvider
from bot.slackweb import build_web_client

logger = logging.getLogger(__name__)

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
# manifest.yml's bot scopes: six always used, usergroups:read only for user groups in INCIDENT_WRITERS.
CORE_SCOPES = ("commands", "chat:write", "links:read", "links:write", "users:read", "users:read.email")
GROUP_SCOPE = "usergroups:read"
REDIS_TIMEOUT = 2.0

_SECRET = "the secret is wrong or expired: create a new client secret, copy its Value (not its ID) into "
_TENANT = "AZURE_TENANT_ID is wrong: copy the Directory (tenant) ID from the app registration's Overview"
_AADSTS_FIXES = {
    "AADSTS7000215": _SECRET + "AZURE_CLIENT_SECRET",
    "AADSTS7000222": _SECRET + "AZURE_CLIENT_SECRET",
    "AADSTS700016": "AZURE_CLIENT_ID is not an app in this tenant: copy the Application (client) ID and "
    "the Directory (tenant) ID from the same app registration's Overview",
    "AADSTS90002": _TENANT + " (and check INCIDENT_CLOUD)",
    "AADSTS900023": _TENANT,
    "AADSTS700027": "Entra does not know this certificate: upload its public part under the app's "
    "Certificates & secrets, or fix AZURE_CLIENT_CERTIFICATE_PATH",
    "AADSTS500011": "the incident API is not in this tenant or cloud: check INCIDENT_API and INCIDENT_CLOUD",
}
_BOT_TOKEN_FIX = "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
_APP_TOKEN_FIX = (
    "create an app-level token (xapp-…) with the connections:write scope under Basic Information → "
    "App-Level Tokens, put it in SLACK_APP_TOKEN, and turn Socket Mode on"
)
_API_APP = {"graph": "Microsoft Graph", "defender": "Microsoft Threat Protection"}


@dataclass(frozen=True)
class Check:
    """One row of the table."""

    name: str
    result: str  # OK, FAIL or SKIP
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.result != FAIL


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}{port}"))


def render_table(checks: list[Check], widths: tuple[int, ...] = (14, 6, 50, 60)) -> str:
    """A plain-text table (check, result, detail, fix); long cells wrap inside their column."""
    rows = [("CHECK", "RESULT", "DETAIL", "FIX")] + [(c.name, c.result, c.detail, c.fix) for c in checks]
    lines: list[str] = []
    for index, row in enumerate(rows):
        cells = [
            textwrap.wrap(t, w, break_on_hyphens=False) or [""] for t, w in zip(row, widths, strict=True)
        ]
        for n in range(max(map(len, cells))):
            parts = [(c[n] if n < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)]
            lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _secrets(settings: Settings) -> list[str]:
    found = (settings.azure_client_secret, settings.azure_client_certificate_password,
             settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret)  # fmt: skip
    values = [secret.get_secret_value() for secret in found if secret is not None]
    password = urlsplit(settings.cache_url).password
    values += [password, unquote(password)] if password else []
    return sorted((value for value in values if len(value) >= 4), key=len, reverse=True)


def _scrub(check: Check, secrets: list[str]) -> Check:
    detail, fix = check.detail, check.fix
    for secret in secrets:
        detail, fix = detail.replace(secret, "***"), fix.replace(secret, "***")
    return replace(check, detail=detail, fix=fix)


def check_settings(settings: Settings) -> Check:
    problems: dict[str, str] = {}  # problem → fix
    bot, app, signing = settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret
    if bot is None:
        problems["SLACK_BOT_TOKEN is not set"] = _BOT_TOKEN_FIX + " into SLACK_BOT_TOKEN"
    elif not bot.get_secret_value().startswith(("xoxb-", "xoxe.xoxb-")):
        problems["SLACK_BOT_TOKEN is not a bot token (xoxb-…)"] = _BOT_TOKEN_FIX + " into SLACK_BOT_TOKEN"
    if app is None and signing is None:
        problems["neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set"] = (
            "set SLACK_APP_TOKEN (Socket Mode: an app-level token xapp-… with connections:write) or "
            "SLACK_SIGNING_SECRET (HTTP mode: Basic Information → Signing Secret)"
        )
    elif app is not None and not app.get_secret_value().startswith("xapp-"):
        problems["SLACK_APP_TOKEN is not an app-level token (xapp-…)"] = _APP_TOKEN_FIX
    mode = "Socket Mode" if app else "HTTP mode" if signing else "no Slack mode"
    if settings.incident_source == "demo":
        source = "demo incidents (sample data)"
    else:
        credential = "client secret" if settings.azure_client_secret else "certificate"
        source = (f"{settings.incident_api} API {settings.api_root}; tenant {settings.azure_tenant_id}, "
                  f"client {settings.azure_client_id} ({credential})")  # fmt: skip
    detail = "; ".join([mode, source, f"cache {redact_url(settings.cache_url)}", *problems])
    return Check("settings", FAIL if problems else OK, detail, "; ".join(problems.values()))


def token_fix(error: AuthError, settings: Settings) -> str:
    if error.code in _AADSTS_FIXES:
        return _AADSTS_FIXES[error.code]
    if error.code:
        return f"see https://login.microsoftonline.com/error?code={error.code.removeprefix('AADSTS')}"
    if error.reason.startswith("identity provider unavailable"):
        return (f"cannot reach {settings.authority_host}: check the network and proxy (HTTPS_PROXY); behind "
                "a TLS-inspecting proxy set REQUESTS_CA_BUNDLE to its CA file")  # fmt: skip
    return "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or certificate"


async def check_token(settings: Settings, tokens: TokenProvider) -> Check:
    try:
        await tokens.token()
    except AuthError as error:
        return Check("token", FAIL, str(error)[:400], token_fix(error, settings))
    return Check("token", OK, f"token for {settings.api_scope} from {settings.authority_host}")


async def check_incidents(settings: Settings, tokens: TokenProvider) -> Check:
    http = build_http_client(settings, tokens)
    try:
        pages = build_incident_api(settings, http).list_incidents(top=1)
        try:
            first = await anext(pages, None)
        finally:
            if (close := getattr(pages, "aclose", None)) is not None:
                await close()
    except PermissionDenied as error:
        fix = (f"add the {error.permission} application permission ({_API_APP[settings.incident_api]}) "
               "to the app registration and grant admin consent")  # fmt: skip
        return Check("incident API", FAIL, explain(error), fix)
    except BotError as error:
        fix = f"check that {settings.api_root} is reachable, and the app registration's permissions"
        return Check("incident API", FAIL, explain(error, tenant_id=settings.azure_tenant_id), fix)
    finally:
        await http.aclose()
    found = f"read incident {first.id}" if first else "read allowed; no incidents yet"
    return Check("incident API", OK, f"{settings.api_root}: {found}")


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
        return [Check("slack", SKIP, "no SLACK_BOT_TOKEN"), Check("slack scopes", SKIP, "no SLACK_BOT_TOKEN")]
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
    groups = any(writer.startswith("S") for writer in settings.incident_writers)
    required = [*CORE_SCOPES, GROUP_SCOPE] if groups else list(CORE_SCOPES)
    if missing := [scope for scope in required if scope not in granted]:
        fix = "reinstall the app from manifest.yml (or add these scopes and reinstall it to the workspace)"
        return [row, Check("slack scopes", FAIL, "missing " + ", ".join(missing), fix)]
    note = (
        "" if GROUP_SCOPE in granted else f"; no {GROUP_SCOPE} (needed for user groups in INCIDENT_WRITERS)"
    )
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


async def check_cache(settings: Settings) -> Check:
    shown = redact_url(settings.cache_url)
    if urlsplit(settings.cache_url).scheme == "memory":
        return Check("cache", OK, "memory (one process)")
    timeout = REDIS_TIMEOUT
    client = aioredis.Redis.from_url(
        settings.cache_url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except redis.exceptions.AuthenticationError as error:
        fix = "put the right password in CACHE_URL (redis://:PASSWORD@host:6379/0)"
        return Check("cache", FAIL, f"{shown}: {error}", fix)
    except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
        reason = str(error) or f"no answer within {timeout:g} s"
        return Check(
            "cache", FAIL, f"{shown}: {reason}", "start Redis, or fix host, port or TLS in CACHE_URL"
        )
    finally:
        await client.aclose()
    return Check("cache", OK, f"{shown}: PING answered")


async def _guarded(names: list[str], work: Awaitable[Check | list[Check]]) -> list[Check]:
    """The rows of one or more checks; a FAIL row per name if they break in an unforeseen way."""
    try:
        result = await work
    except Exception as error:
        logger.warning("doctor: check %s broke", names[0], exc_info=True)
        return [Check(name, FAIL, f"unexpected {type(error).__name__}: {error}"[:300]) for name in names]
    return result if isinstance(result, list) else [result]


async def _entra(settings: Settings) -> list[Check]:
    if settings.incident_source == "demo":
        return [Check(name, SKIP, "skipped (demo mode)") for name in ("token", "incident API")]
    tokens = build_token_provider(settings)
    token = await check_token(settings, tokens)
    if not token.ok:
        return [token, Check("incident API", SKIP, "needs a token (see the token row)")]
    return [token, *await _guarded(["incident API"], check_incidents(settings, tokens))]


async def _slack(settings: Settings) -> list[Check]:
    async with aiohttp.ClientSession() as session:
        client = build_web_client(settings, session)
        return [*await check_slack(settings, client), await check_socket_mode(settings, client)]


async def _settings(settings: Settings) -> Check:
    return check_settings(settings)


async def run_checks(settings: Settings) -> list[Check]:
    """Every row in table order; Entra, Slack and the cache are checked at the same time."""
    groups = await asyncio.gather(
        _guarded(["settings"], _settings(settings)),
        _guarded(["token", "incident API"], _entra(settings)),
        _guarded(["slack", "slack scopes", "socket mode"], _slack(settings)),
        _guarded(["cache"], check_cache(settings)),
    )
    secrets = _secrets(settings)
    return [_scrub(check, secrets) for group in groups for check in group]


async def doctor_command(settings: Settings) -> int:
    """Print the table on stdout; 0 when nothing failed, else 1."""
    checks = await run_checks(settings)
    failed = [check.name for check in checks if not check.ok]
    summary = f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}"
    sys.stdout.write(render_table(checks) + "\n\n" + (summary if failed else "all checks passed") + "\n")
    return 1 if failed else 0
