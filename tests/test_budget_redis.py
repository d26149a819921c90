"""RedisBudget as replicas use it: one budget per tenant shared through a real Redis, atomically.

Each "replica" is a RedisBudget with a Redis client (and connection pool) of its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.state.budget import KINDS, BudgetLimits, MemoryBudget, OperationKind
from bot.state.budget_redis import RedisBudget
from tests.test_budget import ABS, FakeClock, take_many, take_until_refused

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"

NewClient = Callable[..., Redis]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def key(tenant: str, name: str) -> str:
    return f"incident-bot:budget:{tenant}:{name}"


# ---- shared across replicas, per tenant -----------------------------------------------------------


async def test_two_replicas_share_one_budget(new_client: NewClient, clock: FakeClock) -> None:
    one = RedisBudget(new_client(), tenant=TENANT, clock=clock)
    two = RedisBudget(new_client(), tenant=TENANT, clock=clock)

    assert await take_many(one, "get", 60) == [0.0] * 60
    assert await take_many(two, "get", 40) == [0.0] * 40

    assert await one.take("get") == pytest.approx(0.6, abs=ABS)
    assert await two.take("get") == pytest.approx(0.6, abs=ABS)
    assert (await one.remaining())["get/hour"] == pytest.approx(1400.0)
    assert await one.remaining() == await two.remaining()


async def test_tenants_do_not_share(new_client: NewClient, clock: FakeClock) -> None:
    client = new_client()
    contoso = RedisBudget(client, tenant="contoso", clock=clock)
    fabrikam = RedisBudget(client, tenant="fabrikam", clock=clock)
    await take_many(contoso, "get", 100)
    await contoso.pause(30)

    assert await take_until_refused(fabrikam, "get") == (100, 0.6)
    assert await contoso.take("list") == pytest.approx(30.0, abs=ABS)


async def test_a_pause_from_one_replica_stops_all(new_client: NewClient, clock: FakeClock) -> None:
    one = RedisBudget(new_client(), tenant=TENANT, clock=clock)
    two = RedisBudget(new_client(), tenant=TENANT, clock=clock)

    await one.pause(30)
    clock.advance(10)
    await two.pause(5)  # a shorter Retry-After seen by another replica does not shorten it

    for budget in (one, two):
        for kind in KINDS:
            assert await budget.take(kind) == pytest.approx(20.0, abs=ABS)
    clock.advance(20)
    assert await two.take("update") == 0.0


async def test_200_concurrent_takes_from_two_replicas_grant_exactly_100(
    new_client: NewClient, clock: FakeClock
) -> None:
    one = RedisBudget(new_client(), tenant=TENANT, clock=clock)
    two = RedisBudget(new_client(), tenant=TENANT, clock=clock)

    waits = await asyncio.gather(*(budget.take("get") for budget in (one, two) for _ in range(100)))

    assert waits.count(0.0) == 100
    assert all(wait == pytest.approx(0.6, abs=ABS) for wait in waits if wait)
    remaining = await one.remaining()
    assert remaining["get/minute"] == pytest.approx(0.0)
    assert remaining["get/hour"] == pytest.approx(1400.0)


# ---- the server's clock ------------------------------------------------------------------------------


async def test_without_a_clock_the_servers_time_is_used(new_client: NewClient) -> None:
    client = new_client()
    one = RedisBudget(client, tenant=TENANT)
    two = RedisBudget(new_client(), tenant=TENANT)

    waits = await asyncio.gather(*(budget.take("get") for budget in (one, two) for _ in range(50)))
    granted_after, wait = await take_until_refused(one, "get")

    assert waits == [0.0] * 100
    assert granted_after <= 1  # a token may have grown back if Redis took more than 0.6 s
    assert 0.0 < wait <= 0.6
    seconds, micros = await client.time()
    stored = float(await client.get(key(TENANT, "get:minute")) or "nan")
    assert 0.0 < stored - (seconds + micros / 1e6) <= 60.0  # an instant on the server's clock
    assert 0.0 <= (await two.remaining())["get/minute"] < 1.0


async def test_a_pause_on_the_servers_clock(new_client: NewClient) -> None:
    budget = RedisBudget(new_client(), tenant=TENANT)

    await budget.pause(30)

    assert 29.0 < await budget.take("get") <= 30.0


# ---- keys ---------------------------------------------------------------------------------------------


async def test_keys_are_namespaced_per_tenant_and_expire(new_client: NewClient, clock: FakeClock) -> None:
    client = new_client()
    budget = RedisBudget(client, tenant=TENANT, clock=clock)

    await budget.take("get")
    await take_many(budget, "update", 50)
    await budget.pause(30)

    assert sorted(await client.keys("*")) == sorted(
        key(TENANT, name).encode()
        for name in ("get:minute", "get:hour", "update:minute", "update:hour", "pause")
    )
    # until the bucket is full again, plus a second (+1 ms: the expiry is rounded up to whole ms)
    assert 1000 < await client.pttl(key(TENANT, "get:minute")) <= 1_601
    assert 1000 < await client.pttl(key(TENANT, "get:hour")) <= 3_401
    assert 59_000 < await client.pttl(key(TENANT, "update:minute")) <= 61_001
    assert 100_000 < await client.pttl(key(TENANT, "update:hour")) <= 121_001
    assert 30_000 < await client.pttl(key(TENANT, "pause")) <= 31_001


async def test_an_idle_tenant_leaves_nothing_behind(new_client: NewClient) -> None:
    client = new_client()
    fast = BudgetLimits(get_per_minute=600, get_per_hour=36_000)  # a token grows back in 0.1 s
    budget = RedisBudget(client, tenant=TENANT, limits=fast)
    await budget.take("get")
    await budget.pause(0.05)
    assert await client.exists(key(TENANT, "get:minute"), key(TENANT, "pause")) == 2

    await asyncio.sleep(1.2)

    assert await client.keys("*") == []
    assert (await budget.remaining())["get/minute"] == 600.0


async def test_a_client_that_decodes_responses_works_too(new_client: NewClient, clock: FakeClock) -> None:
    budget = RedisBudget(new_client(decode_responses=True), tenant=TENANT, clock=clock)

    assert await take_until_refused(budget, "list") == (50, 1.2)
    assert (await budget.remaining())["list/hour"] == pytest.approx(1450.0)


def test_a_tenant_is_required() -> None:
    with pytest.raises(ValueError, match="tenant"):
        RedisBudget(Redis(), tenant="")


# ---- the same answers as MemoryBudget --------------------------------------------------------------


async def test_redis_and_memory_give_the_same_answers_to_the_same_sequence(new_client: NewClient) -> None:
    """A long pseudo-random run of takes, pauses and clock moves: answers identical to the last bit."""
    limits = BudgetLimits(5, 20, 3, 10, 2, 7)
    memory_clock, redis_clock = FakeClock(), FakeClock()
    memory = MemoryBudget(limits, clock=memory_clock)
    shared = RedisBudget(new_client(), tenant=TENANT, limits=limits, clock=redis_clock)
    rng = random.Random(20260302)
    memory_answers: list[object] = []
    redis_answers: list[object] = []

    for _ in range(600):
        roll = rng.random()
        if roll < 0.7:
            kind: OperationKind = rng.choice(KINDS)
            memory_answers.append(await memory.take(kind))
            redis_answers.append(await shared.take(kind))
        elif roll < 0.95:
            seconds = rng.choice([rng.uniform(0, 3), rng.uniform(0, 30), 0.6, 1.2])
            memory_clock.advance(seconds)
            redis_clock.advance(seconds)
            memory_answers.append(await memory.remaining())
            redis_answers.append(await shared.remaining())
        else:
            seconds = rng.uniform(0, 20)
            await memory.pause(seconds)
            await shared.pause(seconds)

    assert redis_answers == memory_answers
    waits = [answer for answer in memory_answers if isinstance(answer, float)]
    assert 0.0 in waits
    assert len([wait for wait in waits if wait > 0]) > 50


# ---- when Redis is away -----------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_without_redis_a_replica_counts_its_own_budget(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis(host="127.0.0.1", port=closed_port(), retry=Retry(NoBackoff(), 0))
    budget = RedisBudget(client, tenant=TENANT, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.state.budget_redis"):
            assert await take_until_refused(budget, "get") == (100, 0.6)
            await budget.pause(30)
            assert await budget.take("list") == pytest.approx(30.0, abs=ABS)
            assert (await budget.remaining())["get/hour"] == pytest.approx(1400.0)
    finally:
        await client.aclose()

    warnings = [r for r in caplog.records if r.name == "bot.state.budget_redis"]
    assert len(warnings) == 1
    assert "Redis unreachable (ConnectionError)" in warnings[0].getMessage()


async def test_redis_is_tried_again_and_shared_once_it_is_back(
    new_client: NewClient, clock: FakeClock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = RedisBudget(new_client(), tenant=TENANT, clock=clock)
    other = RedisBudget(new_client(), tenant=TENANT, clock=clock)
    script = budget._take_script
    calls = 0

    async def down_once(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        return await script(**kwargs)

    monkeypatch.setattr(budget, "_take_script", down_once)
    with caplog.at_level(logging.INFO, logger="bot.state.budget_redis"):
        assert await budget.take("get") == 0.0  # counted locally
        assert await budget.take("get") == 0.0  # Redis is not tried while resting
        assert calls == 1
        budget.rest.until = 0.0  # the rest is over (RETRY_REDIS_AFTER is 5 s)
        await take_many(budget, "get", 30)  # Redis again: shared
    assert calls == 31
    assert (await other.remaining())["get/minute"] == pytest.approx(70.0)
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.state.budget_redis"]
    assert len(messages) == 2
    assert "unreachable" in messages[0]
    assert "back" in messages[1]
