"""GET /metrics after some traffic: every family the spec names, with sensible labels and values.

Requests by surface and outcome, API calls and latency by endpoint and status, cache hits, misses
and stale copies, the budget left in every bucket, token requests, jobs, and whether Redis is
degraded (a private redis-server, stopped in the middle of the test).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.blocks.ids import ActionId
from tests.fakes import TENANT_ID
from tests.faults import conftest as faults
from tests.faults.conftest import (
    REDIS_DEPRECATIONS,
    RedisServer,
    ask,
    is_card,
    link_event,
    settle,
    wait_until,
)
from tests.listeners.conftest import PORTAL, SlackWorld, WorldFactory
from tests.listeners.test_actions import click
from tests.world import link_shared

pytestmark = REDIS_DEPRECATIONS

# the fault suite's fixtures: a private redis-server, bots started once they are ready
fake_slack = faults.fake_slack
start_world = faults.start_world
start_ready = faults.start_ready
private_redis = faults.private_redis

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(world: SlackWorld) -> tuple[str, Samples, set[str]]:
    """The /metrics page: its content type, every sample by (name, labels), and the family names."""
    async with world.http.get(f"http://127.0.0.1:{world.bot.port}/metrics") as response:
        assert response.status == 200
        content_type, text = response.headers["Content-Type"], await response.text()
    samples: Samples = {}
    families = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return content_type, samples, families


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    """{label value: sample value} for a one-label family."""
    return {dict(key)[label]: v for (n, key), v in samples.items() if n == name and label in dict(key)}


async def traffic(world: SlackWorld) -> None:
    """A miss, a hit, an unfurl, a 404, a click, and a stale copy served during a 503 burst."""
    assert is_card(await ask(world, "2972395", "miss"), "2972395")
    assert is_card(await ask(world, "2972395", "hit"), "2972395")
    assert (await world.event(link_event("2972395", 1))).status == 200
    await world.slack.wait_for("chat.unfurl")
    assert "was not found" in str((await ask(world, "31337", "missing"))["text"])
    assert (await world.interact(click(world, "message", ActionId.REFRESH))).status == 200
    await settle(world)
    await asyncio.sleep(1.1)  # past the TTL: the next read needs the API
    world.api.fail_next(503, count=3, retry_after=0)
    assert is_card(await ask(world, "2972395", "stale"), "2972395", stale=True)
    await settle(world)


@pytest.fixture
async def busy(private_redis: RedisServer, start_ready: WorldFactory) -> SlackWorld:
    world = await start_ready(
        cache_url=private_redis.url(), incident_cache_ttl=1, incident_api_budget={"get_per_minute": 10}
    )
    await traffic(world)
    return world


async def test_metrics_name_every_family_with_its_labels(busy: SlackWorld) -> None:
    content_type, samples, families = await scrape(busy)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert {
        "incident_bot_slack_requests",
        "incident_bot_api_requests",
        "incident_bot_api_request_seconds",
        "incident_bot_cache",
        "incident_bot_api_budget_remaining",
        "incident_bot_token_requests",
        "incident_bot_redis_degraded",
        "incident_bot_jobs",
    } <= families

    requests = labelled(samples, "incident_bot_slack_requests_total", "surface")
    assert requests == {"command": 4, "event:link_shared": 1, "block_actions": 1}
    assert value(samples, "incident_bot_slack_requests_total", surface="command", outcome="ok") == 4

    gets = busy.api.count("GET", "/security/incidents/")
    statuses = {
        s: value(samples, "incident_bot_api_requests_total", endpoint="get", status=s)
        for s in ("200", "404", "503")
    }
    assert statuses == {"200": gets - 4, "404": 1, "503": 3}
    assert value(samples, "incident_bot_api_requests_total", endpoint="list", status="200") == 1  # readiness
    assert value(samples, "incident_bot_api_request_seconds_count", endpoint="get") == gets
    assert 0 < value(samples, "incident_bot_api_request_seconds_sum", endpoint="get") < gets
    assert value(samples, "incident_bot_api_request_seconds_bucket", endpoint="get", le="+Inf") == gets

    cache = labelled(samples, "incident_bot_cache_total", "result")
    assert cache["miss"] >= 3 and cache["hit"] >= 2 and cache["stale"] == 1

    left = labelled(samples, "incident_bot_api_budget_remaining", "bucket")
    assert set(left) == {f"{k}/{w}" for k in ("get", "list", "update") for w in ("minute", "hour")}
    assert 10 - gets <= left["get/minute"] < 10 - gets + 1  # 10 a minute, refilling continuously
    assert 49 <= left["list/minute"] <= 50 and left["update/hour"] == 1500  # one list: the probe

    assert value(samples, "incident_bot_token_requests_total") == 1
    assert value(samples, "incident_bot_redis_degraded") == 0
    # four asks: one was of an incident fresh in the cache, answered in its ack without a job
    assert value(samples, "incident_bot_jobs_total", kind="show", outcome="done") == 3
    assert value(samples, "incident_bot_jobs_total", kind="unfurl", outcome="done") == 1


async def test_the_redis_degraded_gauge_follows_redis(
    private_redis: RedisServer,
    start_ready: WorldFactory,
) -> None:
    world = await start_ready(cache_url=private_redis.url(), redis_retry_seconds=0.3)
    assert value((await scrape(world))[1], "incident_bot_redis_degraded") == 0
    await private_redis.stop()
    assert is_card(await ask(world, "2972395", "down"), "2972395")
    _, samples, _ = await scrape(world)  # the page still renders while Redis is down
    assert value(samples, "incident_bot_redis_degraded") == 1
    assert "get/minute" in labelled(samples, "incident_bot_api_budget_remaining", "bucket")
    await private_redis.start()
    n = 0

    async def back() -> bool:
        nonlocal n
        n += 1
        await ask(world, "2972395", f"up{n}")
        return value((await scrape(world))[1], "incident_bot_redis_degraded") == 0

    await wait_until(back, within=10, every=0.3)


async def test_a_failed_request_is_counted_as_an_error(start_ready: WorldFactory) -> None:
    world = await start_ready()
    # Slack refuses to open a modal: the listener raises, the person is told (not a 500)
    world.slack.fail_next("views.open", error="internal_error", status=200)
    answer = await world.interact(click(world, "message", ActionId.COMMENT))
    assert answer.status == 200
    _, samples, _ = await scrape(world)
    outcomes: dict[str, Any] = {
        o: value(samples, "incident_bot_slack_requests_total", surface="block_actions", outcome=o)
        for o in ("ok", "error")
    }
    assert outcomes == {"ok": 0, "error": 1}


async def test_acks_backlog_and_slacks_429s_are_measured(start_ready: WorldFactory) -> None:
    world = await start_ready()
    world.slack.fail_next("chat.unfurl", error="ratelimited", status=429, retry_after=1)
    await world.event(link_shared([f"{PORTAL}/incidents/2972395?tid={TENANT_ID}"], event_id="EvM429"))
    await world.slack.wait_for("chat.unfurl", count=2, timeout=10)  # the 429, then its retry
    await world.settle()
    _, samples, families = await scrape(world)
    assert {
        "incident_bot_slack_request_seconds",
        "incident_bot_jobs_backlog",
        "incident_bot_slack_ratelimited",
    } <= families
    assert value(samples, "incident_bot_slack_ratelimited_total") == 1
    assert value(samples, "incident_bot_slack_request_seconds_count", surface="event:link_shared") == 1
    assert labelled(samples, "incident_bot_jobs_backlog", "state") == {"queued": 0, "working": 0, "dead": 0}
