"""Work accepted from Slack and done after the ack.

A listener submits a job and only then acks Slack, so what Slack was told "received" is
already queued. The in-process queue here serves one process (memory mode); the Redis stream
intake (`intake_redis`) runs the same handlers across replicas and survives a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiocache import SimpleMemoryCache

from bot.logs import correlation_id
from bot.state.once import Once

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One stored piece of work as the intake hands it out: its kind, its payload (a job's JSON
    object, see bot.jobs), the entry id and which attempt this is."""

    kind: str
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempt: int = 1


DeliveryHandler = Callable[[Delivery], Awaitable[None]]


class GiveUp(Exception):
    """Raised by a handler for work no retry can help (e.g. a stored job no release can read):
    the delivery goes to the dead letters at once."""


class AckFirst:
    """Slack's acks before queued work: workers hold back while requests are being answered.

    One event loop serves both; in a burst, a job started between two acks delays the next one.
    A worker waits (at most `max_wait`) until no request is in flight before it starts a job.
    """

    def __init__(self, max_wait: float = 0.05) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._max_wait = max_wait

    def request_started(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def request_done(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def wait_for_quiet(self) -> None:
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self._max_wait)


ONCE_SECONDS = 3600  # Slack retries an event three times within minutes


class Intake(Protocol):
    """Where listeners put work before they ack Slack."""

    @property
    def mode(self) -> str:
        """How work is taken in now, for /readyz."""

    async def submit(self, kind: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        """Queue a job; with `once`, only if no job with that key was queued in the last hour.

        False when it was a repeat (e.g. a Slack retry of an event already queued).
        """

    async def backlog(self) -> dict[str, float]:
        """Jobs waiting to be worked (`queued`), being worked (`working`), given up on (`dead`),
        for /metrics."""

    async def start(self) -> None: ...

    async def drain(self) -> None: ...

    async def stop(self, deadline: float) -> None: ...


async def run_job(job: Delivery, handle: DeliveryHandler) -> None:
    """Run one job with its correlation id set, so its log lines can be tied together."""
    token = correlation_id.set(job.id)
    try:
        await handle(job)
    finally:
        correlation_id.reset(token)


class MemoryIntake:
    """An in-process queue worked by a pool of tasks, retrying a failed job, then dead-lettering it."""

    mode = "memory"

    def __init__(
        self,
        handle: DeliveryHandler,
        *,
        on_dead: DeliveryHandler,
        concurrency: int = 32,
        max_attempts: int = 5,
        retry_delay: float = 0.5,
        on_outcome: Callable[[str, str], None] | None = None,
        ack_first: AckFirst | None = None,
    ) -> None:
        self._handle = handle
        # The keys of jobs queued here; memory, as the queue itself is.
        self._queued = Once(SimpleMemoryCache(timeout=0))
        self._on_outcome = on_outcome or (lambda kind, outcome: None)
        self._ack_first = ack_first or AckFirst()
        self._on_dead = on_dead
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._workers: list[asyncio.Task[None]] = []
        self.dead: list[Delivery] = []
        self._working = 0

    async def backlog(self) -> dict[str, float]:
        return {"queued": self._queue.qsize(), "working": self._working, "dead": len(self.dead)}

    async def submit(self, kind: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        if once is not None and not await self._queued.first_within(once, ONCE_SECONDS):
            return False
        self._queue.put_nowait(Delivery(kind, payload))
        return True

    async def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            await self._ack_first.wait_for_quiet()
            self._working += 1
            try:
                await run_job(job, self._handle)
                self._on_outcome(job.kind, "done")
            except GiveUp:
                await self._failed(replace(job, attempt=self._max_attempts))
            except Exception:
                await self._failed(job)
            finally:
                self._working -= 1
                self._queue.task_done()

    async def _failed(self, job: Delivery) -> None:
        if job.attempt < self._max_attempts:
            logger.warning(
                "job %s (%s) failed, attempt %d; retrying", job.id, job.kind, job.attempt, exc_info=True
            )
            self._on_outcome(job.kind, "retried")
            await asyncio.sleep(self._retry_delay * job.attempt)
            self._queue.put_nowait(replace(job, attempt=job.attempt + 1))
            return
        logger.error("job %s (%s) failed %d times; giving up", job.id, job.kind, job.attempt, exc_info=True)
        self.dead.append(job)
        self._on_outcome(job.kind, "dead")
        with contextlib.suppress(Exception):
            await run_job(job, self._on_dead)

    async def drain(self) -> None:
        """Wait until every submitted job has finished (tests and benchmarks)."""
        await self._queue.join()

    async def stop(self, deadline: float) -> None:
        """Finish queued and running jobs within `deadline` seconds, then stop the workers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), deadline)
        if self._queue.qsize():
            logger.warning(
                "stopping with %d jobs not done (memory intake cannot keep them)", self._queue.qsize()
            )
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
