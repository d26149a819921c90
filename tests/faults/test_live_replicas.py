"""Live cards with two replicas on Redis and PostgreSQL: exactly one watches; when it is SIGKILLed the
other takes the lease over, and a change made while nobody watched still reaches every card, once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp

from tests.fakes import FakeIncidentApi, FakeSlackApi
from tests.faults.conftest import REDIS_DEPRECATIONS, RedisServer, link_event, message_ts, wait_until
from tests.world import BotProcess, SlackSender

pytestmark = REDIS_DEPRECATIONS

INCIDENT = "2972395"
POLL = "1"


async def leads(http: aiohttp.ClientSession, bot: BotProcess) -> bool:
    """What the replica's /metrics says: 1 on the replica that watches."""
    try:
        async with http.get(f"http://127.0.0.1:{bot.port}/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return False
    return "incident_bot_live_leader 1.0" in text


def redraws(slack: FakeSlackApi, ts: str, *, after: float) -> dict[str, int]:
    """Redraws of the two cards since `after`: the /incident answer and the unfurl of message `ts`."""
    calls = [c for c in slack.calls if c.time > after]
    return {
        "ephemeral": sum(
            1 for c in calls if c.method == "response_url:cmd" and c.args.get("replace_original")
        ),
        "unfurl": sum(1 for c in calls if c.method == "chat.unfurl" and c.args.get("ts") == ts),
    }


async def test_one_watcher_and_a_takeover_that_misses_no_change(
    private_redis: RedisServer,
    postgres_url: str,
    replicas: Callable[..., Awaitable[BotProcess]],
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
) -> None:
    settings = {
        "CACHE_URL": private_redis.url(),
        "DATABASE_URL": postgres_url,
        "LIVE_POLL_SECONDS": POLL,
        "INTAKE_CLAIM_IDLE_SECONDS": "1",
    }
    first = await replicas(**settings)
    second = await replicas(**settings)
    async with aiohttp.ClientSession() as http:
        # A card of each kind, one through each replica.
        await SlackSender(http, first.url).command(INCIDENT, fake_slack.response_url("cmd"))
        await fake_slack.wait_for("response_url:cmd", timeout=15)
        await SlackSender(http, second.url).event(link_event(INCIDENT, 1))
        await fake_slack.wait_for("chat.unfurl", timeout=15)
        ts = message_ts(1)

        async def leaders() -> list[BotProcess]:
            return [bot for bot in (first, second) if await leads(http, bot)]

        async def one_leader() -> bool:
            return len(await leaders()) == 1

        await wait_until(one_leader, within=15, every=0.2)
        await asyncio.sleep(1.5)  # both cards written down, and the watermark taken
        after = time.monotonic()
        incident_api.change("v1.0", INCIDENT, assignedTo="bob@contoso.com")
        await wait_until(lambda: min(redraws(fake_slack, ts, after=after).values()) >= 1, within=10)
        [leader] = await leaders()
        assert await one_leader()

        # The watcher dies; the incident changes while nobody watches.
        await asyncio.sleep(1.5)
        after = time.monotonic()
        await leader.kill()
        incident_api.change("v1.0", INCIDENT, status="inProgress", comment="Isolated the host.")
        survivor = second if leader is first else first
        # The lease is max(5 s, 2 polls): the survivor takes over within it, plus a poll or two.
        await wait_until(lambda: leads(http, survivor), within=10, every=0.2)
        await wait_until(lambda: min(redraws(fake_slack, ts, after=after).values()) >= 1, within=15)
        await asyncio.sleep(3)  # a duplicate, if any, would come now
        assert redraws(fake_slack, ts, after=after) == {"ephemeral": 1, "unfurl": 1}
