"""The data-layer world every test can use: a clean environment, fake Entra and incident API, settings.

Subfolders add their own conftest for their own concerns; this one stays about settings, tokens,
the incident API and the cache.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.config.load import load_settings
from bot.config.settings import Settings
from bot.graph import build_http_client, build_token_provider
from bot.graph.api import DEFENDER_PERMISSIONS, GRAPH_PERMISSIONS, DefenderIncidentApi, GraphIncidentApi
from bot.graph.auth import TokenProvider
from bot.graph.transport import ApiTransport, RetryPolicy
from bot.services import Services, open_services
from tests.fakes import FIXTURE_DIR, TENANT_ID, FakeEntra, FakeIncidentApi
from tests.postgres import postgres, postgres_url  # noqa: F401  (fixtures for every test)
from tests.world import free_port

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
# Recognisable, so a test can prove it never leaks into a log line, an error or a repr.
CLIENT_SECRET = "Zq8~SECRET-never-print-me-7f3a"

# Settings reads its field names upper-cased (no prefix): the machine's values must not leak in.
_ENV_PREFIXES = ("SLACK_", "AZURE_", "INCIDENT_", "GRAPH_", "DEFENDER_", "LOG_")
_ENV_NAMES = frozenset({"CACHE_URL", *(name.upper() for name in Settings.model_fields)})


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every variable Settings would read, so each test states its own configuration."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            monkeypatch.delenv(name)


@pytest_asyncio.fixture
async def entra(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEntra]:
    """Fake Entra over TLS; MSAL (requests) trusts its CA through REQUESTS_CA_BUNDLE."""
    async with FakeEntra(tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as fake:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE beat a session's verify=.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle_path)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        yield fake


@pytest_asyncio.fixture
async def incident_api(entra: FakeEntra) -> AsyncIterator[FakeIncidentApi]:
    """Fake Graph v1.0/beta and legacy Defender API with tests/data/graph loaded."""
    async with FakeIncidentApi(is_valid_token=entra.is_valid_token) as fake:
        fake.load_fixtures()
        yield fake


@pytest.fixture
def make_settings(
    entra: FakeEntra, incident_api: FakeIncidentApi, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings pointing at the fakes, with a database of the test's own (SQLite; PostgreSQL for a bot
    on Redis, which replicas share); keyword overrides win (None removes a value)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "azure_tenant_id": TENANT_ID,
            "azure_client_id": CLIENT_ID,
            "azure_client_secret": CLIENT_SECRET,
            "azure_authority_host": entra.authority_host,
            "graph_base_url": incident_api.graph_v1_url,
            "defender_api_url": incident_api.defender_url,
            "incident_api_retries": 2,
            "incident_api_timeout": 5.0,
            "cache_url": "memory://",
            "database_url": f"sqlite:///{tmp_path / 'incident-bot.db'}",
        }
        if str(overrides.get("cache_url", "")).startswith("redis") and "database_url" not in overrides:
            values["database_url"] = request.getfixturevalue("postgres_url")
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest_asyncio.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The real services (MSAL, httpx, aiocache memory) of one bot process, pointed at the fakes."""
    async with open_services(settings) as built:
        yield built


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of this test session's own, on a free port: no Redis of the machine is touched.

    Started once per session (about 20 ms); each test that uses it gets it emptied (`redis_url`).
    """
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: install Redis (e.g. apt-get install redis-server)")
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no", "--logfile", str(directory / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not redis_answers(port=port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start: see {directory / 'redis.log'}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def redis_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest_asyncio.fixture
async def redis_url(redis_server_url: str) -> AsyncIterator[str]:
    """The session's private Redis, emptied before and after the test."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_server_url)
    try:
        await client.flushall()
        yield redis_server_url
        await client.flushall()
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def new_client(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    """`new_client()` → another Redis client with a pool of its own on the scratch Redis, as each
    replica has (closed after the test)."""
    import redis.asyncio as aioredis

    clients: list[aioredis.Redis] = []

    def make(**options: Any) -> aioredis.Redis:
        client = aioredis.Redis.from_url(redis_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def load_fixture() -> Callable[[str], dict[str, Any]]:
    """`load_fixture("2972395.v1")` → the parsed tests/data/graph/incident_2972395.v1.json (a fresh copy)."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((FIXTURE_DIR / f"incident_{name}.json").read_text("utf-8"))
        return data

    return load


def copy_of(incident: dict[str, Any], new_id: str, **changes: Any) -> dict[str, Any]:
    """A Graph incident with another id (alerts and comments kept), for bulk and redirect tests."""
    clone = copy.deepcopy(incident)
    clone.update(id=new_id, **changes)
    return clone


# ---- real API clients with an injected sleep ------------------------------------------------------


@dataclass
class SleepRecorder:
    """An async `sleep` for ApiTransport that records each wait instead of waiting."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class ApiStack:
    """One configured backend built from real parts, with the seams a test inspects."""

    settings: Settings
    tokens: TokenProvider
    http: httpx.AsyncClient
    transport: ApiTransport
    api: GraphIncidentApi | DefenderIncidentApi
    sleeps: SleepRecorder


@pytest_asyncio.fixture
async def make_stack(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., ApiStack]]:
    """Build MSAL tokens + httpx client + ApiTransport (recorded sleeps) + API for the given settings."""
    clients: list[httpx.AsyncClient] = []

    def make(*, policy: RetryPolicy | None = None, **overrides: Any) -> ApiStack:
        settings = make_settings(**overrides)
        tokens = build_token_provider(settings)
        http = build_http_client(settings, tokens)
        clients.append(http)
        sleeps = SleepRecorder()
        policy = policy or RetryPolicy(
            retries=settings.incident_api_retries, deadline=settings.incident_api_deadline
        )
        api: GraphIncidentApi | DefenderIncidentApi
        if settings.incident_api == "defender":
            transport = ApiTransport(http, permissions=DEFENDER_PERMISSIONS, policy=policy, sleep=sleeps)
            api = DefenderIncidentApi(transport, settings.defender_url)
        else:
            transport = ApiTransport(http, permissions=GRAPH_PERMISSIONS, policy=policy, sleep=sleeps)
            api = GraphIncidentApi(transport, settings.graph_url)
        return ApiStack(settings, tokens, http, transport, api, sleeps)

    yield make
    for client in clients:
        await client.aclose()


class Clock:
    """An injectable `now` for the incident service: starts at a fixed instant, moves on request."""

    def __init__(self, start: datetime = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
