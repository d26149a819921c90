"""Redis stopped mid-run, then started again.

While Redis is down each bot answers from its own memory (cache, dedupe keys, inline jobs) and
says so: a warning in the logs and in /readyz ("cache" and "intake"). Once Redis answers, each
bot goes back to it within REDIS_RETRY_SECONDS of its next operation, and what one bot writes
is seen by the other again. Every event is unfurled exactly once throughout.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.fakes import FakeIncidentApi, FakeSlackApi
from tests.faults.conftest import (
    REDIS_DEPRECATIONS,
    RedisServer,
    add_copies,
    ask,
    gets_of,
    is_card,
    link_event,
    message_ts,
    readyz,
    settle,
    unfurl_text,
    unfurls_of,
    wait_until,
)
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import INCIDENT, told
from tests.listeners.test_views import comment_values, modal, submission

pytestmark = REDIS_DEPRECATIONS

ON_REDIS = {"cache": "redis", "intake": "redis stream"}
ON_MEMORY = {"cache": "redis: unreachable, using memory", "intake": "redis: unreachable, working inline"}


async def state(http: aiohttp.ClientSession, world: SlackWorld) -> dict[str, str]:
    body = await readyz(http, world.bot.port)
    return {"cache": body["cache"], "intake": body["intake"]}


async def unfurl_once(world: SlackWorld, slack: FakeSlackApi, incident_id: str, serial: int) -> None:
    """Deliver one event to `world`; its message gets exactly one chat.unfurl, showing the card."""
    assert (await world.event(link_event(incident_id, serial))).status == 200
    await wait_until(lambda: len(unfurls_of(slack, message_ts(serial))) == 1)
    [call] = unfurls_of(slack, message_ts(serial))
    assert f"Incident {incident_id}" in unfurl_text(call)


async def until_back_on_redis(
    bots: tuple[SlackWorld, ...], slack: FakeSlackApi, ids: Iterator[str], serials: Iterator[int]
) -> None:
    """Send events to every bot until each says it is on Redis again (each event unfurled once)."""
    http = bots[0].http
    for _ in range(20):
        await asyncio.sleep(0.3)
        for w in bots:
            await unfurl_once(w, slack, next(ids), next(serials))
        if [await state(http, w) for w in bots] == [ON_REDIS] * len(bots):
            return
    raise AssertionError("the bots did not go back to Redis")


async def test_redis_stopped_mid_run_is_ridden_out_in_memory_and_left_when_it_answers(
    private_redis: RedisServer,
    start_ready: WorldFactory,
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot")
    one, two = [await start_ready(cache_url=private_redis.url(), redis_retry_seconds=0.5) for _ in range(2)]
    bots = (one, two)
    http = one.http
    ids = iter(add_copies(incident_api, 40, first_id=970000))
    serials = itertools.count(1)

    await unfurl_once(one, fake_slack, next(ids), next(serials))
    await one.settle()
    assert [await state(http, w) for w in bots] == [ON_REDIS, ON_REDIS]

    await private_redis.stop()
    during = [(w, next(ids), next(serials)) for w in (one, two, one, two)]
    await asyncio.gather(*(unfurl_once(w, fake_slack, i, s) for w, i, s in during))
    assert [await state(http, w) for w in bots] == [ON_MEMORY, ON_MEMORY]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("Redis unreachable") and "per-process memory" in m for m in warnings)
    assert any(m.startswith("Redis unreachable at intake") for m in warnings)

    await private_redis.start()  # same port, same AOF: the stream and its group come back
    await until_back_on_redis(bots, fake_slack, ids, serials)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Redis answers again") and "shared cache restored" in m for m in messages)

    # Shared again: the other bot sees what one wrote after the restart.
    incident_id, serial = next(ids), next(serials)
    await unfurl_once(one, fake_slack, incident_id, serial)
    await settle(one, two)
    retry = await two.event(link_event(incident_id, serial), retry_num=1)
    assert retry.status == 200
    await settle(one, two)
    assert len(unfurls_of(fake_slack, message_ts(serial))) == 1  # the done mark is in Redis
    assert is_card(await ask(two, incident_id, "shared"), incident_id)
    assert gets_of(incident_api, incident_id) == 1  # the cached copy is in Redis

    # nothing lost, nothing twice: every event's message got exactly one chat.unfurl
    sent = range(1, serial + 1)
    assert [len(unfurls_of(fake_slack, message_ts(s))) for s in sent] == [1] * len(sent)


async def test_redis_back_empty_gets_its_stream_and_group_again(
    private_redis: RedisServer,
    start_ready: WorldFactory,
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
) -> None:
    """A Redis without persistence restarts with nothing: the intake makes its stream and group again."""
    one, two = [await start_ready(cache_url=private_redis.url(), redis_retry_seconds=0.3) for _ in range(2)]
    ids = add_copies(incident_api, 8, first_id=971000)
    await unfurl_once(one, fake_slack, ids[0], 1)
    await private_redis.restart(empty=True)
    await asyncio.sleep(0.4)
    for serial, incident_id in enumerate(ids[1:], start=2):
        await unfurl_once((one, two)[serial % 2], fake_slack, incident_id, serial)
    await settle(one, two)
    http = one.http

    async def both_on_redis() -> bool:
        return [await state(http, w) for w in (one, two)] == [ON_REDIS, ON_REDIS]

    # A bot that fell back to working inline tries Redis again every REDIS_RETRY_SECONDS: on a busy
    # machine the second one may be a try or two behind the first.
    await wait_until(both_on_redis, within=5, every=0.1)


async def test_the_stream_deleted_under_blocked_readers_loses_no_event(
    private_redis: RedisServer,
    start_ready: WorldFactory,
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
) -> None:
    one, _ = [await start_ready(cache_url=private_redis.url()) for _ in range(2)]
    ids = add_copies(incident_api, 2, first_id=972000)
    await unfurl_once(one, fake_slack, ids[0], 1)
    await asyncio.sleep(0.2)  # both read loops are blocked in XREADGROUP
    redis = private_redis.client()
    try:
        await redis.flushall()
    finally:
        await redis.aclose()
    await asyncio.sleep(0.2)
    assert (await one.event(link_event(ids[1], 2))).status == 200  # acked: Slack will not send it again
    await fake_slack.wait_for("chat.unfurl", count=2, timeout=4)


async def test_a_comment_in_flight_when_redis_stops_is_stored_once_after_it_returns(
    private_redis: RedisServer,
    start_ready: WorldFactory,
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The job saves the comment while Redis is down, so its XACK fails; after the restart another
    delivery of it checks the incident's comments and does not post again."""
    caplog.set_level(logging.WARNING, logger="bot")
    one, two = [
        await start_ready(cache_url=private_redis.url(), redis_retry_seconds=0.3, intake_claim_idle_seconds=1)
        for _ in range(2)
    ]
    view = await modal(one, "comment")
    incident_api.latency = 0.5
    assert (await one.interact(submission(view, comment_values("Saved while Redis was down.")))).status == 200
    await wait_until(lambda: incident_api.count("POST") == 1)
    await private_redis.stop()
    await fake_slack.wait_for("chat.update", timeout=5)  # the card redrawn, from this bot's memory
    await wait_until(lambda: any("could not XACK" in r.getMessage() for r in caplog.records), within=5)
    await private_redis.start()
    await wait_until(lambda: any("taking over job" in r.getMessage() for r in caplog.records), within=8)
    await settle(one, two)
    incident = incident_api.get("v1.0", INCIDENT)
    assert incident is not None
    saved = [c for c in incident["comments"] if "Saved while Redis was down." in c["comment"]]
    assert len(saved) == 1 and incident_api.count("POST") == 1
    assert told(fake_slack) == []  # no error, no "did not go through"


