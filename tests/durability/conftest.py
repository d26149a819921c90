"""Durable intake, process level: a private redis-server, the loopback fakes, and bot replicas.

Every test gets a redis-server of its own on a free port (never the shared one on 6379), started
without persistence as the intake's worst case, and stoppable and restartable on the same port.
Replicas are real `python -m bot` processes pointed at that Redis and at the fakes, each logging
to a file the test can read. The fake incident API can hold GETs and comment POSTs for as long as
a test says, and notices when the caller hung up (a SIGKILLed replica): an abandoned request
never changes anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from benchmarks.harness import CLIENT_ID, CLIENT_SECRET, World
from tests.fakes import TENANT_ID, FakeEntra, FakeIncidentApi, FakeSlackApi
from tests.redis_server import RedisServer
from tests.world import WRITER, BotProcess, SlackSender, free_port
from tests.world import wait_until as _wait_until

STREAM = "incident-bot:jobs"
DEAD_STREAM = "incident-bot:jobs:dead"
GROUP = "incident-bot"
PORTAL = "https://security.microsoft.com"

# What every replica of this suite runs with (tests add or override variables):
# - a claim idle of 3 s (default 8 s) keeps each takeover short;
# - INCIDENT_API_TIMEOUT 10 s lets a held request outlive a replica's start-up and SIGKILL.
# The flight lock's lease is bounded by the claim idle, so a replica killed while fetching does not
# hold up the takeover (test_takeover.py checks it with the default API deadline).
REPLICA_ENV = {
    "INTAKE_CLAIM_IDLE_SECONDS": "3",
    "INCIDENT_API_TIMEOUT": "10",
    "REDIS_RETRY_SECONDS": "1",
    "SHUTDOWN_SECONDS": "5",
    "LOG_LEVEL": "WARNING",
}


# ---- a private redis-server ----------------------------------------------------------------------


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (the shared one on 6379 is never touched)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    directory = Path(tempfile.mkdtemp(prefix="incident-bot-durability-"))
    server = RedisServer(directory)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the private server, for looking at the stream (it reconnects after a restart)."""
    client = redis_server.client(decode=True)
    yield client
    await client.aclose()


# ---- the fakes ---------------------------------------------------------------------------------


class SlowIncidentApi(FakeIncidentApi):
    """The fake incident API, where GETs of one incident and comment POSTs can be held.

    `get_hold` (plus up to `get_jitter` at random), `comment_hold` (before the comment is stored)
    and `answer_hold` (after it is stored, before the answer) are seconds, read while a request
    waits: setting one to 0 lets the waiting requests go. A request whose caller hangs up while
    held is abandoned: it is recorded in `abandoned` and changes nothing (a comment held after it
    was stored stays stored).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.get_hold = 0.0
        self.get_jitter = 0.0  # each GET is held up to this much longer, at random
        self.comment_hold = 0.0
        self.answer_hold = 0.0
        self.abandoned: list[str] = []

    async def _held(self, request: web.Request, hold: Callable[[], float], note: str = "") -> bool:
        """Wait while `hold()` says; False when the caller went away meanwhile."""
        started = time.monotonic()
        while time.monotonic() - started < hold():
            if request.transport is None or request.transport.is_closing():
                self.abandoned.append(f"{request.method} {request.path}{note}")
                return False
            await asyncio.sleep(0.02)
        return True

    async def _graph_get(self, request: web.Request) -> web.Response:
        extra = random.uniform(0.0, self.get_jitter)
        if not await self._held(request, lambda: self.get_hold + extra if self.get_hold else 0.0):
            return web.Response(status=499)
        return await super()._graph_get(request)

    async def _graph_comment(self, request: web.Request) -> web.Response:
        if not await self._held(request, lambda: self.comment_hold, " (not written)"):
            return web.Response(status=499)
        answer = await super()._graph_comment(request)
        await self._held(request, lambda: self.answer_hold, " (written, not answered)")
        return answer


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """Fake Entra, the holdable incident API (fixtures loaded) and fake Slack, in this process."""
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    async with (
        FakeEntra(tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as entra,
        SlowIncidentApi(is_valid_token=entra.is_valid_token) as api,
        FakeSlackApi() as slack,
    ):
        api.load_fixtures()
        slack.users[WRITER] = {
            "id": WRITER,
            "name": "jane",
            "real_name": "Jane Doe",
            "profile": {"real_name": "Jane Doe", "display_name": "jane", "email": "jane@contoso.com"},
        }
        yield World(entra, api, slack)


def slow_api(world: World) -> SlowIncidentApi:
    assert isinstance(world.api, SlowIncidentApi)
    return world.api


# ---- replicas ----------------------------------------------------------------------------------


class Replica(BotProcess):
    """`python -m bot` with its output in a log file, so a test can read what it said."""

    def __init__(self, env: dict[str, str], port: int, name: str, log_path: Path) -> None:
        super().__init__(env, port)
        self.name = name
        self.log_path = log_path

    async def start(self, wait_seconds: float = 30.0) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + wait_seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} did not answer /healthz:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def consumer_prefix(self) -> str:
        """The start of this process's consumer name in the group (host-pid-random)."""
        assert self.process is not None
        return f"{socket.gethostname()}-{self.process.pid}-"

    async def get_json(self, path: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{self.port}{path}") as r:
            body: dict[str, Any] = await r.json()
            return body

    async def readyz(self) -> dict[str, Any]:
        return await self.get_json("/readyz")

    async def metrics(self) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}/metrics") as response,
        ):
            return await response.text()


