"""The token buckets that pace Slack calls in bulk: per method (live redraws) and per channel
(subscription posts and thread replies)."""

from __future__ import annotations

from bot.state.pace import KeyedPaces, Pace


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_goes_at_once_and_then_one_token_a_period() -> None:
    clock = Clock()
    pace = Pace(60, burst=3, clock=clock)
    assert [await pace.take(within=0) for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0
    assert await pace.take(within=0) and not await pace.take(within=0)
    assert not pace.rested()
    clock.now += 3.0
    assert pace.rested()


async def test_no_rate_never_waits() -> None:
    pace = Pace(0, burst=1)
    assert all([await pace.take(within=0) for _ in range(100)])


async def test_keys_are_paced_apart_and_rested_ones_are_forgotten_when_many_are_held() -> None:
    paces = KeyedPaces(60, burst=1, clock=Clock())
    paces.KEEP = 2
    assert await paces("C1").take(within=0) and await paces("C2").take(within=0)
    assert not await paces("C1").take(within=0)  # C1 spent its burst; C2 is its own bucket
    paces("C3")  # two held, neither rested: none forgotten
    assert len(paces) == 3
    assert paces("C3").rested()
    paces("C4")
    assert len(paces) == 3 and not paces("C1").rested()  # only C3, rested, was forgotten
