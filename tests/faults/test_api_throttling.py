"""API 429 with Retry-After and the shared API budget: what the user sees, and what reaches the API.

Two bots on one (private) Redis share the budget: a 429 seen by one pauses both, and a budget of
three GETs a minute lets three GETs through, whichever bot asks. A read the budget refuses is
answered from the cache, marked stale with its age, or with "try again in"; a write is refused
with the same hint. Nothing is ever silently dropped.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.blocks.ids import ActionId
from tests.fakes import FakeIncidentApi
from tests.faults.conftest import (
    REDIS_DEPRECATIONS,
    RedisServer,
    add_copies,
    ask,
    gets_of,
    is_card,
    wait_until,
)
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import click, told, writes

pytestmark = REDIS_DEPRECATIONS

CACHED = "2972395"
UNCACHED = "910001"  # a copy of 2972395 under another id


@pytest.fixture(autouse=True)
def _uncached(incident_api: FakeIncidentApi) -> None:
    add_copies(incident_api, 1, first_id=int(UNCACHED))


def is_card_stale(body: dict[str, object], incident_id: str) -> bool:
    return is_card(body, incident_id, stale=True)


async def two_bots(start_ready: WorldFactory, redis: RedisServer, **settings: object) -> list[SlackWorld]:
    return [await start_ready(cache_url=redis.url(), **settings) for _ in range(2)]


async def test_a_429_pauses_both_bots_and_reads_are_served_stale_or_told_when(
    private_redis: RedisServer, start_ready: WorldFactory
) -> None:
    # Retry-After (3 s) beyond the call's deadline (2 s): the bot answers at once instead of waiting.
    one, two = await two_bots(start_ready, private_redis, incident_cache_ttl=1, incident_api_deadline=2)
    assert is_card(await ask(one, CACHED, "warm"), CACHED)
    await asyncio.sleep(1.1)  # the cached copy is past its TTL: the next read needs the API
    api = one.api
    api.fail_next(429, count=1, retry_after=3)

    throttled = await ask(one, CACHED, "throttled")
    [hit] = [r for r in api.requests if r.method == "GET"][-1:]
    assert is_card_stale(throttled, CACHED), throttled

    # The pause is in Redis: the second bot's reads do not reach the API while it lasts.
    seen = len(api.requests)
    during = [await ask(two, CACHED, "two-cached"), await ask(two, UNCACHED, "two-uncached")]
    assert is_card_stale(during[0], CACHED)
    assert "try again in" in str(during[1]["text"]), during[1]
    assert len(api.requests) == seen

    # After Retry-After, reads reach the API again and the card is fresh.
    await asyncio.sleep(max(0.0, hit.time + 3.1 - time.monotonic()))
    after = await ask(two, UNCACHED, "after")
    assert is_card(after, UNCACHED)
    assert [r.time for r in api.requests if hit.time < r.time < hit.time + 3.0] == []


async def test_a_short_retry_after_is_waited_out_and_the_card_arrives_fresh(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready()
    world.api.fail_next(429, count=1, retry_after=1)
    started = time.monotonic()
    body = await ask(world, UNCACHED, "waited")
    assert is_card(body, UNCACHED)
    first, second = [r.time for r in world.api.requests if r.path.endswith(f"/{UNCACHED}")]
    assert second - first >= 1.0
    assert time.monotonic() - started < 3.0


async def test_a_429_burst_on_two_bots_is_no_storm(
    private_redis: RedisServer, start_ready: WorldFactory, incident_api: FakeIncidentApi
) -> None:
    """Ten reads of ten uncached incidents while the API answers only 429 (Retry-After: 1 s)."""
    one, two = await two_bots(start_ready, private_redis)
    ids = add_copies(incident_api, 10, first_id=920000)
    seen = len(incident_api.requests)
    incident_api.fail_next(429, count=1000, retry_after=1)
    answers = await asyncio.gather(
        *(ask((one, two)[n % 2], incident_id, f"storm{n}", 30) for n, incident_id in enumerate(ids))
    )
    # every person is told, none is left without an answer
    assert all("throttling" in str(a["text"]) and "try again in" in str(a["text"]) for a in answers)
    sent = [r.time for r in incident_api.requests[seen:]]
    first = sent[0]
    # After the first 429 nothing is sent during its Retry-After but what was already on the way,
    # and the retries are bounded: at most one request per read and try (3), never a storm.
    assert [t for t in sent if first + 0.25 < t < first + 0.95] == []
    assert len(sent) <= len(ids) * 3


async def test_the_wait_told_is_never_zero_seconds(start_ready: WorldFactory) -> None:
    world = await start_ready(incident_api_deadline=0.5)
    world.api.fail_next(429, count=1, retry_after=1)
    assert "try again in 1 s" in str((await ask(world, CACHED, "first"))["text"])
    await asyncio.sleep(0.75)  # about 0.25 s of the pause is left
    text = str((await ask(world, UNCACHED, "second"))["text"])
    assert "try again in" in text
    assert "try again in 0 s" not in text, text


def get_times(api: FakeIncidentApi, incident_id: str, since: float = 0.0) -> list[float]:
    """When the GETs of one incident reached the fake API (time.monotonic())."""
    path = f"/incidents/{incident_id}"
    return [r.time for r in api.requests if r.method == "GET" and r.path.endswith(path) and r.time >= since]


async def test_a_stale_copy_is_shown_at_once_on_both_bots_while_the_api_asks_to_wait(
    private_redis: RedisServer, start_ready: WorldFactory
) -> None:
    """The issue's case: TTL 2 s, the copy expired, every GET answered 429 with Retry-After: 8."""
    one, two = await two_bots(start_ready, private_redis, incident_cache_ttl=2)
    api = one.api
    assert is_card(await ask(one, CACHED, "warm"), CACHED)
    await asyncio.sleep(2.1)  # past the TTL: the next read needs the API
    api.fail_next(429, count=None, retry_after=8, method="GET", path_contains=f"/incidents/{CACHED}")
    started = time.monotonic()
    answers = await asyncio.gather(ask(one, CACHED, "one"), ask(two, CACHED, "two"))
    shown = time.monotonic() - started
    assert all(is_card_stale(answer, CACHED) for answer in answers), answers
    assert shown < 2.0, f"stale cards after {shown:.2f} s"
    [first] = get_times(api, CACHED, since=started)  # the other bot met the paused budget

    # Asked again during the pause, on either bot: stale at once, and nothing reaches the API.
    await asyncio.sleep(1.0)
    again = await asyncio.gather(ask(one, CACHED, "one-again"), ask(two, CACHED, "two-again"))
    assert all(is_card_stale(answer, CACHED) for answer in again), again
    await asyncio.sleep(max(0.0, first + 7.5 - time.monotonic()))
    api.stop_failing()  # the API allows reads again as its Retry-After ends
    await asyncio.sleep(max(0.0, first + 8.5 - time.monotonic()))
    assert len([t for t in get_times(api, CACHED) if first <= t < first + 8.0]) <= 2

    # The refresh scheduled for the end of the pause has landed: a later ask is fresh.
    assert is_card(await ask(two, CACHED, "later"), CACHED)
    assert is_card(await ask(one, CACHED, "later-one"), CACHED)
    assert len(get_times(api, CACHED, since=first + 8.0)) == 1  # one refresh, for both bots


