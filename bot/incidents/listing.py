"""Lists of incidents for people (`/incident list`, App Home): read once, shared for a short while.

A list is a list call out of Defender's list budget (50 a minute, 1,500 an hour, shared with the
live-card watcher), so each distinct `$filter` is read at most once per `ttl` (the shared cache:
memory, or Redis for every replica) and once at a time in this process (single-flight): two hundred
people opening App Home at once make one listing. What Graph's `$filter` cannot say (tags, sources,
classification…) the caller checks on the incidents (`IncidentFilter.matches`). The answer says when
it was read, which the page shows.

A listing is bounded (`MAX_INCIDENTS`, newest pages first as the API gives them): a person's page
is for triage, not an export. The cached text is decoded once per process while it stays the same:
two hundred homes at once read one listing, and validating 200 incidents two hundred times over was
most of their time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from bot.graph.api import IncidentApi
from bot.models import Incident
from bot.state.shared_cache import REDIS_DOWN, Cache, cached_text
from bot.state.singleflight import SingleFlight

logger = logging.getLogger(__name__)

LIST_TTL = 30.0
MAX_INCIDENTS = 500
DECODED_KEEP = 64  # listings kept decoded, by key
_INCIDENTS: TypeAdapter[list[Incident]] = TypeAdapter(list[Incident])


@dataclass(frozen=True)
class Listing:
    """The incidents of one listing, and when Defender was read for them."""

    incidents: tuple[Incident, ...]
    read_at: datetime


class IncidentLists:
    """Listings by Graph `$filter`, cached for `ttl` seconds and read once at a time."""

    def __init__(self, api: IncidentApi, cache: Cache, *, ttl: float = LIST_TTL) -> None:
        self._api = api
        self._cache = cache
        self._ttl = ttl
        self._flights: SingleFlight[str, Listing] = SingleFlight()
        self._decoded: dict[str, tuple[str, Listing]] = {}  # key → (cached text, its listing)
        self.list_reads = 0  # listings read from the API by this process

    @staticmethod
    def key(graph_filter: str | None) -> str:
        return f"listing:{graph_filter or ''}"

    async def listing(self, graph_filter: str | None) -> Listing:
        """The incidents `graph_filter` selects (None: every incident), from the cache while fresh.
        Throttled and the other API errors are raised as they come: the caller says so."""
        key = self.key(graph_filter)
        cached = await self._cached(key)
        if cached is not None:
            return cached
        return await self._flights.run(key, lambda: self._read(key, graph_filter))

    async def _read(self, key: str, graph_filter: str | None) -> Listing:
        cached = await self._cached(key)  # another caller of this flight's key may have filled it
        if cached is not None:
            return cached
        self.list_reads += 1
        found: list[Incident] = []
        async for incident in self._api.list_incidents(filter=graph_filter):
            found.append(incident)
            if len(found) >= MAX_INCIDENTS:
                break
        listing = Listing(tuple(found), datetime.now(UTC))
        incidents = _INCIDENTS.dump_python(found, mode="json", by_alias=True)
        text = json.dumps({"read_at": listing.read_at.isoformat(), "incidents": incidents})
        try:
            await self._cache.set(key, text, ttl=self._ttl)
        except REDIS_DOWN as error:
            logger.info("a listing could not be cached (%s)", type(error).__name__)
        self._remember(key, text, listing)
        return listing

    def _remember(self, key: str, text: str, listing: Listing) -> None:
        self._decoded.pop(key, None)
        self._decoded[key] = (text, listing)
        while len(self._decoded) > DECODED_KEEP:
            self._decoded.pop(next(iter(self._decoded)))

    async def _cached(self, key: str) -> Listing | None:
        value = await cached_text(self._cache, key, what="listing")
        if value is None:
            return None
        decoded = self._decoded.get(key)
        if decoded is not None and decoded[0] == value:
            return decoded[1]
        try:
            data = json.loads(value)
            incidents = _INCIDENTS.validate_python(data["incidents"])
            read_at = datetime.fromisoformat(data["read_at"])
        except (ValueError, KeyError, TypeError, ValidationError):
            return None  # another release's shape, or not ours: read again
        listing = Listing(tuple(incidents), read_at)
        self._remember(key, value, listing)
        return listing
