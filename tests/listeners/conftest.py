"""The bot's real HTTP endpoint, fed Slack-signed requests, talking to the loopback fakes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.blocks.seal import CardSeal
from bot.config.settings import Settings
from bot.server import Bot
from bot.services import open_services
from tests.fakes import TENANT_ID, FakeIncidentApi, FakeSlackApi
from tests.world import BOT_TOKEN, SIGNING_SECRET, WRITER, HttpAnswer, SlackSender

READER = "U0READER"
# The seal the bot under test derives from SIGNING_SECRET: values built with it open as the bot's own.
SEAL = CardSeal(SIGNING_SECRET)
SLACK_DATA = Path(__file__).parent.parent / "data" / "slack"
PORTAL = "https://security.microsoft.com"


def portal_link(incident_id: str, *, tab: str | None = None, tenant: str = TENANT_ID) -> str:
    path = f"/incident2/{incident_id}/{tab}" if tab else f"/incidents/{incident_id}"
    return f"{PORTAL}{path}?tid={tenant}"


def slack_payload(name: str) -> dict[str, Any]:
    """An inbound payload from tests/data/slack/ (shapes from Slack's documentation)."""
    data: dict[str, Any] = json.loads((SLACK_DATA / f"{name}.json").read_text())
    return data


@dataclass
class SlackWorld:
    """A running bot plus the fakes around it, and a sender that speaks Slack's inbound protocol."""

    bot: Bot
    slack: FakeSlackApi
    api: FakeIncidentApi
    http: aiohttp.ClientSession

    @property
    def sender(self) -> SlackSender:
        return SlackSender(self.http, f"http://127.0.0.1:{self.bot.port}/slack/events")

    async def command(self, text: str, *, response: str = "cmd", **kwargs: Any) -> HttpAnswer:
        return await self.sender.command(text, self.slack.response_url(response), **kwargs)

    async def event(self, body: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        return await self.sender.event(body, **kwargs)

    async def interact(self, payload: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        return await self.sender.interact(payload, **kwargs)

    async def settle(self) -> None:
        """Wait until every queued job finished."""
        await self.bot.intake.drain()


def slack_overrides(fake_slack: FakeSlackApi) -> dict[str, Any]:
    return {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake_slack.api_url,
        "host": "127.0.0.1",
        "port": 0,
        "incident_writers": WRITER,
    }


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(bot_token=BOT_TOKEN) as slack:
        slack.users[WRITER] = {
            "id": WRITER,
            "name": "jane",
            "real_name": "Jane Doe",
            "profile": {"real_name": "Jane Doe", "display_name": "jane", "email": "jane@contoso.com"},
        }
        slack.users[READER] = {
            "id": READER,
            "name": "rob",
            "profile": {"real_name": "Rob Reader", "display_name": "rob", "email": "rob@contoso.com"},
        }
        yield slack


WorldFactory = Callable[..., Awaitable[SlackWorld]]


@pytest.fixture
async def start_world(
    make_settings: Callable[..., Settings], fake_slack: FakeSlackApi, incident_api: FakeIncidentApi
) -> AsyncIterator[WorldFactory]:
    """Start a bot with extra settings; every bot started is stopped at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def start(**overrides: Any) -> SlackWorld:
            settings = make_settings(**{**slack_overrides(fake_slack), **overrides})
            services = await stack.enter_async_context(open_services(settings))
            bot = Bot(settings, services)
            await bot.start()
            stack.push_async_callback(bot.stop, 5)
            return SlackWorld(bot, fake_slack, incident_api, http)

        yield start


@pytest.fixture
async def world(start_world: WorldFactory) -> SlackWorld:
    return await start_world()