async def test_with_nothing_cached_the_person_is_told_why_they_wait_then_gets_the_card(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready()
    world.api.fail_next(429, count=1, retry_after=3, path_contains=f"/incidents/{UNCACHED}")
    started = time.monotonic()
    assert (await world.command(UNCACHED, response="waits")).status == 200
    [note] = await world.slack.wait_for("response_url:waits", timeout=2.0)
    told = time.monotonic() - started
    assert "The incident API asks us to wait 3 s" in str(note.args["text"]), note.args
    assert not is_card(note.args, UNCACHED)
    _, card = await world.slack.wait_for("response_url:waits", count=2, timeout=10.0)
    arrived = time.monotonic() - started
    assert is_card(card.args, UNCACHED) and card.args["replace_original"] is True, card.args
    assert told < 2.0 and 2.9 < arrived < 8.0, (told, arrived)
    first, second = get_times(world.api, UNCACHED)
    assert second - first >= 3.0


async def test_a_budget_of_three_gets_a_minute_is_shared_by_two_bots(
    private_redis: RedisServer, start_ready: WorldFactory, incident_api: FakeIncidentApi
) -> None:
    one, two = await two_bots(
        start_ready, private_redis, incident_cache_ttl=1, incident_api_budget={"get_per_minute": 3}
    )
    ids = [CACHED, *add_copies(incident_api, 3, first_id=930000)]
    ids, unread = ids[:3], ids[3]
    cards = [await ask((one, two)[n % 2], i, f"read{n}") for n, i in enumerate(ids)]
    assert all(is_card(card, i) for card, i in zip(cards, ids, strict=True))
    assert incident_api.count("GET", "/security/incidents/") == 3

    refused = await ask(two, unread, "refused")
    assert "try again in" in str(refused["text"]), refused
    await asyncio.sleep(1.1)  # the three cached copies are past their TTL
    stale = [await ask((two, one)[n % 2], i, f"stale{n}") for n, i in enumerate(ids)]
    assert all(is_card_stale(card, i) for card, i in zip(stale, ids, strict=True)), stale
    # at most three GETs reached the API in the minute, from either bot
    assert incident_api.count("GET", "/security/incidents/") == 3
    assert gets_of(incident_api, unread) == 0


async def test_a_write_over_the_budget_tells_the_person_when_to_retry(
    private_redis: RedisServer, start_ready: WorldFactory
) -> None:
    one, two = await two_bots(start_ready, private_redis, incident_api_budget={"update_per_minute": 1})
    await one.interact(click(one, "message", ActionId.ASSIGN_ME))
    await wait_until(lambda: len(one.slack.calls_to("chat.update")) == 1)
    # the second write, at the other bot, finds the shared bucket empty
    await two.interact(click(two, "message", ActionId.IN_PROGRESS))
    await asyncio.gather(one.settle(), two.settle())
    assert [r.method for r in writes(one)] == ["PATCH"]
    [note] = told(one.slack)
    assert note.startswith("Nothing was changed.") and "try again in" in note, note
