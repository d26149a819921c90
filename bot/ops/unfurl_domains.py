"""Is the configured cloud's Defender portal among the Slack app's unfurl domains?

Slack sends `link_shared` only for links on the app's unfurl domains, so a GCC High, DoD or
21Vianet deployment whose app was created from the global manifest never sees a portal link.
A bot token cannot read the app's configuration; `apps.manifest.export` can, with an app
configuration token and the app id. Without them the check can only say what to verify by hand.

Slack matches a registered domain and every subdomain of it (`microsoft.us` covers
`security.microsoft.us`), but not the other way round:
https://docs.slack.dev/messaging/unfurling-links-in-messages#configuring_domains
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.clouds import CLOUDS
from bot.config.settings import Settings

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"
_CONFIG_TOKEN_ERRORS = {"invalid_auth", "not_authed", "token_expired", "token_revoked", "account_inactive"}
_APP_ID_ERRORS = {"invalid_app_id", "app_not_found", "app_not_owned_by_manager_app"}


def manifest_path_for(cloud: str) -> str:
    """The manifest, relative to the repository root, to create the Slack app from for `cloud`."""
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}: one of {', '.join(CLOUDS)}")
    return "manifest.yml" if cloud == "global" else f"manifests/manifest.{cloud}.yml"


def covers(domain: str, host: str) -> bool:
    """Whether Slack matches links on `host` to the registered unfurl `domain` (itself or a subdomain)."""
    domain, host = domain.strip().rstrip(".").lower(), host.rstrip(".").lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _apps_page(settings: Settings) -> str:
    host = urlsplit(settings.slack_api_url).hostname or ""
    return "api.slack-gov.com/apps" if covers("slack-gov.com", host) else "api.slack.com/apps"


def _add_host_fix(settings: Settings, host: str) -> str:
    manifest = manifest_path_for(settings.incident_cloud)
    preset = urlsplit(settings.cloud.portal).hostname
    source = f"create the app from {manifest}" if host == preset else f"start from {manifest}"
    return f"add {host} under features.unfurl_domains (or {source}), then reinstall the app"


def _error_fix(settings: Settings, code: str) -> str:
    page = _apps_page(settings)
    if code in _CONFIG_TOKEN_ERRORS:
        return (
            f"config tokens expire after 12 hours: create a new one under Your Apps ({page}) → "
            "Your App Configuration Tokens and put it in SLACK_CONFIG_TOKEN"
        )
    if code == "not_allowed_token_type":
        return "SLACK_CONFIG_TOKEN must be an app configuration token (xoxe.xoxp-…), not a bot or app token"
    if code in _APP_ID_ERRORS:
        return (
            "SLACK_APP_ID is wrong: copy the App ID (A…) from the app's Basic Information page; the "
            "config token must come from a workspace where you can manage the app"
        )
    return "check SLACK_CONFIG_TOKEN, SLACK_APP_ID and SLACK_API_URL, or read the app's App Manifest page"


async def unfurl_domain_check(
    settings: Settings, client: AsyncWebClient, *, config_token: str | None = None, app_id: str | None = None
) -> tuple[str, str, str]:
    """(result, detail, fix): OK/FAIL from the exported manifest, SKIP when Slack cannot be asked.

    `client` is any Web API client pointed at SLACK_API_URL; the config token is passed per call
    and never appears in the detail or the fix.
    """
    host = settings.portal_host
    manifest = manifest_path_for(settings.incident_cloud)
    if not config_token or not app_id:
        given = {
            "SLACK_CONFIG_TOKEN (an app configuration token, xoxe.xoxp-…)": config_token,
            "SLACK_APP_ID (the App ID on Basic Information, A…)": app_id,
        }
        missing = " and ".join(name for name, value in given.items() if not value)
        detail = (
            f"a bot token cannot read the app's unfurl domains: make sure {host} is under "
            f"features.unfurl_domains of the manifest you created the app from ({manifest})"
        )
        return SKIP, detail, f"to let doctor check it, set {missing}"
    try:
        response = await client.apps_manifest_export(token=config_token, app_id=app_id)
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        return FAIL, f"apps.manifest.export: {code}", _error_fix(settings, code)
    except (aiohttp.ClientError, TimeoutError) as error:
        fix = f"cannot reach {settings.slack_api_url}: check the network and proxy, or SLACK_API_URL"
        return FAIL, f"apps.manifest.export: {type(error).__name__}", fix
    domains = _unfurl_domains(response.get("manifest"))
    match = next((d for d in domains if covers(d, host)), None)
    if match is not None:
        via = "" if match.lower() == host.lower() else f" (through {match})"
        return OK, f"{host} is among the app's unfurl domains{via}", ""
    listed = ", ".join(domains) if domains else "none"
    detail = (
        f"links to {host} (INCIDENT_CLOUD={settings.incident_cloud}) never reach the bot: "
        f"the app's unfurl domains are {listed}"
    )
    return FAIL, detail, _add_host_fix(settings, host)


def _unfurl_domains(manifest: Any) -> list[str]:
    """features.unfurl_domains of an exported manifest; [] when absent or not a list of strings."""
    features = manifest.get("features") if isinstance(manifest, dict) else None
    domains = features.get("unfurl_domains") if isinstance(features, dict) else None
    return [d for d in domains if isinstance(d, str)] if isinstance(domains, list) else []
