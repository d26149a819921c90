"""Slack profiles and user groups: concurrent lookups of one person or group make one Slack call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from aiocache import SimpleMemoryCache
from slack_sdk.web.async_client import AsyncWebClient

from bot.people import People
from tests.fakes import FakeSlackApi


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    # Latency keeps the first lookup in flight while the others arrive, on every Python.
    async with FakeSlackApi(latency=0.2) as fake:
        fake.users["U0JANE"] = {"profile": {"real_name": "Jane Doe", "email": "jane@contoso.com"}}
        fake.usergroups = {"S0SOC": ["U0JANE"]}
        yield fake


@pytest_asyncio.fixture
async def people(slack: FakeSlackApi) -> AsyncIterator[People]:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, session=session)
        yield People(client, SimpleMemoryCache(), writers=["S0SOC"], everyone_writes=False)


async def test_concurrent_profile_lookups_make_one_users_info_call(
    people: People, slack: FakeSlackApi
) -> None:
    found = await asyncio.gather(*(people.person("U0JANE") for _ in range(5)))
    assert {person.signature for person in found} == {"Jane Doe (jane@contoso.com) via Slack"}
    assert len(slack.calls_to("users.info")) == 1
    await people.person("U0JANE")  # later: from the cache
    assert len(slack.calls_to("users.info")) == 1


async def test_concurrent_writer_checks_look_the_group_up_once(people: People, slack: FakeSlackApi) -> None:
    allowed = await asyncio.gather(*(people.may_write("U0JANE") for _ in range(5)))
    assert allowed == [True] * 5
    assert len(slack.calls_to("usergroups.users.list")) == 1


async def test_a_caller_that_gives_up_does_not_cancel_the_lookup_of_the_others(
    people: People, slack: FakeSlackApi
) -> None:
    impatient = asyncio.create_task(people.person("U0JANE"))
    patient = asyncio.create_task(people.person("U0JANE"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert (await patient).name == "Jane Doe"
    assert len(slack.calls_to("users.info")) == 1
