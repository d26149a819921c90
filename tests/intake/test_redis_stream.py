"""RedisStreamIntake in this process, against a private redis-server (never the shared one on 6379).

The intake is driven the way the bot drives it (submit, then the job runs in its read loop); what
it leaves in Redis is read back with plain stream commands: XLEN, XRANGE, XPENDING.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.services import build_redis
from bot.state.intake import Delivery
from bot.state.intake_redis import RedisStreamIntake, StreamSettings
from tests.redis_server import RedisServer
from tests.world import free_port
from tests.world import wait_until as _wait_until

# Short times, so that takeovers and retries happen within a second.
FAST = StreamSettings(
    stream="t:jobs",
    dead_stream="t:jobs:dead",
    group="t-group",
    concurrency=4,
    claim_idle=0.5,
    heartbeat=0.1,
    janitor_every=0.1,
    max_attempts=3,
    retry_delay=0.01,
)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A private redis-server for the test."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def redis(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """The bot's own kind of client (build_redis: bytes, short timeouts)."""
    client = build_redis(server.url())
    assert client is not None
    yield client
    await client.aclose()


@pytest.fixture
async def unreachable() -> AsyncIterator[aioredis.Redis]:
    """The bot's kind of client, pointed at a port where nothing listens."""
    client = build_redis(f"redis://127.0.0.1:{free_port()}/0")
    assert client is not None
    yield client
    await client.aclose()


class Recorder:
    """A job handler that records what it ran, optionally failing or waiting."""

    def __init__(self, behaviour: Callable[[Delivery], Awaitable[None]] | None = None) -> None:
        self.jobs: list[Delivery] = []
        self.dead: list[Delivery] = []
        self.outcomes: list[tuple[str, str]] = []
        self.done = asyncio.Event()
        self._behaviour = behaviour

    async def handle(self, job: Delivery) -> None:
        self.jobs.append(job)
        if self._behaviour is not None:
            await self._behaviour(job)
        self.done.set()

    async def on_dead(self, job: Delivery) -> None:
        self.dead.append(job)

    def outcome(self, kind: str, outcome: str) -> None:
        self.outcomes.append((kind, outcome))


Intakes = Callable[..., Awaitable[RedisStreamIntake]]


@pytest.fixture
async def intakes(redis: aioredis.Redis) -> AsyncIterator[Intakes]:
    """Start intakes (consumers of one group); each is stopped at the end of the test."""
    started: list[RedisStreamIntake] = []

    async def start(
        recorder: Recorder, settings: StreamSettings = FAST, client: aioredis.Redis | None = None
    ) -> RedisStreamIntake:
        intake = RedisStreamIntake(
            client or redis,
            recorder.handle,
            on_dead=recorder.on_dead,
            settings=settings,
            on_outcome=recorder.outcome,
        )
        await intake.start()
        started.append(intake)
        return intake

    yield start
    for intake in started:
        await intake.stop(0.5)


async def pending(redis: aioredis.Redis, settings: StreamSettings = FAST) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await redis.xpending_range(
        settings.stream, settings.group, min="-", max="+", count=100
    )
    return rows


async def add_raw(redis: aioredis.Redis, kind: str, payload: str) -> str:
    entry: Any = await redis.xadd(FAST.stream, {"kind": kind, "payload": payload})
    return str(entry.decode())


# ---- the normal path -----------------------------------------------------------------------------


