"""Durable intake on a Redis stream: nothing Slack was told "received" is lost with a replica.

Listeners XADD a job and only then ack Slack. Every replica reads the stream through one
consumer group (XREADGROUP), works a job, and XACKs it when done. While a job runs its replica
keeps claiming it (XCLAIM, which resets its idle time), so an entry idle for longer than
`claim_idle` belongs to a replica that died: the janitor of any survivor takes it over
(XAUTOCLAIM). A job that fails `max_attempts` times goes to a dead-letter stream and the
person is told. Redis unreachable at intake: the job runs in this process (the in-memory
intake), and /readyz says so.

The stream is as durable as the Redis behind it: run Redis with AOF persistence in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bot.state.intake import (
    ONCE_SECONDS,
    AckFirst,
    Delivery,
    DeliveryHandler,
    GiveUp,
    MemoryIntake,
    run_job,
)
from bot.state.shared_cache import REDIS_DOWN

logger = logging.getLogger(__name__)
# Cancelled read, janitor and heartbeat loops end at once; this bounds the wait for one stuck in Redis.
LOOPS_STOP_SECONDS = 5.0


# KEYS: the stream, the once key. ARGV: seconds the key lives, MAXLEN, kind, payload.
# XADD before SET: Redis does not undo a script's writes on an error, and a key without its
# entry would drop the event for good.
_ADD_ONCE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'kind', ARGV[3], 'payload', ARGV[4])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return entry
"""


@dataclass(frozen=True)
class StreamSettings:
    stream: str = "incident-bot:jobs"
    dead_stream: str = "incident-bot:jobs:dead"
    group: str = "incident-bot"
    maxlen: int = 100_000
    concurrency: int = 32
    claim_idle: float = 8.0  # seconds without a heartbeat before a job is taken over
    heartbeat: float = 2.0
    janitor_every: float = 2.0
    max_attempts: int = 5
    retry_delay: float = 0.5


