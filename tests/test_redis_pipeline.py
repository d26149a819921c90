"""AutoPipelineRedis against a real Redis: one loop turn's short commands share one round trip,
and each caller still gets its own reply or its own error."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from bot.services import build_redis
from bot.state.redis_pipeline import AutoPipelineRedis
from tests.redis_server import RedisServer


@pytest.fixture
def named_url(redis_url: str) -> str:
    """The URL with a client name of this test's own, to count its connections on the server."""
    return f"{redis_url}?client_name=pipeline-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(named_url: str) -> AsyncIterator[AutoPipelineRedis]:
    redis = build_redis(named_url)
    assert isinstance(redis, AutoPipelineRedis)
    yield redis
    await redis.aclose()


async def connections_made(url: str) -> int:
    """Connections the server holds under the URL's client name (CLIENT LIST, from another client)."""
    name = url.rsplit("client_name=", 1)[1]
    observer = aioredis.Redis.from_url(url.split("?")[0])
    try:
        return sum(1 for entry in await observer.client_list() if entry.get("name") == name)
    finally:
        await observer.aclose()


async def test_commands_of_one_turn_share_one_connection(client: AutoPipelineRedis, named_url: str) -> None:
    await asyncio.gather(*(client.set(f"k{n}", str(n)) for n in range(50)))
    values = await asyncio.gather(*(client.get(f"k{n}") for n in range(50)))
    assert values == [str(n).encode() for n in range(50)]
    assert (
        await connections_made(named_url) == 1
    )  # a plain client opens one connection per concurrent command


async def test_the_bots_connections_are_named_on_the_server(redis_url: str) -> None:
    redis = build_redis(redis_url)
    assert redis is not None
    try:
        await redis.ping()
        assert await connections_made(f"{redis_url}?client_name=incident-bot") >= 1
    finally:
        await redis.aclose()


async def test_plain_client_needs_a_connection_per_concurrent_command(named_url: str) -> None:
    """The baseline the test above is measured against."""
    plain = aioredis.Redis.from_url(named_url)
    try:
        await asyncio.gather(*(plain.set(f"k{n}", str(n)) for n in range(50)))
        assert await connections_made(named_url) > 1
    finally:
        await plain.aclose()


async def test_each_caller_gets_its_own_reply_and_its_own_error(client: AutoPipelineRedis) -> None:
    await client.rpush("a-list", "x")
    ok, wrong, missing, added, again = await asyncio.gather(
        client.set("plain", "1"),
        client.get("a-list"),  # WRONGTYPE: fails alone
        client.get("nothing-here"),
        client.set("claim", "me", nx=True, ex=60),
        client.set("claim", "other", nx=True, ex=60),
        return_exceptions=True,
    )
    assert ok is True
    assert isinstance(wrong, ResponseError) and "WRONGTYPE" in str(wrong)
    assert missing is None
    assert added is True
    assert again is None  # SET NX on an existing key, parsed as redis-py does alone
    assert await client.get("claim") == b"me"


async def test_stream_commands_keep_their_parsing(client: AutoPipelineRedis) -> None:
    await client.xgroup_create("jobs", "group", id="0", mkstream=True)
    ids = await asyncio.gather(*(client.xadd("jobs", {"n": str(n)}) for n in range(5)))
    read = await client.xreadgroup("group", "me", {"jobs": ">"}, count=10)  # goes out alone
    assert [entry for entry, _ in read[0][1]] == ids
    claimed, acked = await asyncio.gather(
        client.xclaim("jobs", "group", "me", min_idle_time=0, message_ids=ids, justid=True),
        client.xack("jobs", "group", *ids[:2]),
    )
    assert claimed == ids  # JUSTID: the ids alone
    assert acked == 2


async def test_a_cancelled_caller_leaves_the_others_their_replies(client: AutoPipelineRedis) -> None:
    await client.set("x", "1")
    doomed = asyncio.ensure_future(client.get("x"))
    kept = asyncio.ensure_future(client.get("x"))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await kept == b"1"
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_redis_gone_reaches_every_caller() -> None:
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory))
        await server.start()
        redis = build_redis(server.url())
        assert redis is not None
        try:
            await redis.set("warm", "1")
            await server.stop()
            results = await asyncio.gather(*(redis.get(f"k{n}") for n in range(5)), return_exceptions=True)
            assert all(isinstance(r, RedisConnectionError) for r in results), results
        finally:
            await redis.aclose()
            await server.stop()
