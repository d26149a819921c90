"""Slack paces shared through a real Redis: two "replicas" (each RedisPaces with a client and pool of
its own) take from one bucket per key, as Slack counts them; without Redis each paces on its own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.state.pace import KeyedPaces, Pace
from bot.state.pace_redis import RedisPaces, slack_paces
from tests.test_budget import FakeClock
from tests.test_budget_redis import closed_port

NewClient = Callable[..., Redis]


async def test_two_replicas_take_from_one_bucket_per_key(new_client: NewClient) -> None:
    clock = FakeClock()
    one = RedisPaces(new_client(), "channel", 60, burst=3, clock=clock)
    two = RedisPaces(new_client(), "channel", 60, burst=3, clock=clock)
    # a burst of 3 for both replicas together, then one a second: the rest is told to wait its turn
    assert [await one.reserve("C1", within=0) for _ in range(2)] == [0.0, 0.0]
    assert await two.reserve("C1", within=0) == 0.0
    assert await two.reserve("C1", within=0) is None  # refused: nothing reserved
    assert await one.reserve("C1", within=5) == pytest.approx(1.0)
    assert await two.reserve("C1", within=5) == pytest.approx(2.0)  # first come, first served
    assert await one.reserve("C2", within=0) == 0.0  # another channel is its own bucket
    clock.advance(2.0)
    assert await two.reserve("C1", within=0) is None  # both reserved slots are still owed
    clock.advance(1.0)
    assert await two.reserve("C1", within=0) == 0.0
    assert await one("C2").take(within=float("inf"))  # however long: as Pace.wait asks


async def test_the_buckets_are_the_in_process_paces_buckets(new_client: NewClient) -> None:
    """The same takes at the same instants get the same answers from Redis and from Pace."""
    clock = FakeClock()
    shared = RedisPaces(new_client(), "method", 50, burst=20, clock=clock)
    local = Pace(50, burst=20, clock=clock)
    for step in [0.0] * 25 + [0.5, 1.2, 0.0, 0.0, 3.0, 0.1, 30.0] + [0.0] * 30:
        clock.advance(step)
        assert (await shared.reserve("chat.update", within=0) is not None) == (await local.take(within=0)), (
            clock.now
        )


async def test_a_kind_of_pace_does_not_share_with_another(new_client: NewClient) -> None:
    clock = FakeClock()
    channels = RedisPaces(new_client(), "channel", 60, burst=1, clock=clock)
    methods = RedisPaces(new_client(), "method", 60, burst=1, clock=clock)
    assert await channels.reserve("same", within=0) == 0.0
    assert await methods.reserve("same", within=0) == 0.0


async def test_callers_on_two_replicas_are_spread_at_the_shared_pace(new_client: NewClient) -> None:
    """Real time, Redis's own clock: 8 posts into one channel from two replicas, 4 at once and then
    10 a second (the pace of 600 a minute), wait for their turns together, not per replica."""
    one = RedisPaces(new_client(), "channel", 600, burst=4)
    two = RedisPaces(new_client(), "channel", 600, burst=4)
    started = time.monotonic()
    done: list[float] = []

    async def post(paces: RedisPaces) -> None:
        await paces("C0BUSY").wait()
        done.append(time.monotonic() - started)

    await asyncio.gather(*(post(one if n % 2 else two) for n in range(8)))
    # per replica, each would have had 4 at once: all 8 within a few ms
    assert sorted(done)[-1] >= 0.35, done
    assert one.waited + two.waited >= 0.9  # 0.1 + 0.2 + 0.3 + 0.4 s owed between them


async def test_no_rate_never_asks_redis() -> None:
    client = Redis(host="127.0.0.1", port=closed_port(), retry=Retry(NoBackoff(), 0))
    try:
        paces = RedisPaces(client, "channel", 0)
        assert all([await paces("C1").take(within=0) for _ in range(50)])
    finally:
        await client.aclose()


async def test_without_redis_a_replica_paces_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis(host="127.0.0.1", port=closed_port(), retry=Retry(NoBackoff(), 0))
    try:
        paces = RedisPaces(client, "channel", 60, burst=2)
        with caplog.at_level(logging.WARNING, logger="bot.state.pace_redis"):
            took = [await paces("C1").take(within=0) for _ in range(3)]
            assert took == [True, True, False]  # still paced, by this replica alone
    finally:
        await client.aclose()
    warnings = [r for r in caplog.records if r.name == "bot.state.pace_redis"]
    assert len(warnings) == 1 and "Redis unreachable (ConnectionError)" in warnings[0].getMessage()


async def test_one_process_keeps_its_own_and_replicas_share(new_client: NewClient) -> None:
    assert isinstance(slack_paces(None, "channel", 60, burst=4), KeyedPaces)
    shared = slack_paces(new_client(), "channel", 60, burst=4)
    assert isinstance(shared, RedisPaces) and shared.burst == 4


async def test_a_key_leaves_nothing_once_its_bucket_is_full_again(new_client: NewClient) -> None:
    client = new_client()
    paces = RedisPaces(client, "channel", 600, burst=2)
    assert await paces.reserve("C1", within=0) == 0.0
    assert await client.exists(paces.key("C1")) == 1
    ttl = await client.pttl(paces.key("C1"))
    assert 0 < ttl <= 1100  # 0.1 s owed, plus a second
    await wait_gone(client, paces.key("C1"))


async def wait_gone(client: Redis, key: str) -> None:
    for _ in range(40):
        if not await client.exists(key):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} is still there")
