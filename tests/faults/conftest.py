"""Fault-suite fixtures: a private redis-server per test (stop, kill, restart), bots started and
ready before a fault is armed, and bot replicas in child processes that can be killed.

The private server listens on a free port of 127.0.0.1 with its own directory; the shared Redis
on 6379 is never touched. It runs with AOF (fsync always), as the intake's docs ask of production,
so a stopped and restarted server comes back with its streams and keys.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.state.shared_cache import REDIS_DOWN
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.fakes import TENANT_ID, FakeEntra, FakeIncidentApi, FakeSlackApi, SlackCall
from tests.listeners import conftest as listeners
from tests.listeners.conftest import PORTAL, SlackWorld, WorldFactory
from tests.redis_server import RedisServer
from tests.world import BOT_TOKEN, SIGNING_SECRET, WRITER, BotProcess, free_port, link_shared, wait_until

# The Slack world of the listener tests (fake Slack, in-process bots), registered here as well.
fake_slack = listeners.fake_slack
start_world = listeners.start_world

# aiocache's RedisCache still calls a redis-py API deprecated since redis-py 5 on some paths.
REDIS_DEPRECATIONS = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


@pytest.fixture
async def private_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own on a free port (not the shared one on 6379)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    directory = Path(tempfile.mkdtemp(prefix="incident-bot-faults-redis-"))
    server = RedisServer(directory, persistent=True)
    try:
        await server.start()
        yield server
    finally:
        await server.kill()
        shutil.rmtree(directory, ignore_errors=True)


# ---- bots and what they did ------------------------------------------------------------------


async def wait_ready(world: SlackWorld, within: float = 10.0) -> SlackWorld:
    """Wait for the bot's start-up checks (auth.test, one incident list read, the first token), so
    that a fault armed afterwards meets the request under test and not the readiness probe."""
    await wait_until(lambda: world.bot.readiness.ready, within)
    return world


async def settle(*worlds: SlackWorld) -> None:
    """Wait until every job of these bots is done; a stale connection right after a Redis restart
    (the first command on it fails, the next reconnects) is tried again."""
    for world in worlds:
        for attempt in range(5):
            try:
                await world.settle()
                break
            except REDIS_DOWN:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.1)


@pytest.fixture
def start_ready(start_world: WorldFactory) -> WorldFactory:
    """start_world, then wait until the bot is ready."""

    async def start(**overrides: Any) -> SlackWorld:
        return await wait_ready(await start_world(**overrides))

    return start


def add_copies(api: FakeIncidentApi, count: int, first_id: int) -> list[str]:
    """`count` copies of incident 2972395 (Graph v1.0) under new ids, for reads nobody cached yet."""
    template = api.get("v1.0", "2972395")
    assert template is not None
    ids = [str(first_id + n) for n in range(count)]
    for incident_id in ids:
        api.put("v1.0", {**template, "id": incident_id})
    return ids


def portal_url(incident_id: str) -> str:
    return f"{PORTAL}/incidents/{incident_id}?tid={TENANT_ID}"


def message_ts(serial: int) -> str:
    return f"1700000500.{serial:06d}"


def link_event(incident_id: str, serial: int) -> dict[str, Any]:
    """A link_shared event for one incident link; `serial` names the event and its message."""
    event_id = f"EvFAULT{serial:06d}"
    return link_shared([portal_url(incident_id)], event_id=event_id, message_ts=message_ts(serial))


def unfurls_of(slack: FakeSlackApi, message_ts: str) -> list[SlackCall]:
    """chat.unfurl calls the fake received for one message (failed attempts included)."""
    return [c for c in slack.calls_to("chat.unfurl") if c.args.get("ts") == message_ts]


def unfurl_text(call: SlackCall) -> str:
    return json.dumps(call.args.get("unfurls"))


def gets_of(api: FakeIncidentApi, incident_id: str) -> int:
    """GETs of one incident that reached the fake API."""
    return sum(1 for r in api.requests if r.method == "GET" and r.path.endswith(f"/incidents/{incident_id}"))


STALE_MARK = "Data may be out of date"


async def ask(world: SlackWorld, incident_id: str, response: str, within: float = 15.0) -> dict[str, Any]:
    """/incident <id>, and the one answer the person gets (its `text`, `blocks`): in the ack (an
    incident fresh in the cache), or else from the job, through the response_url."""
    answer = await world.command(incident_id, response=response)
    assert answer.status == 200
    if answer.text:
        body: dict[str, Any] = answer.json()
        return body
    await world.slack.wait_for(f"response_url:{response}", timeout=within)
    [call] = world.slack.calls_to(f"response_url:{response}")
    return call.args


def is_card(body: dict[str, Any], incident_id: str, *, stale: bool = False) -> bool:
    """The answer is the incident's card; `stale`: marked out of date, with its age."""
    blocks = json.dumps(body.get("blocks"))
    marked = STALE_MARK in blocks and " old" in blocks
    return str(body.get("text", "")).startswith(f"Incident {incident_id}:") and marked == stale


# ---- replicas in child processes ---------------------------------------------------------------


@pytest.fixture
async def replicas(
    entra: FakeEntra, incident_api: FakeIncidentApi, fake_slack: FakeSlackApi, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """Start `python -m bot` replicas against the fakes; every one is killed at the end. Replicas on
    Redis share a PostgreSQL database of the test's own unless DATABASE_URL is given."""
    started: list[BotProcess] = []

    async def start(**extra: str) -> BotProcess:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
            "AZURE_TENANT_ID": TENANT_ID,
            "AZURE_CLIENT_ID": CLIENT_ID,
            "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": entra.authority_host,
            "GRAPH_BASE_URL": incident_api.graph_v1_url,
            "REQUESTS_CA_BUNDLE": entra.ca_bundle_path,
            "INCIDENT_WRITERS": WRITER,
            "LOG_LEVEL": "ERROR",
            **extra,
        }
        if env.get("CACHE_URL", "").startswith("redis") and "DATABASE_URL" not in env:
            env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        bot = BotProcess(env, free_port())
        started.append(bot)
        await bot.start()
        return bot

    yield start
    for bot in started:
        await bot.kill()


async def readyz(http: aiohttp.ClientSession, port: int | None) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
        body: dict[str, Any] = await response.json()
        return body