StartReplicas = Callable[..., Awaitable[list[Replica]]]


@pytest.fixture
async def start_replicas(
    world: World, redis_server: RedisServer, tmp_path: Path, postgres_url: str
) -> AsyncIterator[StartReplicas]:
    """`await start_replicas(2, SHUTDOWN_SECONDS="1")`: replicas on the private Redis and a
    PostgreSQL database of the test's own, started together; each is killed at the end of the test
    if it still runs."""
    started: list[Replica] = []

    async def start(count: int = 1, **env: str) -> list[Replica]:
        batch = []
        for _ in range(count):
            name = f"replica-{len(started) + 1}"
            shared = {"CACHE_URL": redis_server.url(), "DATABASE_URL": postgres_url}
            bot_env = world.bot_env(**{**shared, **REPLICA_ENV, **env})
            replica = Replica(bot_env, free_port(), name, tmp_path / f"{name}.log")
            started.append(replica)
            batch.append(replica)
        await asyncio.gather(*(replica.start() for replica in batch))
        return batch

    yield start
    for replica in started:
        await replica.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sender(http: aiohttp.ClientSession, replica: Replica) -> SlackSender:
    return SlackSender(http, replica.url)


# ---- looking at what happened ------------------------------------------------------------------


# The timeout argument is the point of this helper: tests read better with it inline.
def portal_link(incident_id: str) -> str:
    return f"{PORTAL}/incidents/{incident_id}?tid={TENANT_ID}"


def unfurl_counts(slack: FakeSlackApi) -> Counter[str]:
    """chat.unfurl calls per message ts."""
    return Counter(str(call.args.get("ts")) for call in slack.calls_to("chat.unfurl"))


def incident_gets(api: FakeIncidentApi, incident_id: str) -> int:
    """GETs of one incident (with or without $expand) that reached the fake API."""
    return sum(1 for r in api.requests if r.method == "GET" and r.path.endswith(f"/incidents/{incident_id}"))


@dataclass
class Pending:
    entry: str
    consumer: str
    idle_ms: int
    deliveries: int


async def pending(client: aioredis.Redis) -> list[Pending]:
    """The group's pending entries (read by a consumer, not acknowledged)."""
    try:
        rows = await client.xpending_range(STREAM, GROUP, min="-", max="+", count=1000)
    except aioredis.ResponseError:  # no stream or no group yet
        return []
    return [
        Pending(
            str(r["message_id"]),
            str(r["consumer"]),
            int(r["time_since_delivered"]),
            int(r["times_delivered"]),
        )
        for r in rows
    ]


async def wait_until(check: Callable[[], bool | Awaitable[bool]], within: float = 20.0) -> None:
    """tests.world.wait_until with this suite's longer default (replicas start and die here)."""
    await _wait_until(check, within=within, every=0.05)