async def test_a_fetch_in_flight_when_redis_stops_does_not_block_reads_after_it_returns(
    private_redis: RedisServer,
    start_ready: WorldFactory,
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
) -> None:
    # a 3 s deadline makes the lease 8 s: long enough to outlast the way back to Redis, short
    # enough to measure the wait instead of timing out
    bots = tuple(
        [
            await start_ready(cache_url=private_redis.url(), redis_retry_seconds=0.3, incident_api_deadline=3)
            for _ in range(2)
        ]
    )
    ids = iter(add_copies(incident_api, 40, first_id=973000))
    serials = itertools.count(1)
    incident_id, serial = next(ids), next(serials)
    incident_api.latency = 0.5
    assert (await bots[0].event(link_event(incident_id, serial))).status == 200
    await wait_until(lambda: gets_of(incident_api, incident_id) == 1)  # the fetch holds the lock
    await private_redis.stop()
    await wait_until(lambda: len(unfurls_of(fake_slack, message_ts(serial))) == 1)
    await private_redis.start()
    incident_api.latency = 0.0
    await until_back_on_redis(bots, fake_slack, ids, serials)
    started = time.monotonic()
    assert is_card(await ask(bots[1], incident_id, "after", within=10), incident_id)
    assert time.monotonic() - started < 2.0
