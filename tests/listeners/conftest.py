"""The bot's real HTTP endpoint, fed Slack-signed requests, talking to the loopback fakes."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.intake import MemoryIntake
from bot.server import Bot
from bot.services import open_services
from tests.fakes import TENANT_ID, FakeIncidentApi, FakeSlackApi

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
WRITER = "U0WRITER"
READER = "U0READER"
CHANNEL = "C0SOC"
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
class HttpAnswer:
    status: int
    text: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class SlackWorld:
    """A running bot plus the fakes around it, and helpers that speak Slack's inbound protocol."""

    bot: Bot
    slack: FakeSlackApi
    api: FakeIncidentApi
    http: aiohttp.ClientSession
    secret: str = SIGNING_SECRET

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.bot.port}/slack/events"

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        started = time.perf_counter()
        async with self.http.post(self.url, data=body.encode(), headers=all_headers) as response:
            text = await response.text()
        return HttpAnswer(response.status, text, time.perf_counter() - started)

    async def command(
        self, text: str, *, user_id: str = WRITER, response: str = "cmd", **kwargs: Any
    ) -> HttpAnswer:
        form = {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": CHANNEL,
            "channel_name": "soc",
            "user_id": user_id,
            "user_name": "analyst",
            "command": "/incident",
            "text": text,
            "api_app_id": "A0BOT",
            "response_url": self.slack.response_url(response),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    async def event(self, body: dict[str, Any], *, retry_num: int | None = None, **kwargs: Any) -> HttpAnswer:
        headers = (
            {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        )
        return await self.post(json.dumps(body), "application/json", headers=headers, **kwargs)

    async def interact(self, payload: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)

    async def settle(self) -> None:
        """Wait until every queued job finished."""
        intake = self.bot.intake
        assert isinstance(intake, MemoryIntake)
        await intake.drain()


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
