"""Request signing, health endpoints, and the shape of what the app answers."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest

from tests.fakes import TENANT_ID
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.world import BOT_TOKEN, SIGNING_SECRET, link_shared


async def test_bad_signature_is_refused_and_nothing_is_fetched(world: SlackWorld) -> None:
    answer = await world.command("2972395", signature="v0=" + "0" * 64)
    assert answer.status == 401
    await world.settle()
    assert world.api.count(path_contains="/security/incidents/") == 0
    assert world.slack.calls_to("response_url:cmd") == []


async def test_timestamp_older_than_five_minutes_is_refused(world: SlackWorld) -> None:
    answer = await world.command("2972395", timestamp=int(time.time()) - 6 * 60)
    assert answer.status == 401
    await world.settle()
    assert world.api.count(path_contains="/security/incidents/") == 0


async def test_healthz_and_readyz(world: SlackWorld) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{world.bot.port}"
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
        for _ in range(50):
            async with http.get(f"{base}/readyz") as response:
                body = json.loads(await response.text())
                if response.status == 200:
                    break
            await asyncio.sleep(0.05)
    assert body["ready"] is True
    assert body["slack"] == "ok"
    assert body["incident_api"] == "ok"


async def test_a_burst_at_a_ready_replica_makes_no_auth_test_of_its_own(world: SlackWorld) -> None:
    """Bolt's authorization reuses the readiness check's auth.test: a burst of events reaching a
    fresh replica waits on no Slack round trip (before, each early request made its own)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(f"http://127.0.0.1:{world.bot.port}/readyz") as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.05)
    before = len(world.slack.calls_to("auth.test"))
    assert before == 1  # the readiness check's
    link = "https://security.microsoft.com/incidents/2972395?tid=" + TENANT_ID
    answers = await asyncio.gather(
        *(
            world.event(link_shared([link], event_id=f"EvBurst{n}", message_ts=f"1.{n:06d}"))
            for n in range(20)
        )
    )
    assert {a.status for a in answers} == {200}
    await world.settle()
    assert len(world.slack.calls_to("auth.test")) == before


async def test_a_correct_configuration_starts_without_a_warning(
    start_world: WorldFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As deployed: the token is in the environment, where Bolt reads it too.
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    caplog.set_level(logging.INFO)
    world = await start_world()
    await asyncio.sleep(0.3)  # readiness checks answered
    assert world.bot.readiness.ready
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
