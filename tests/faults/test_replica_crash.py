"""One of two replicas killed (SIGKILL) in the middle of a burst of link_shared events.

Both replicas are `python -m bot` child processes in HTTP mode, sharing a private Redis. Every
event is delivered to one replica and, as a Slack retry, to the other (when a replica is gone
its deliveries fail, as they would behind a load balancer, and only the retry lands). The jobs
the dead replica had taken are finished by the survivor once their heartbeat is
INTAKE_CLAIM_IDLE_SECONDS old. Every acked event is unfurled exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp

from tests.fakes import FakeIncidentApi, FakeSlackApi
from tests.faults.conftest import (
    REDIS_DEPRECATIONS,
    RedisServer,
    add_copies,
    link_event,
    message_ts,
    unfurls_of,
    wait_until,
)
from tests.world import BotProcess, SlackSender

pytestmark = REDIS_DEPRECATIONS

EVENTS = 24


async def jobs_held_by(redis: RedisServer, bot: BotProcess) -> int:
    """Jobs the replica's consumer had read and not yet acknowledged in the intake stream."""
    assert bot.process is not None
    client = redis.client()
    try:
        consumers = await client.xinfo_consumers("incident-bot:jobs", "incident-bot")
    finally:
        await client.aclose()
    mine = f"-{bot.process.pid}-"
    return sum(int(c["pending"]) for c in consumers if mine in c["name"].decode())


async def _holds_jobs(redis: RedisServer, bot: BotProcess) -> bool:
    return await jobs_held_by(redis, bot) > 0


async def deliver(sender: SlackSender, body: dict[str, object], retry_num: int | None = None) -> bool:
    """One delivery; True when the replica acked it (HTTP 200)."""
    try:
        answer = await sender.event(body, retry_num=retry_num)
    except aiohttp.ClientError:
        return False
    return answer.status == 200


async def test_a_replica_killed_mid_burst_loses_no_event_and_unfurls_none_twice(
    private_redis: RedisServer,
    replicas: Callable[..., Awaitable[BotProcess]],
    incident_api: FakeIncidentApi,
    fake_slack: FakeSlackApi,
) -> None:
    settings = {
        "CACHE_URL": private_redis.url(),
        "INTAKE_CLAIM_IDLE_SECONDS": "1",
        # the dead replica's flight locks expire INCIDENT_API_DEADLINE + 5 s after it took them
        "INCIDENT_API_DEADLINE": "2",
    }
    doomed = await replicas(**settings)
    ids = add_copies(incident_api, EVENTS, first_id=980000)
    # each job waits 6 s on the API, longer than the survivor takes to start on a busy machine:
    # the kill lands while the doomed replica is working
    incident_api.latency = 6.0
    acked: dict[int, bool] = {}
    async with aiohttp.ClientSession() as http:
        senders: list[SlackSender] = [SlackSender(http, doomed.url)]

        async def one_event(n: int) -> None:
            body = link_event(ids[n], n)
            first, other = senders[n % len(senders)], senders[(n + 1) % len(senders)]
            results = await asyncio.gather(deliver(first, body), deliver(other, body, retry_num=1))
            acked[n] = any(results)

        half = EVENTS // 2
        # the first half reaches the doomed replica alone, so its consumer reads those jobs
        await asyncio.gather(*(one_event(n) for n in range(half)))
        await wait_until(lambda: _holds_jobs(private_redis, doomed), within=5, every=0.05)
        survivor = await replicas(**settings)
        senders = [SlackSender(http, doomed.url), SlackSender(http, survivor.url)]
        incident_api.latency = 0.5
        await doomed.kill()
        killed_at = time.monotonic()
        held = await jobs_held_by(private_redis, doomed)
        assert held > 0  # the kill landed while the replica was working
        await asyncio.gather(*(one_event(n) for n in range(half, EVENTS)))

        # nothing refused: the survivor acked every event (and its own share of the retries)
        assert all(acked.values()) and len(acked) == EVENTS

        def unfurled() -> list[int]:
            return [len(unfurls_of(fake_slack, message_ts(n))) for n in range(EVENTS)]

        await wait_until(lambda: min(unfurled()) > 0, within=30, every=0.1)
        await asyncio.sleep(1.0)  # a duplicate, if any, would come now
        assert unfurled() == [1] * EVENTS
        # the jobs the dead replica held were taken over, not waited out for ever
        assert time.monotonic() - killed_at < 20
