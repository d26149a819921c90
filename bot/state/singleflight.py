"""Join concurrent asks for the same key into one call: the first caller runs it, the rest await it.

The incident service has its own flights (with stale copies and redirects); this is the plain
version for lookups such as Slack profiles, where two clicks at once must not both call Slack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """At most one running `fetch` per key in this process."""

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        """`fetch()`'s answer, shared with every caller that asks for `key` while it runs."""
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(fetch())
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        # shield: one caller giving up must not cancel the call the others wait on
        return await asyncio.shield(flight)

    def __len__(self) -> int:
        return len(self._flights)
