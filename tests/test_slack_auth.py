"""Bolt's `authorize=`: one auth.test per process, shared by a burst, none once readiness has one."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.auth import BotAuthorization
from tests.fakes import FakeSlackApi


async def test_a_burst_before_anyone_asked_makes_one_auth_test() -> None:
    async with FakeSlackApi(latency=0.2) as slack, aiohttp.ClientSession() as session:
        authorization = BotAuthorization(
            AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, session=session)
        )
        authorize = authorization.for_bolt()
        results = await asyncio.gather(*(authorize() for _ in range(20)))
        assert len(slack.calls_to("auth.test")) == 1
        assert {r.bot_token for r in results} == {slack.bot_token}
        assert {r.bot_user_id for r in results} == {"U0BOT"}
        await authorize()
        assert len(slack.calls_to("auth.test")) == 1


async def test_the_readiness_answer_is_reused() -> None:
    async with FakeSlackApi() as slack, aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, session=session)
        authorization = BotAuthorization(client)
        authorization.remember(await client.auth_test())
        result = await authorization.for_bolt()()
        assert result.team_id == "T0001" and len(slack.calls_to("auth.test")) == 1  # the readiness one
