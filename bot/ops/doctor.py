"""`incident-bot doctor`: check settings, Entra, the incident API, Slack and the cache; print a table.

Each check stands alone (only the incident read waits for a token) and says what it found and,
when it fails, what to change. Nothing printed carries a secret or a token.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Sequence
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
import redis.exceptions

from bot.config.load import SettingProblem
from bot.config.settings import Settings
from bot.errors import AuthError, BotError, PermissionDenied
from bot.graph import build_http_client, build_incident_api, build_token_provider
from bot.graph.auth import TokenProvider
from bot.incidents.explain import explain
from bot.ops.doctor_slack import check_slack, check_socket_mode, check_unfurl_domains
from bot.ops.doctor_table import FAIL, OK, SKIP, Check, redact_url, render_table, scrub, secrets_of
from bot.slackweb import build_web_client

logger = logging.getLogger(__name__)

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
_API_APP = {"graph": "Microsoft Graph", "defender": "Microsoft Threat Protection"}


def check_settings(settings: Settings, problems: Sequence[SettingProblem] = ()) -> Check:
    """What is configured, and every setting that is missing or malformed with what it should be."""
    app, signing = settings.slack_app_token, settings.slack_signing_secret
    mode = "Socket Mode" if app else "HTTP mode" if signing else "no Slack mode"
    if settings.incident_source == "demo":
        source = "demo incidents (sample data)"
    elif settings.azure_client_secret or settings.azure_client_certificate_path:
        credential = "client secret" if settings.azure_client_secret else "certificate"
        source = (f"{settings.incident_api} API {settings.api_root}; tenant {settings.azure_tenant_id}, "
                  f"client {settings.azure_client_id} ({credential})")  # fmt: skip
    else:
        source = f"{settings.incident_api} API {settings.api_root}; no credential"
    summary = [mode, source, f"cache {redact_url(settings.cache_url)}"]
    if problems:
        names = ", ".join(problem.variable for problem in problems)
        summary.append(f"{len(problems)} missing or malformed: {names}")
    detail = "; ".join(summary)
    return Check("settings", FAIL if problems else OK, detail, "; ".join(map(str, problems)))


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
    if (
        not settings.azure_tenant_id
        or not settings.azure_client_id
        or not (settings.azure_client_secret or settings.azure_client_certificate_path)
    ):
        return [Check(name, SKIP, "needs the AZURE_* settings (see the settings row)")
                for name in ("token", "incident API")]  # fmt: skip
    tokens = build_token_provider(settings)
    token = await check_token(settings, tokens)
    if not token.ok:
        return [token, Check("incident API", SKIP, "needs a token (see the token row)")]
    return [token, *await _guarded(["incident API"], check_incidents(settings, tokens))]


async def _slack(settings: Settings) -> list[Check]:
    async with aiohttp.ClientSession() as session:
        client = build_web_client(settings, session)
        return [
            *await check_slack(settings, client),
            await check_socket_mode(settings, client),
            await check_unfurl_domains(settings, client),
        ]


async def _settings(settings: Settings, problems: Sequence[SettingProblem]) -> Check:
    return check_settings(settings, problems)


async def run_checks(settings: Settings, problems: Sequence[SettingProblem] = ()) -> list[Check]:
    """Every row in table order; Entra, Slack and the cache are checked at the same time."""
    groups = await asyncio.gather(
        _guarded(["settings"], _settings(settings, problems)),
        _guarded(["token", "incident API"], _entra(settings)),
        _guarded(["slack", "slack scopes", "socket mode", "unfurl domains"], _slack(settings)),
        _guarded(["cache"], check_cache(settings)),
    )
    secrets = secrets_of(settings)
    return [scrub(check, secrets) for group in groups for check in group]


async def doctor_command(settings: Settings, problems: Sequence[SettingProblem] = ()) -> int:
    """Print the table on stdout; 0 when nothing failed, else 1.

    `problems`: the settings that were missing or malformed (their defaults are in `settings`);
    every check that does not depend on them still runs.
    """
    checks = await run_checks(settings, problems)
    failed = [check.name for check in checks if not check.ok]
    summary = f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}"
    sys.stdout.write(render_table(checks) + "\n\n" + (summary if failed else "all checks passed") + "\n")
    return 1 if failed else 0
