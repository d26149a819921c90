"""The fetches in flight in one process: callers of the same incident share one, and hear when it waits.

A fetch that meets a 429 with nothing cached waits the pause out; `Waiting` lets every caller of
that fetch learn, before the wait, how long it will be (so the person can be told why).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.models import IncidentSnapshot

OnWait = Callable[[float], Awaitable[None]]


class Waiting:
    """How a fetch tells its callers it waits for the API: `began` completes at the first wait."""

    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() when the current wait ends
        self.began: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        if not self.began.done():
            self.began.set_result(None)

    def left(self) -> float:
        return max(0.0, self.until - time.monotonic())


@dataclass(frozen=True, eq=False)
class Flight:
    """One fetch of one incident in this process, and how its callers hear that it waits."""

    task: asyncio.Task[IncidentSnapshot]
    waiting: Waiting
    background: bool


async def join_flight(flight: Flight, on_wait: OnWait | None) -> IncidentSnapshot:
    """Wait for a fetch's answer; `on_wait` hears first if it has to wait for the API."""
    if on_wait is not None and not flight.task.done():
        either: set[asyncio.Future[Any]] = {flight.task, flight.waiting.began}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not flight.task.done():
            await on_wait(flight.waiting.left())
    # shield: one caller giving up must not cancel the fetch the others wait on
    return await asyncio.shield(flight.task)