async def test_a_job_is_added_to_the_stream_and_acked_only_when_done(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    pending_while_running: list[int] = []

    async def look(job: Delivery) -> None:
        pending_while_running.append(len(await pending(redis)))

    recorder = Recorder(look)
    intake = await intakes(recorder)
    await intake.submit("unfurl", {"event_id": "Ev1", "links": ["https://x"]})
    await asyncio.wait_for(recorder.done.wait(), 5)
    await intake.drain()

    entries: Any = await redis.xrange(FAST.stream)
    (entry_id, fields) = entries[0]
    assert fields == {b"kind": b"unfurl", b"payload": b'{"event_id":"Ev1","links":["https://x"]}'}
    (job,) = recorder.jobs
    assert (job.id, job.kind, job.payload, job.attempt) == (
        entry_id.decode(),
        "unfurl",
        {"event_id": "Ev1", "links": ["https://x"]},
        1,
    )
    assert pending_while_running == [1]  # XREADGROUP'd, not yet XACKed while it ran
    assert await pending(redis) == []  # XACKed after
    assert recorder.outcomes == [("unfurl", "done")]
    assert intake.mode == "redis stream"


async def test_the_stream_is_bounded_by_an_approximate_maxlen(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    await redis.config_set("stream-node-max-entries", 100)
    recorder = Recorder()
    intake = await intakes(recorder, StreamSettings(**{**FAST.__dict__, "maxlen": 10}))
    for n in range(300):
        await intake.submit("k", {"n": n})
    length = await redis.xlen(FAST.stream)
    # approximate trimming drops whole nodes of 100 entries: more than 10 are kept, far fewer than 300
    # (entries trimmed before a consumer read them are gone: the bound is a backlog limit)
    assert 10 <= length <= 110


async def test_jobs_are_shared_between_consumers_of_the_group(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    one, two = Recorder(lambda job: asyncio.sleep(0.05)), Recorder(lambda job: asyncio.sleep(0.05))
    first = await intakes(one)
    await intakes(two)
    for n in range(20):
        await first.submit("k", {"n": n})
    await wait_until(lambda: len(one.jobs) + len(two.jobs) == 20)
    await first.drain()
    assert sorted(j.payload["n"] for j in one.jobs + two.jobs) == list(range(20))  # each once
    assert await pending(redis) == []


# ---- takeover ------------------------------------------------------------------------------------


@pytest.mark.parametrize("earlier_deliveries", [1, 3])
async def test_the_janitor_takes_over_an_entry_left_by_a_dead_consumer(
    earlier_deliveries: int, redis: aioredis.Redis, intakes: Intakes
) -> None:
    await redis.xgroup_create(FAST.stream, FAST.group, id="0", mkstream=True)
    entry = await add_raw(redis, "write", json.dumps({"key": "view:V1"}))
    await redis.xreadgroup(FAST.group, "dead-replica-1", {FAST.stream: ">"}, count=1)
    for n in range(2, earlier_deliveries + 1):  # further replicas claimed it, then died too
        await redis.xclaim(FAST.stream, FAST.group, f"dead-replica-{n}", min_idle_time=0, message_ids=[entry])
    left_at = time.monotonic()

    recorder = Recorder()
    intake = await intakes(recorder)
    await asyncio.wait_for(recorder.done.wait(), 5)
    taken_after = time.monotonic() - left_at

    (job,) = recorder.jobs
    assert (job.id, job.kind, job.payload) == (entry, "write", {"key": "view:V1"})
    # the delivery count XPENDING keeps is the attempt the handler sees
    assert job.attempt == earlier_deliveries + 1
    assert taken_after >= FAST.claim_idle  # not before the entry was idle long enough
    await wait_until(lambda: _nothing_pending(redis))
    assert recorder.outcomes == [("write", "done")]
    assert intake.consumer not in {"dead-replica-1"}


async def test_a_running_job_keeps_its_entry_by_heartbeat(redis: aioredis.Redis, intakes: Intakes) -> None:
    """A job running for three times the claim idle is not taken over by the other consumer."""
    owners: list[str] = []
    idle_ms: list[int] = []

    async def slow(job: Delivery) -> None:
        for _ in range(15):
            (row,) = await pending(redis)
            idle_ms.append(row["time_since_delivered"])
            owners.append(row["consumer"].decode())
            await asyncio.sleep(0.1)

    one, two = Recorder(slow), Recorder(slow)
    first = await intakes(one)
    second = await intakes(two)
    await first.submit("write", {"key": "view:V2"})
    await wait_until(lambda: len(one.jobs) + len(two.jobs) == 1)
    await first.drain()
    await asyncio.sleep(FAST.claim_idle)
    assert len(one.jobs) + len(two.jobs) == 1
    assert len(set(owners)) == 1 and owners[0] in (first.consumer, second.consumer)
    assert max(idle_ms) < FAST.claim_idle * 1000  # each heartbeat reset the entry's idle time
    assert await pending(redis) == []


async def test_a_finished_job_stops_heartbeating(redis: aioredis.Redis, intakes: Intakes) -> None:
    """Jobs that last one heartbeat period end right when their heartbeat sends its XCLAIM."""
    recorder = Recorder(lambda job: asyncio.sleep(FAST.heartbeat))
    intake = await intakes(recorder)
    for n in range(30):
        await intake.submit("k", {"n": n})
    await wait_until(lambda: len(recorder.outcomes) == 30)
    await wait_until(lambda: _nothing_pending(redis))
    claims_after = await _xclaim_calls(redis)
    await asyncio.sleep(10 * FAST.heartbeat)
    assert await _xclaim_calls(redis) == claims_after  # nothing left to heartbeat
    await asyncio.wait_for(intake.drain(), 2)  # and no job task is left running


async def test_one_xclaim_heartbeats_every_job_held(redis: aioredis.Redis, intakes: Intakes) -> None:
    """Jobs held at once, running or waiting for a slot: each heartbeat is one XCLAIM for them all."""
    release = asyncio.Event()
    recorder = Recorder(lambda job: release.wait())
    intake = await intakes(recorder)
    for n in range(2 * FAST.concurrency):
        await intake.submit("k", {"n": n})
    await wait_until(lambda: len(recorder.jobs) == FAST.concurrency)
    await asyncio.sleep(0.1)
    held = [row for row in await pending(redis) if row["consumer"].decode() == intake.consumer]
    assert FAST.concurrency < len(held) <= 2 * FAST.concurrency  # some wait for a slot
    before = await _xclaim_calls(redis)
    await asyncio.sleep(5 * FAST.heartbeat)
    claims = await _xclaim_calls(redis) - before
    assert 3 <= claims <= 6  # one per heartbeat period, not one per job
    assert max(row["time_since_delivered"] for row in await pending(redis)) < FAST.claim_idle * 1000
    release.set()
    await wait_until(lambda: _nothing_pending(redis))


async def test_a_busy_stream_is_read_in_batches(redis: aioredis.Redis, intakes: Intakes) -> None:
    """A backlog is taken up to twice the concurrency at a time, not one entry per finished job."""
    for n in range(200):
        await redis.xadd(FAST.stream, {"kind": "k", "payload": json.dumps({"n": n})})
    recorder = Recorder(lambda job: asyncio.sleep(0.005))
    reads_before = await _commands(redis, "xreadgroup")
    await intakes(recorder)
    await wait_until(lambda: len(recorder.outcomes) == 200)
    assert await _commands(redis, "xreadgroup") - reads_before <= 200 // FAST.concurrency + 5
    await wait_until(lambda: _nothing_pending(redis))


async def test_jobs_finishing_at_stop_are_still_heartbeated(redis: aioredis.Redis, intakes: Intakes) -> None:
    """SIGTERM lets running jobs finish; meanwhile no other replica may take them over."""
    recorder = Recorder(lambda job: asyncio.sleep(3 * FAST.claim_idle))
    intake = await intakes(recorder)
    await intake.submit("write", {"key": "view:V3"})
    await wait_until(lambda: len(recorder.jobs) == 1)
    other = Recorder()
    await intakes(other)
    await intake.stop(5 * FAST.claim_idle)
    assert recorder.outcomes == [("write", "done")]
    assert other.jobs == []  # never taken over while the first replica was finishing it
    assert await pending(redis) == []


# ---- at most once per key ------------------------------------------------------------------------


async def test_a_repeat_of_a_queued_event_is_not_queued_on_any_replica(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    """A Slack retry reaching the other replica finds the event's key and queues nothing."""
    one, two = Recorder(), Recorder()
    first, second = await intakes(one), await intakes(two)
    assert await first.submit("unfurl", {"n": 1}, once="event:Ev1") is True
    assert await second.submit("unfurl", {"n": 1}, once="event:Ev1") is False
    assert await first.submit("unfurl", {"n": 1}, once="event:Ev1") is False
    assert await second.submit("unfurl", {"n": 2}, once="event:Ev2") is True
    await wait_until(lambda: len(one.jobs) + len(two.jobs) == 2)
    await wait_until(lambda: _nothing_pending(redis))
    assert sorted(j.payload["n"] for j in one.jobs + two.jobs) == [1, 2]
    assert await redis.xlen(FAST.stream) == 2
    ttl = await redis.ttl(f"{FAST.stream}:once:event:Ev1")
    assert 3500 < ttl <= 3600  # Slack's retries come within minutes; the key outlives them


async def test_the_first_burst_meets_no_noscript(redis: aioredis.Redis, intakes: Intakes) -> None:
    """The intake's script is loaded at start: the first acks do not each fail and load it."""
    intake = await intakes(Recorder())
    await asyncio.gather(*(intake.submit("unfurl", {"n": n}, once=f"event:EvFirst{n}") for n in range(20)))
    errors = await redis.info("errorstats")
    assert "errorstat_NOSCRIPT" not in errors
    assert await _commands(redis, "evalsha") == 20


async def test_no_key_is_kept_for_an_entry_that_failed(redis: aioredis.Redis, intakes: Intakes) -> None:
    """A key with no entry would drop the event's retries for good: the script writes the key only
    after the entry, and the job the stream refused runs inline."""
    recorder = Recorder()
    intake = await intakes(recorder)
    await redis.delete(FAST.stream)
    await redis.set(FAST.stream, "not a stream")  # XADD fails inside the script
    assert await intake.submit("unfurl", {"n": 1}, once="event:Ev9") is True
    assert await redis.exists(f"{FAST.stream}:once:event:Ev9") == 0
    await asyncio.wait_for(recorder.done.wait(), 5)
    assert [j.payload for j in recorder.jobs] == [{"n": 1}]


async def test_repeats_are_dropped_inline_too_while_redis_is_down(
    intakes: Intakes, unreachable: aioredis.Redis
) -> None:
    recorder = Recorder()
    intake = await intakes(recorder, client=unreachable)
    assert await intake.submit("unfurl", {"n": 1}, once="event:Ev3") is True
    assert await intake.submit("unfurl", {"n": 1}, once="event:Ev3") is False
    await asyncio.wait_for(recorder.done.wait(), 5)
    await asyncio.sleep(0.1)
    assert [j.payload for j in recorder.jobs] == [{"n": 1}]


# ---- failures ------------------------------------------------------------------------------------


async def test_a_job_failing_every_try_is_dead_lettered(redis: aioredis.Redis, intakes: Intakes) -> None:
    async def fail(job: Delivery) -> None:
        raise RuntimeError("poison")

    recorder = Recorder(fail)
    intake = await intakes(recorder)
    await intake.submit("command", {"incident_id": "1", "response_url": "http://127.0.0.1:9/r"})
    await wait_until(lambda: len(recorder.dead) == 1)
    await wait_until(lambda: _nothing_pending(redis))

    assert [j.attempt for j in recorder.jobs] == [1, 2, 3]
    (dead_job,) = recorder.dead
    assert (dead_job.kind, dead_job.attempt) == ("command", 3)
    jobs: Any = await redis.xrange(FAST.stream)
    dead: Any = await redis.xrange(FAST.dead_stream)
    ((entry_id, _),) = jobs
    ((_, raw),) = dead
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    assert fields["kind"] == "command"
    assert json.loads(fields["payload"]) == {"incident_id": "1", "response_url": "http://127.0.0.1:9/r"}
    assert fields["entry"] == entry_id.decode()
    assert fields["attempts"] == "3"
    assert fields["consumer"] == intake.consumer
    assert recorder.outcomes == [("command", "retried"), ("command", "retried"), ("command", "dead")]


async def test_a_job_that_fails_then_succeeds_is_not_dead_lettered(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    async def flaky(job: Delivery) -> None:
        if job.attempt < 2:
            raise RuntimeError("once")

    recorder = Recorder(flaky)
    intake = await intakes(recorder)
    await intake.submit("unfurl", {"event_id": "Ev2"})
    await wait_until(lambda: ("unfurl", "done") in recorder.outcomes)
    await intake.drain()
    assert recorder.outcomes == [("unfurl", "retried"), ("unfurl", "done")]
    assert recorder.dead == [] and await redis.xlen(FAST.dead_stream) == 0


async def test_an_entry_that_cannot_be_decoded_is_dead_lettered_and_reading_goes_on(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    await redis.xgroup_create(FAST.stream, FAST.group, id="0", mkstream=True)
    recorder = Recorder()
    intake = await intakes(recorder)
    await add_raw(redis, "command", "{not json")
    await asyncio.sleep(0.3)  # read (and choked on) alone
    await intake.submit("command", {"incident_id": "2"})
    await asyncio.wait_for(recorder.done.wait(), 3)
    assert [j.payload for j in recorder.jobs] == [{"incident_id": "2"}]
    await wait_until(lambda: _dead_count(redis, 1))


# ---- Redis unreachable ---------------------------------------------------------------------------


async def test_redis_unreachable_at_intake_runs_the_job_inline(
    intakes: Intakes, unreachable: aioredis.Redis
) -> None:
    recorder = Recorder()
    intake = await intakes(recorder, client=unreachable)
    assert intake.mode == "redis stream"  # nothing submitted yet
    started = time.monotonic()
    await intake.submit("command", {"incident_id": "3"})
    assert time.monotonic() - started < 1.0  # the ack is not held up
    await asyncio.wait_for(recorder.done.wait(), 5)
    assert [j.payload for j in recorder.jobs] == [{"incident_id": "3"}]
    assert intake.mode == "redis: unreachable, working inline"


async def test_intake_is_durable_again_once_redis_answers(intakes: Intakes, tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    await server.start()
    client = build_redis(server.url())
    assert client is not None
    intake: RedisStreamIntake | None = None
    try:
        recorder = Recorder()
        intake = await intakes(recorder, client=client)
        await server.stop()
        await intake.submit("k", {"n": 1})
        assert intake.mode == "redis: unreachable, working inline"
        await server.start()
        await intake.submit("k", {"n": 2})
        assert intake.mode == "redis stream"
        await wait_until(lambda: len(recorder.jobs) == 2, within=10)  # the read loop found the new group
        assert sorted(j.payload["n"] for j in recorder.jobs) == [1, 2]
        assert await client.xlen(FAST.stream) == 1  # only the second went through Redis
    finally:
        # Stopped before its client closes: a read loop still running would take a new connection
        # from the closed client's pool, and leave it for the garbage collector.
        if intake is not None:
            await intake.stop(0.5)
        await client.aclose()
        await server.stop()


async def test_jobs_worked_inline_are_counted(intakes: Intakes) -> None:
    async def fail_if_asked(job: Delivery) -> None:
        if job.payload.get("fail"):
            raise RuntimeError("poison")

    closed = build_redis(f"redis://127.0.0.1:{free_port()}/0")
    assert closed is not None
    try:
        recorder = Recorder(fail_if_asked)
        intake = await intakes(recorder, client=closed)
        await intake.submit("command", {"incident_id": "4"})
        await intake.submit("command", {"incident_id": "5", "fail": True})
        await wait_until(lambda: len(recorder.dead) == 1)
        assert sorted(recorder.outcomes) == [
            ("command", "dead"),
            ("command", "done"),
            ("command", "retried"),
            ("command", "retried"),
        ]
    finally:
        await closed.aclose()


# ---- stopping ------------------------------------------------------------------------------------


async def test_stop_finishes_what_it_can_and_leaves_the_rest_pending_for_another(
    redis: aioredis.Redis, intakes: Intakes
) -> None:
    release = asyncio.Event()

    async def quick_or_stuck(job: Delivery) -> None:
        if job.payload["stuck"] and job.attempt == 1:
            await release.wait()  # never set: this one is still running at stop
        else:
            await asyncio.sleep(0.1)

    first = Recorder(quick_or_stuck)
    intake = await intakes(first)
    await intake.submit("unfurl", {"stuck": False, "n": 1})
    await intake.submit("unfurl", {"stuck": True, "n": 2})
    await wait_until(lambda: len(first.jobs) == 2)
    await intake.stop(0.5)

    (left,) = await pending(redis)  # the quick one was finished and acked within the deadline
    assert left["consumer"].decode() == intake.consumer
    assert first.outcomes == [("unfurl", "done")]

    second = Recorder(quick_or_stuck)
    await intakes(second)
    await asyncio.wait_for(second.done.wait(), 5)
    (job,) = second.jobs
    assert (job.payload["n"], job.attempt) == (2, 2)
    await wait_until(lambda: _nothing_pending(redis))


async def _nothing_pending(redis: aioredis.Redis) -> bool:
    return not await pending(redis)


async def _dead_count(redis: aioredis.Redis, count: int) -> bool:
    return bool(await redis.xlen(FAST.dead_stream) == count)


async def _xclaim_calls(redis: aioredis.Redis) -> int:
    return await _commands(redis, "xclaim")


async def _commands(redis: aioredis.Redis, name: str) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


async def wait_until(check: Callable[[], Any], within: float = 5.0) -> None:
    await _wait_until(check, within=within, every=0.01)
