"""Socket Mode: the real Bolt handler against a fake apps.connections.open and websocket."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from bot.config.settings import Settings
from bot.server import Bot
from bot.services import open_services
from tests.fakes import TENANT_ID, FakeIncidentApi, FakeSlackApi
from tests.world import free_port

APP_TOKEN = "xapp-test-token"
BOT_TOKEN = "xoxb-test-token"


class FakeSocketModeServer:
    """Slack's Socket Mode websocket: says hello, sends envelopes, collects the bot's acks."""

    def __init__(self) -> None:
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket&app_id=A0BOT"

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": "A0BOT"},
            }
        )
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                await self.acks.put(json.loads(message.data))
        return socket

    async def send(self, envelope: dict[str, Any]) -> None:
        assert self._socket is not None
        await self._socket.send_json(envelope)


@pytest.fixture
async def socket_server() -> AsyncIterator[FakeSocketModeServer]:
    server = FakeSocketModeServer()
    await server.start()
    yield server
    await server.stop()


async def test_socket_mode_connects_and_answers_a_slash_command(
    make_settings: Callable[..., Settings],
    incident_api: FakeIncidentApi,
    socket_server: FakeSocketModeServer,
) -> None:
    async with FakeSlackApi(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as slack:
        slack.socket_url = socket_server.url
        settings = make_settings(
            slack_bot_token=BOT_TOKEN,
            slack_app_token=APP_TOKEN,
            slack_api_url=slack.api_url,
            host="127.0.0.1",
            port=0,
        )
        async with open_services(settings) as services:
            bot = Bot(settings, services)
            await bot.start()
            try:
                await asyncio.wait_for(socket_server.connected.wait(), 5)
                # apps.connections.open went to SLACK_API_URL with the app-level token
                [opened] = slack.calls_to("apps.connections.open")
                assert opened.token == APP_TOKEN
                await socket_server.send(
                    {
                        "envelope_id": "env-1",
                        "type": "slash_commands",
                        "accepts_response_payload": True,
                        "payload": {
                            "command": "/incident",
                            "text": "2972395",
                            "user_id": "U0WRITER",
                            "channel_id": "C0SOC",
                            "team_id": "T0001",
                            "api_app_id": "A0BOT",
                            "response_url": slack.response_url("socket"),
                            "trigger_id": "1.2.3",
                        },
                    }
                )
                ack = await asyncio.wait_for(socket_server.acks.get(), 5)
                assert ack["envelope_id"] == "env-1"
                [reply] = await slack.wait_for("response_url:socket")
                assert reply.args["response_type"] == "ephemeral"
                assert any(b["type"] == "header" for b in reply.args["blocks"])

                link = f"https://security.microsoft.com/incidents/2972395?tid={TENANT_ID}"
                await socket_server.send(
                    {
                        "envelope_id": "env-2",
                        "type": "events_api",
                        "accepts_response_payload": False,
                        "retry_attempt": 0,
                        "retry_reason": "",
                        "payload": {
                            "type": "event_callback",
                            "event_id": "Ev0SOCKET",
                            "team_id": "T0001",
                            "api_app_id": "A0BOT",
                            "event_time": 1700000000,
                            "event": {
                                "type": "link_shared",
                                "channel": "C0SOC",
                                "user": "U0WRITER",
                                "message_ts": "1700000000.000100",
                                "source": "conversations_history",
                                "links": [{"domain": "security.microsoft.com", "url": link}],
                            },
                        },
                    }
                )
                ack = await asyncio.wait_for(socket_server.acks.get(), 5)
                assert ack["envelope_id"] == "env-2"
                [unfurl] = await slack.wait_for("chat.unfurl")
                assert list(unfurl.args["unfurls"]) == [link]
            finally:
                await bot.stop(deadline=5)


async def _readyz(port: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as response:
        body: dict[str, Any] = await response.json()
        assert response.status == (200 if body["ready"] else 503)
        return body


async def test_slack_unreachable_the_bot_says_it_started_and_readyz_says_why(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=f"http://127.0.0.1:{free_port()}/api/",  # nothing listens there
        host="127.0.0.1",
        port=0,
    )
    async with open_services(settings) as services:
        bot = Bot(settings, services)
        await asyncio.wait_for(bot.start(), 2)  # start does not wait for Slack
        try:
            assert any("incident bot started" in r.getMessage() for r in caplog.records)
            assert bot.port is not None
            deadline = asyncio.get_running_loop().time() + 15
            while len(_connect_failures(caplog)) < 2:
                assert asyncio.get_running_loop().time() < deadline, caplog.text
                await asyncio.sleep(0.1)
            body = await _readyz(bot.port)
            assert body["ready"] is False
            assert body["slack"].startswith("failing: ClientConnectorError")
            assert body["socket_mode"].startswith("failing: ClientConnectorError")
        finally:
            await bot.stop(deadline=2)
    failures = _connect_failures(caplog)
    assert all(r.exc_info is None and "next try in" in r.getMessage() for r in failures)
    assert not [r for r in caplog.records if r.exc_info], "no traceback while Slack is unreachable"


def _connect_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "could not connect to Slack" in r.getMessage()]


async def test_a_refused_app_token_is_named_and_the_bot_connects_once_slack_accepts_it(
    make_settings: Callable[..., Settings],
    socket_server: FakeSocketModeServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeSlackApi(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as slack:
        slack.socket_url = socket_server.url
        slack.fail_next("apps.connections.open", error="invalid_auth", status=200, count=1)
        settings = make_settings(
            slack_bot_token=BOT_TOKEN,
            slack_app_token=APP_TOKEN,
            slack_api_url=slack.api_url,
            host="127.0.0.1",
            port=0,
        )
        async with open_services(settings) as services:
            bot = Bot(settings, services)
            await bot.start()
            try:
                await asyncio.wait_for(socket_server.connected.wait(), 10)
                assert bot.port is not None
                deadline = asyncio.get_running_loop().time() + 15
                while not (await _readyz(bot.port))["ready"]:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.1)
                assert (await _readyz(bot.port))["socket_mode"] == "connected"
            finally:
                await bot.stop(deadline=2)
    [failure] = _connect_failures(caplog)
    assert "Slack answered invalid_auth (SLACK_APP_TOKEN is not valid" in failure.getMessage()
    assert APP_TOKEN not in caplog.text
