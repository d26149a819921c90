"""The API budget's behaviour, run against both MemoryBudget and RedisBudget (same answers expected).

Every test drives the budget with an injected clock, so waits are exact and nothing sleeps. The
`redis` variants use the real Redis of the `redis_url` fixture and skip when it is absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.state.budget import (
    DEFAULT_LIMITS,
    KINDS,
    ApiBudget,
    BudgetLimits,
    MemoryBudget,
    OperationKind,
    plan_take,
)
from bot.state.budget_redis import RedisBudget

ABS = 1e-6  # waits are computed on doubles; they agree with the exact value to far better than this

MakeBudget = Callable[..., ApiBudget]


class FakeClock:
    """A `time.monotonic` stand-in that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """ "memory://" or the scratch Redis database's URL (the Redis case skips without a Redis)."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return "memory://"


@pytest_asyncio.fixture
async def make_budget(backend: str, clock: FakeClock) -> AsyncIterator[MakeBudget]:
    """`make_budget(limits=..., tenant=...)` → a budget of the backend under test on the fake clock."""
    clients: list[Redis] = []

    def make(limits: BudgetLimits = DEFAULT_LIMITS, *, tenant: str = "tenant-a") -> ApiBudget:
        if backend == "memory://":
            return MemoryBudget(limits, clock=clock)
        client = Redis.from_url(backend)
        clients.append(client)
        return RedisBudget(client, tenant=tenant, limits=limits, clock=clock)

    yield make
    for client in clients:
        await client.aclose()


async def take_many(budget: ApiBudget, kind: OperationKind, count: int) -> list[float]:
    return [await budget.take(kind) for _ in range(count)]


async def take_until_refused(
    budget: ApiBudget, kind: OperationKind, limit: int = 10_000
) -> tuple[int, float]:
    """Take until refused: (how many were granted, the refusal's wait rounded to the microsecond)."""
    for granted in range(limit):
        wait = await budget.take(kind)
        if wait:
            return granted, round(wait, 6)
    raise AssertionError(f"{limit} takes of {kind!r} were all granted")


# ---- per-minute limits --------------------------------------------------------------------------


async def test_100_gets_a_minute_then_a_precise_wait(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()

    waits = await take_many(budget, "get", 100)
    refused = await budget.take("get")

    assert waits == [0.0] * 100
    assert all(type(wait) is float for wait in [*waits, refused])
    assert refused == pytest.approx(60 / 100, abs=ABS)


async def test_after_the_wait_the_next_take_is_granted(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await take_many(budget, "get", 100)
    wait = await budget.take("get")

    clock.advance(wait)

    assert await budget.take("get") == 0.0
    assert await budget.take("get") == pytest.approx(0.6, abs=ABS)  # one token grew back, one spent


async def test_a_wait_counts_down_as_tokens_grow_back(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await take_many(budget, "get", 100)

    clock.advance(0.25)
    assert await budget.take("get") == pytest.approx(0.35, abs=ABS)
    clock.advance(0.3499)
    assert await budget.take("get") == pytest.approx(0.0001, abs=ABS)
    clock.advance(0.0001)
    assert await budget.take("get") == 0.0


async def test_a_full_minute_refills_the_whole_minute_bucket(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    budget = make_budget()
    await take_many(budget, "get", 100)

    clock.advance(60)

    assert await take_until_refused(budget, "get") == (100, 0.6)


@pytest.mark.parametrize("kind", ["list", "update"])
async def test_list_and_update_allow_50_a_minute(
    make_budget: MakeBudget, clock: FakeClock, kind: OperationKind
) -> None:
    budget = make_budget()

    assert await take_until_refused(budget, kind) == (50, 1.2)


async def test_kinds_do_not_share_a_bucket(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await take_many(budget, "get", 100)
    assert await budget.take("get") > 0

    assert await take_until_refused(budget, "list") == (50, 1.2)
    assert await take_until_refused(budget, "update") == (50, 1.2)
    assert await budget.take("get") == pytest.approx(0.6, abs=ABS)  # untouched by the others


async def test_limits_are_configurable(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget(BudgetLimits(get_per_minute=7, get_per_hour=100))

    assert await take_until_refused(budget, "get") == (7, round(60 / 7, 6))


# ---- the hour bucket --------------------------------------------------------------------------------


async def test_the_hour_bucket_limits_even_when_the_minute_bucket_refills(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    """A caller taking all it can each minute: 100 a minute while the hour bucket lasts, then 25.

    The hour bucket (1500, refilling 25 a minute) loses 75 a minute, so it runs dry in minute 19;
    from then on the minute bucket always has tokens, and the hour bucket alone says no.
    """
    budget = make_budget()
    per_minute: list[int] = []
    for minute in range(80):
        granted, wait = await take_until_refused(budget, "get")
        per_minute.append(granted)
        remaining = await budget.remaining()
        if minute < 19:
            assert wait == pytest.approx(0.6, abs=ABS)  # the minute bucket said no
        else:
            assert wait == pytest.approx(3600 / 1500, abs=ABS)  # the hour bucket said no...
            assert remaining["get/minute"] >= 25  # ...though the minute bucket had tokens
        clock.advance(60)

    assert per_minute[:21] == [100] * 19 + [75, 25]
    assert per_minute[20:] == [25] * 60
    assert sum(per_minute[20:]) == 1500  # a whole hour of steady use: 1500, the documented limit


async def test_the_hour_bucket_refuses_with_the_wait_for_its_own_next_token(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    budget = make_budget(BudgetLimits(get_per_minute=10, get_per_hour=3))

    assert await take_until_refused(budget, "get") == (3, 1200.0)
    clock.advance(1000)
    assert await budget.take("get") == pytest.approx(200.0, abs=ABS)
    clock.advance(200)
    assert await budget.take("get") == 0.0


# ---- a refused take costs nothing ----------------------------------------------------------------


async def test_refusals_do_not_drain_the_bucket(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await take_many(budget, "get", 100)

    refusals = await take_many(budget, "get", 50)
    clock.advance(0.6)

    assert all(wait > 0 for wait in refusals)
    assert await budget.take("get") == 0.0  # the token that grew back is there, not owed to refusals
    assert await budget.take("get") == pytest.approx(0.6, abs=ABS)


async def test_a_refusal_by_the_hour_bucket_takes_nothing_from_the_minute_bucket(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    budget = make_budget(BudgetLimits(get_per_minute=10, get_per_hour=3))
    await take_many(budget, "get", 3)

    await take_many(budget, "get", 20)  # all refused by the hour bucket

    remaining = await budget.remaining()
    assert remaining["get/minute"] == pytest.approx(7.0)
    assert remaining["get/hour"] == pytest.approx(0.0)


async def test_a_refusal_by_the_minute_bucket_takes_nothing_from_the_hour_bucket(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    budget = make_budget()
    await take_many(budget, "get", 100)

    await take_many(budget, "get", 300)

    assert (await budget.remaining())["get/hour"] == pytest.approx(1400.0)


# ---- pause (429 with Retry-After) -------------------------------------------------------------------


async def test_pause_refuses_every_kind_for_its_seconds(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()

    await budget.pause(30)

    for kind in KINDS:
        assert await budget.take(kind) == pytest.approx(30.0, abs=ABS)
    clock.advance(12.5)
    for kind in KINDS:
        assert await budget.take(kind) == pytest.approx(17.5, abs=ABS)


async def test_a_shorter_pause_does_not_shorten_a_longer_one(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    budget = make_budget()
    await budget.pause(30)
    clock.advance(10)

    await budget.pause(5)
    await budget.pause(0)
    await budget.pause(-3)

    assert await budget.take("get") == pytest.approx(20.0, abs=ABS)


async def test_a_longer_pause_extends_the_current_one(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await budget.pause(30)
    clock.advance(10)

    await budget.pause(45)

    assert await budget.take("update") == pytest.approx(45.0, abs=ABS)


async def test_takes_resume_when_the_pause_ends(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await budget.pause(30)
    await take_many(budget, "get", 10)  # refused: nothing taken

    clock.advance(30)

    assert await take_until_refused(budget, "get") == (100, 0.6)


async def test_a_pause_and_an_empty_bucket_wait_for_whichever_is_later(
    make_budget: MakeBudget, clock: FakeClock
) -> None:
    budget = make_budget(BudgetLimits(update_per_minute=1))
    await budget.take("update")  # the next update token exists in 60 s

    await budget.pause(10)
    assert await budget.take("update") == pytest.approx(60.0, abs=ABS)
    await budget.pause(90)
    assert await budget.take("update") == pytest.approx(90.0, abs=ABS)


@pytest.mark.parametrize("seconds", [float("nan"), float("inf")])
async def test_a_pause_must_be_finite(make_budget: MakeBudget, clock: FakeClock, seconds: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        await make_budget().pause(seconds)


# ---- remaining ------------------------------------------------------------------------------------


async def test_remaining_starts_full(make_budget: MakeBudget, clock: FakeClock) -> None:
    assert await make_budget().remaining() == {
        "get/minute": 100.0,
        "get/hour": 1500.0,
        "list/minute": 50.0,
        "list/hour": 1500.0,
        "update/minute": 50.0,
        "update/hour": 1500.0,
    }


async def test_remaining_counts_takes_and_refill(make_budget: MakeBudget, clock: FakeClock) -> None:
    budget = make_budget()
    await take_many(budget, "get", 10)
    await take_many(budget, "update", 3)
    await take_many(budget, "list", 60)  # 50 granted

    after_takes = await budget.remaining()
    clock.advance(3)
    after_3s = await budget.remaining()

    assert after_takes == pytest.approx(
        {
            "get/minute": 90.0,
            "get/hour": 1490.0,
            "list/minute": 0.0,
            "list/hour": 1450.0,
            "update/minute": 47.0,
            "update/hour": 1497.0,
        }
    )
    assert after_3s == pytest.approx(
        {
            "get/minute": 95.0,  # + 3 s × 100/60
            "get/hour": 1491.25,  # + 3 s × 1500/3600
            "list/minute": 2.5,
            "list/hour": 1451.25,
            "update/minute": 49.5,
            "update/hour": 1498.25,
        }
    )
    assert all(type(value) is float for value in after_3s.values())


# ---- the parts that need no backend ---------------------------------------------------------------


def test_default_limits_are_defenders() -> None:
    limits = BudgetLimits()
    assert [(b.name, b.limit, b.seconds) for b in limits.all_buckets()] == [
        ("get/minute", 100, 60.0),
        ("get/hour", 1500, 3600.0),
        ("list/minute", 50, 60.0),
        ("list/hour", 1500, 3600.0),
        ("update/minute", 50, 60.0),
        ("update/hour", 1500, 3600.0),
    ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "100"])
def test_limits_must_be_whole_positive_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="get_per_minute"):
        BudgetLimits(get_per_minute=bad)  # type: ignore[arg-type]


async def test_an_unknown_kind_is_an_error(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="unknown operation kind 'delete'"):
        await MemoryBudget(clock=clock).take("delete")  # type: ignore[arg-type]


def test_plan_take_grants_only_when_every_bucket_and_the_pause_allow() -> None:
    minute, hour = BudgetLimits(get_per_minute=2, get_per_hour=4).buckets("get")

    assert plan_take([minute, hour], [None, None], None, 0.0) == (0.0, [30.0, 900.0])
    assert plan_take([minute, hour], [60.0, 900.0], None, 0.0) == (30.0, [])  # minute bucket empty
    assert plan_take([minute, hour], [0.0, 3600.0], None, 0.0) == (900.0, [])  # hour bucket empty
    assert plan_take([minute, hour], [None, None], 5.0, 0.0) == (5.0, [])  # paused


async def test_memory_budget_uses_the_monotonic_clock_by_default() -> None:
    budget = MemoryBudget(BudgetLimits(get_per_minute=1))

    assert await budget.take("get") == 0.0
    assert 59.0 < await budget.take("get") <= 60.0