class RedisStreamIntake:
    """Jobs in a Redis stream, worked by every replica's consumer in one group."""

    def __init__(
        self,
        redis: aioredis.Redis,
        handle: DeliveryHandler,
        *,
        on_dead: DeliveryHandler,
        settings: StreamSettings = StreamSettings(),
        on_outcome: Callable[[str, str], None] | None = None,
        ack_first: AckFirst | None = None,
    ) -> None:
        self._redis = redis
        self._add_once = redis.register_script(_ADD_ONCE)
        self._ack_first = ack_first or AckFirst()
        self._handle = handle
        self._on_dead = on_dead
        self._settings = settings
        self._on_outcome = on_outcome or (lambda kind, outcome: None)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._inline = MemoryIntake(
            handle,
            ack_first=self._ack_first,
            on_dead=on_dead,
            concurrency=settings.concurrency,
            max_attempts=settings.max_attempts,
            retry_delay=settings.retry_delay,
            on_outcome=self._on_outcome,
        )
        self._active: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._room = asyncio.Event()  # set when a job ends: the read loop may take more
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._redis_down = False

    @property
    def mode(self) -> str:
        return "redis: unreachable, working inline" if self._redis_down else "redis stream"

    async def backlog(self) -> dict[str, float]:
        """From the stream, for every replica at once: entries not yet read by the group (`queued`,
        Redis 7's group lag), read but not acknowledged (`working`), and the dead-letter stream's
        length (`dead`). A value Redis does not give is left out."""
        found: dict[str, float] = {}
        for group in await self._redis.xinfo_groups(self._settings.stream):
            name = group.get("name")
            if name in (self._settings.group, self._settings.group.encode()):
                found["working"] = float(group.get("pending") or 0)
                if group.get("lag") is not None:
                    found["queued"] = float(group["lag"])
        found["dead"] = float(await self._redis.xlen(self._settings.dead_stream))
        return found

    async def submit(self, kind: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        """XADD the job (before Slack is acked); if Redis is down, run it in this process.

        With `once`, the key and the entry are written together by one script, so a repeat
        (a Slack retry, on whichever replica) is never queued and costs no job.
        """
        body = json.dumps(payload, separators=(",", ":"))
        try:
            if once is None:
                fields: dict[Any, Any] = {"kind": kind, "payload": body}
                await self._redis.xadd(
                    self._settings.stream, fields, maxlen=self._settings.maxlen, approximate=True
                )
                queued = True
            else:
                keys = [self._settings.stream, f"{self._settings.stream}:once:{once}"]
                args: list[str | int] = [ONCE_SECONDS, self._settings.maxlen, kind, body]
                queued = bool(await self._add_once(keys=keys, args=args))
        except REDIS_DOWN as error:
            if not self._redis_down:
                logger.warning(
                    "Redis unreachable at intake (%s): working inline, not durable", type(error).__name__
                )
            self._redis_down = True
            return await self._inline.submit(kind, payload, once=once)
        if self._redis_down:
            logger.warning("Redis answers again: intake is durable again")
            self._redis_down = False
        return queued

    async def start(self) -> None:
        await self._inline.start()
        with contextlib.suppress(*REDIS_DOWN):
            await self._ensure_group()
            # Loaded now, or every ack of the first burst meets NOSCRIPT and loads it again.
            await self._redis.script_load(_ADD_ONCE)
        self._loops = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._janitor_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(
                self._settings.stream, self._settings.group, id="0", mkstream=True
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _read_loop(self) -> None:
        # Reads whole batches: up to `concurrency` jobs wait for a slot beside the running ones
        # (heartbeated like them), so a replica takes at most twice its concurrency at once and
        # a busy stream costs one XREADGROUP per batch rather than one per finished job.
        most = 2 * self._settings.concurrency
        while not self._stopping:
            while len(self._active) > self._settings.concurrency:
                self._room.clear()
                await self._room.wait()
            try:
                answer: Any = await self._redis.xreadgroup(
                    self._settings.group,
                    self.consumer,
                    {self._settings.stream: ">"},
                    count=most - len(self._active),
                    block=1000,
                )
            except ResponseError as error:
                if "NOGROUP" in str(error) or "UNBLOCKED" in str(error):
                    # the stream was deleted under us (e.g. FLUSHDB): recreate it and go on
                    await self._recreate_group()
                else:
                    logger.exception("reading the job stream failed; retrying")
                    await asyncio.sleep(1.0)
                continue
            except REDIS_DOWN:
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    self._start(_decode(entry_id), fields, attempt=1)

    async def _recreate_group(self) -> None:
        with contextlib.suppress(*REDIS_DOWN):
            await self._ensure_group()

    async def _janitor_loop(self) -> None:
        """Take over jobs whose replica stopped heartbeating (it died or lost Redis)."""
        idle_ms = int(self._settings.claim_idle * 1000)
        while not self._stopping:
            await asyncio.sleep(self._settings.janitor_every)
            try:
                claimed: Any = await self._redis.xautoclaim(
                    self._settings.stream,
                    self._settings.group,
                    self.consumer,
                    min_idle_time=idle_ms,
                    start_id="0-0",
                    count=self._settings.concurrency,
                )
                for entry_id, fields in claimed[1]:
                    entry = _decode(entry_id)
                    if fields is None or entry in self._active:
                        continue
                    attempt = await self._deliveries(entry)
                    logger.warning(
                        "taking over job %s (delivery %d) from a replica that stopped", entry, attempt
                    )
                    self._start(entry, fields, attempt=attempt)
            except REDIS_DOWN:
                continue
            except ResponseError as error:
                if "NOGROUP" in str(error):
                    await self._recreate_group()
                else:
                    logger.exception("taking over abandoned jobs failed; retrying")

    async def _deliveries(self, entry_id: str) -> int:
        pending = await self._redis.xpending_range(
            self._settings.stream, self._settings.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    def _start(self, entry_id: str, fields: dict[Any, Any], *, attempt: int) -> None:
        kind = _decode(fields.get(b"kind") or fields.get("kind") or b"")
        raw = _decode(fields.get(b"payload") or fields.get("payload") or b"{}")
        try:
            payload = json.loads(raw)
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except ValueError:
            # Not one of ours (or damaged): straight to the dead letters, never a dead read loop.
            job = Delivery(
                kind, {"undecodable": raw[:1000]}, id=entry_id, attempt=self._settings.max_attempts
            )
            work = self._dead(job)
        else:
            work = self._work(Delivery(kind, payload, id=entry_id, attempt=attempt))
        task = asyncio.create_task(work)
        self._active[entry_id] = task
        task.add_done_callback(lambda _: self._finished(entry_id))

    def _finished(self, entry_id: str) -> None:
        self._active.pop(entry_id, None)
        self._room.set()

    async def _work(self, job: Delivery) -> None:
        async with self._slots:
            await self._ack_first.wait_for_quiet()
            await self._attempts(job)

    async def _attempts(self, job: Delivery) -> None:
        while True:
            try:
                await run_job(job, self._handle)
            except Exception as error:
                if isinstance(error, GiveUp) or job.attempt >= self._settings.max_attempts:
                    await self._dead(job)
                    return
                logger.warning(
                    "job %s (%s) failed, attempt %d; retrying", job.id, job.kind, job.attempt, exc_info=True
                )
                self._on_outcome(job.kind, "retried")
                await asyncio.sleep(self._settings.retry_delay * job.attempt)
                job = Delivery(job.kind, job.payload, id=job.id, attempt=job.attempt + 1)
                continue
            await self._ack(job)
            self._on_outcome(job.kind, "done")
            return

    async def _dead(self, job: Delivery) -> None:
        logger.error(
            "job %s (%s) failed %d times: dead-lettered", job.id, job.kind, job.attempt, exc_info=True
        )
        self._on_outcome(job.kind, "dead")
        fields: dict[Any, Any] = {
            "kind": job.kind,
            "payload": json.dumps(job.payload),
            "entry": job.id,
            "attempts": str(job.attempt),
            "consumer": self.consumer,
        }
        try:
            await run_job(job, self._on_dead)
        except Exception:
            logger.exception("could not tell the user that job %s failed", job.id)
        # One transaction, so no replica ever sees the entry both dead-lettered and still pending
        # (it would claim it and dead-letter it a second time).
        for _ in range(3):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xadd(
                        self._settings.dead_stream, fields, maxlen=self._settings.maxlen, approximate=True
                    )
                    pipe.xack(self._settings.stream, self._settings.group, job.id)
                    await pipe.execute()
                return
            except REDIS_DOWN:
                await asyncio.sleep(0.5)
        logger.warning("could not dead-letter job %s: it may be dead-lettered again", job.id)

    async def _ack(self, job: Delivery) -> None:
        for _ in range(3):
            try:
                await self._redis.xack(self._settings.stream, self._settings.group, job.id)
                return
            except REDIS_DOWN:
                await asyncio.sleep(0.5)
        logger.warning(
            "could not XACK job %s: it may run again, harmlessly (its effects happen once)", job.id
        )

    async def _heartbeat_loop(self) -> None:
        """Keep claiming every job this replica holds, running or waiting for a slot, so their idle
        time stays below `claim_idle`: one XCLAIM for all of them. A job acknowledged meanwhile
        has left the pending list, and XCLAIM leaves it alone."""
        while True:
            await asyncio.sleep(self._settings.heartbeat)
            held: list[Any] = list(self._active)
            if not held:
                continue
            with contextlib.suppress(*REDIS_DOWN):
                await self._redis.xclaim(
                    self._settings.stream,
                    self._settings.group,
                    self.consumer,
                    min_idle_time=0,
                    message_ids=held,
                    justid=True,
                )

    async def drain(self) -> None:
        """Wait until the stream has nothing unread or unfinished, by any replica (tests, benchmarks)."""
        while True:
            groups: Any = await self._redis.xinfo_groups(self._settings.stream)
            group = next((g for g in groups if _decode(g["name"]) == self._settings.group), None)
            idle = group is None or (int(group["pending"]) == 0 and int(group.get("lag") or 0) == 0)
            if idle and not self._active:
                break
            await asyncio.sleep(0.02)
        await self._inline.drain()

    async def stop(self, deadline: float) -> None:
        """Stop reading; finish running jobs within `deadline`; leave the rest pending for others."""
        self._stopping = True
        *taking, heartbeat = self._loops
        await _cancelled(taking, deadline)
        running = list(self._active.values())
        if running:
            # The heartbeat goes on meanwhile: another replica must not take these over yet.
            _done, unfinished = await asyncio.wait(running, timeout=deadline)
            for task in unfinished:
                task.cancel()  # not XACKed: another replica's janitor finishes it
            if unfinished:
                logger.warning("stopping with %d jobs unfinished: left pending in Redis", len(unfinished))
        await _cancelled([heartbeat], deadline)
        await self._inline.stop(deadline)


async def _cancelled(loops: list[asyncio.Task[None]], deadline: float) -> None:
    """Cancel and wait for them, no longer than `deadline` (1 to LOOPS_STOP_SECONDS): a loop stuck in
    a Redis call that does not give way to cancellation (a test run hung here for minutes) must not
    hold the stop."""
    for loop in loops:
        loop.cancel()
    if not loops:
        return
    _done, stuck = await asyncio.wait(loops, timeout=min(max(deadline, 1.0), LOOPS_STOP_SECONDS))
    if stuck:
        logger.warning("stopping with %d intake loops still in a Redis call: left to end", len(stuck))


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
