"""The unfurl-domain check against the loopback fake Slack Web API: apps.manifest.export with an
app configuration token, through the same bot client doctor builds."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.clouds import CLOUDS
from bot.config.load import load_settings
from bot.config.settings import Settings
from bot.ops.unfurl_domains import covers, manifest_path_for, unfurl_domain_check
from bot.slackweb import build_web_client
from tests.fakes import FakeSlackApi

ROOT = Path(__file__).parent.parent
BOT_TOKEN = "xoxb-unfurl-bot-token"
CONFIG_TOKEN = "xoxe.xoxp-1-unfurl-config-SECRET"
APP_ID = "A0INCIDENT"


def shipped_manifest(cloud: str) -> dict[str, Any]:
    """The manifest this repository ships for `cloud`, as apps.manifest.export would return it."""
    data: dict[str, Any] = yaml.safe_load((ROOT / manifest_path_for(cloud)).read_text())
    return data


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(bot_token=BOT_TOKEN, config_token=CONFIG_TOKEN) as fake:
        yield fake


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_settings(slack: FakeSlackApi) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "incident_source": "demo",
            "slack_bot_token": BOT_TOKEN,
            "slack_api_url": slack.api_url,
        }
        return load_settings(**{**values, **overrides})

    return make


async def check(
    settings: Settings,
    http: aiohttp.ClientSession,
    *,
    config_token: str | None = CONFIG_TOKEN,
    app_id: str | None = APP_ID,
) -> tuple[str, str, str]:
    result = await unfurl_domain_check(
        settings, build_web_client(settings, http), config_token=config_token, app_id=app_id
    )
    assert CONFIG_TOKEN not in "".join(result) and BOT_TOKEN not in "".join(result)
    return result


def test_manifest_path_for_names_the_shipped_file_of_each_cloud() -> None:
    assert manifest_path_for("global") == "manifest.yml"
    assert manifest_path_for("usgov") == "manifests/manifest.usgov.yml"
    for cloud in CLOUDS:
        assert (ROOT / manifest_path_for(cloud)).is_file()
    with pytest.raises(ValueError, match="unknown cloud"):
        manifest_path_for("moon")


def test_a_domain_covers_itself_and_its_subdomains_only() -> None:
    # Slack: "All additive subdomains ... will be considered matches"; a subdomain excludes the naked domain.
    assert covers("security.microsoft.us", "security.microsoft.us")
    assert covers("microsoft.us", "security.microsoft.us")
    assert covers("Microsoft.US", "security.microsoft.us.")
    assert not covers("security.microsoft.us", "microsoft.us")
    assert not covers("microsoft.us", "security.microsoft.com")
    assert not covers("soft.us", "security.microsoft.us")
    assert not covers("", "security.microsoft.us")


async def test_ok_when_the_portal_host_is_an_unfurl_domain(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    slack.manifests[APP_ID] = shipped_manifest("usgov")
    result, detail, fix = await check(make_settings(incident_cloud="usgov"), http)
    assert (result, fix) == ("OK", "")
    assert detail == "security.microsoft.us is among the app's unfurl domains"
    [call] = slack.calls_to("apps.manifest.export")
    assert call.token == CONFIG_TOKEN and call.args == {"app_id": APP_ID}


async def test_ok_when_a_parent_domain_is_registered(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    slack.manifests[APP_ID] = {"features": {"unfurl_domains": ["example.com", "apps.mil"]}}
    result, detail, _ = await check(make_settings(incident_cloud="usgovdod"), http)
    assert result == "OK"
    assert detail == "security.apps.mil is among the app's unfurl domains (through apps.mil)"


async def test_fail_when_the_app_lists_another_clouds_portal(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    slack.manifests[APP_ID] = shipped_manifest("global")  # created from manifest.yml
    result, detail, fix = await check(make_settings(incident_cloud="usgov"), http)
    assert result == "FAIL"
    assert detail == (
        "links to security.microsoft.us (INCIDENT_CLOUD=usgov) never reach the bot: "
        "the app's unfurl domains are security.microsoft.com"
    )
    assert fix == (
        "add security.microsoft.us under features.unfurl_domains "
        "(or create the app from manifests/manifest.usgov.yml), then reinstall the app"
    )


async def test_fail_when_the_app_has_no_unfurl_domains(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    slack.manifests[APP_ID] = {"display_information": {"name": "Incident Bot"}}
    result, detail, fix = await check(make_settings(incident_cloud="china"), http)
    assert result == "FAIL"
    assert detail.endswith("the app's unfurl domains are none")
    assert "manifests/manifest.china.yml" in fix


async def test_a_portal_url_override_is_what_is_checked(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    settings = make_settings(incident_cloud="usgov", defender_portal_url="https://security.contoso.example")
    slack.manifests[APP_ID] = shipped_manifest("usgov")
    result, detail, fix = await check(settings, http)
    assert result == "FAIL" and "links to security.contoso.example" in detail
    assert fix == (
        "add security.contoso.example under features.unfurl_domains "
        "(or start from manifests/manifest.usgov.yml), then reinstall the app"
    )
    slack.manifests[APP_ID] = {"features": {"unfurl_domains": ["security.contoso.example"]}}
    assert (await check(settings, http))[0] == "OK"


async def test_fail_with_the_config_token_fix_on_invalid_auth(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    slack.manifests[APP_ID] = shipped_manifest("global")
    result, detail, fix = await check(make_settings(), http, config_token="xoxe.xoxp-1-stale")
    assert (result, detail) == ("FAIL", "apps.manifest.export: invalid_auth")
    assert fix.startswith("config tokens expire after 12 hours: create a new one under Your Apps")
    assert "Your App Configuration Tokens" in fix and "xoxe.xoxp-1-stale" not in fix


async def test_fail_with_the_config_token_fix_on_token_expired(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    slack.fail_next("apps.manifest.export", error="token_expired", status=200)
    result, detail, fix = await check(make_settings(), http)
    assert (result, detail) == ("FAIL", "apps.manifest.export: token_expired")
    assert "config tokens expire after 12 hours" in fix


async def test_fail_with_the_app_id_fix_when_slack_does_not_know_the_app(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    result, detail, fix = await check(make_settings(), http, app_id="A0SOMEOTHER")
    assert (result, detail) == ("FAIL", "apps.manifest.export: app_not_found")
    assert fix.startswith("SLACK_APP_ID is wrong")


async def test_skip_without_a_config_token_names_the_clouds_manifest(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    result, detail, fix = await check(make_settings(incident_cloud="usgov"), http, config_token=None)
    assert result == "SKIP"
    assert detail == (
        "a bot token cannot read the app's unfurl domains: make sure security.microsoft.us is under "
        "features.unfurl_domains of the manifest you created the app from (manifests/manifest.usgov.yml)"
    )
    assert "SLACK_CONFIG_TOKEN" in fix and "SLACK_APP_ID" not in fix
    assert slack.calls == []


async def test_skip_without_an_app_id(
    slack: FakeSlackApi, make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    result, detail, fix = await check(make_settings(), http, app_id=None)
    assert result == "SKIP" and "(manifest.yml)" in detail
    assert "SLACK_APP_ID" in fix and "SLACK_CONFIG_TOKEN" not in fix
    assert slack.calls == []


async def test_fail_when_slack_cannot_be_reached(
    make_settings: Callable[..., Settings], http: aiohttp.ClientSession
) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this block ends
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(slack_api_url=f"http://127.0.0.1:{port}/api/")
    client = AsyncWebClient(base_url=settings.slack_api_url, session=http, retry_handlers=[])  # fail at once
    result, detail, fix = await unfurl_domain_check(
        settings, client, config_token=CONFIG_TOKEN, app_id=APP_ID
    )
    assert result == "FAIL" and detail.startswith("apps.manifest.export: ")
    assert fix.startswith(f"cannot reach http://127.0.0.1:{port}/api/")
