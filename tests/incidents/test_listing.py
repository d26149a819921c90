"""Listings for `/incident list` and App Home, over the demo source and the real aiocache memory
cache: one list call per filter while the cached copy is fresh, decoded once while it stays the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from bot.graph.demo import DemoIncidentApi
from bot.incidents.listing import IncidentLists
from bot.models import Incident
from bot.state.cache import build_cache


class CountingApi(DemoIncidentApi):
    def __init__(self) -> None:
        super().__init__()
        self.lists = 0

    async def list_incidents(self, *, filter: str | None = None, top: int = 50) -> AsyncIterator[Incident]:
        self.lists += 1
        async for incident in super().list_incidents(filter=filter, top=top):
            yield incident


async def test_a_fresh_listing_is_read_once_and_decoded_once() -> None:
    api, cache = CountingApi(), build_cache("memory://")
    lists = IncidentLists(api, cache, ttl=30)
    first = await lists.listing("status eq 'active'")
    again = await lists.listing("status eq 'active'")
    assert api.lists == 1 and again is first and first.incidents
    # Another replica's copy (new text in the shared cache) is decoded, once.
    text = await cache.get(IncidentLists.key("status eq 'active'"))
    other = text.replace(first.read_at.isoformat(), datetime(2026, 12, 3, 9, 0).isoformat())
    await cache.set(IncidentLists.key("status eq 'active'"), other, ttl=30)
    theirs = await lists.listing("status eq 'active'")
    assert theirs is not first and theirs.incidents == first.incidents
    assert await lists.listing("status eq 'active'") is theirs and api.lists == 1
    # A filter of its own is a listing of its own.
    await lists.listing(None)
    assert api.lists == 2
