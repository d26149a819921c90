"""The incident service: cache-aside reads with single-flight, redirects, stale serving, and writes.

Listeners ask this module for incidents; it asks the API (through `IncidentApi`) only when the
cache has no fresh copy, and never twice at once for the same id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cache import SnapshotStore
from bot.errors import AuthError, BotError, SavedButNotReread, Throttled, Unavailable
from bot.flight import FlightLock, LocalFlightLock
from bot.graph.api import IncidentApi
from bot.models import Incident, IncidentSnapshot, validate_incident_id

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
# Past this share of the TTL a cached read also starts a background refresh.
REVALIDATE_AT = 0.8
OTHER_REPLICA_POLL = 0.025
# Replicas' clocks differ a little: a copy fetched this long before our ask still counts as "after".
SKEW = timedelta(seconds=1)
OTHER_REPLICA_WAIT = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IncidentService:
    """Get and change incidents; reads are cached for `ttl` seconds and shared between callers."""

    def __init__(
        self,
        api: IncidentApi,
        store: SnapshotStore,
        *,
        ttl: float,
        now: Callable[[], datetime] = _utcnow,
        lock: FlightLock | None = None,
        on_cache: Callable[[str], None] | None = None,
    ) -> None:
        self._api = api
        self._store = store
        self._ttl = ttl
        self._now = now
        self._lock = lock or LocalFlightLock()
        self._flights: dict[str, asyncio.Task[IncidentSnapshot]] = {}
        self._refreshing: set[asyncio.Task[IncidentSnapshot]] = set()
        self._on_cache = on_cache
        self.stats = {"hit": 0, "miss": 0, "stale": 0, "refresh": 0}

    def _count(self, result: str) -> None:
        self.stats[result] += 1
        if self._on_cache is not None:
            self._on_cache(result)

    async def get(self, incident_id: str, *, fresh: bool = False) -> IncidentSnapshot:
        """The incident, following merges (up to 3 hops, loop-safe); `fresh` skips the cache."""
        current = validate_incident_id(incident_id)
        followed: list[str] = []
        while True:
            snapshot = await self._get_one(current, fresh=fresh)
            target = snapshot.incident.redirect_incident_id if snapshot.incident.is_redirected else None
            if target is None:
                break
            if target in followed or target == current or len(followed) >= MAX_REDIRECTS:
                logger.warning(
                    "incident %s: redirect chain %s stops at a loop or the hop limit",
                    incident_id,
                    [*followed, current, target],
                )
                break
            followed.append(current)
            current = validate_incident_id(target)
        return snapshot.model_copy(update={"merged_from": tuple(followed)}) if followed else snapshot

    async def _get_one(self, incident_id: str, *, fresh: bool) -> IncidentSnapshot:
        flight = self._flights.get(incident_id)
        if flight is not None and flight not in self._refreshing:
            # Already being fetched in this process: join it without a cache read.
            self._count("miss")
            return await asyncio.shield(flight)
        cached = None if fresh else await self._store.get(incident_id, near=True)
        if cached is not None:
            age = cached.age_seconds(self._now())
            if age < self._ttl:
                self._count("hit")
                if age >= self._ttl * REVALIDATE_AT:
                    # Near expiry: answer now, refresh in the background (stale-while-revalidate).
                    self._start_flight(incident_id, cached, background=True)
                return cached
        self._count("miss")
        # shield: one caller giving up must not cancel the fetch the others wait on
        return await asyncio.shield(self._start_flight(incident_id, cached, fresh=fresh))

    def _start_flight(
        self,
        incident_id: str,
        cached: IncidentSnapshot | None,
        *,
        background: bool = False,
        fresh: bool = False,
    ) -> asyncio.Task[IncidentSnapshot]:
        flight = self._flights.get(incident_id)
        if flight is None:
            flight = asyncio.create_task(self._fetch(incident_id, cached, fresh=fresh))
            self._flights[incident_id] = flight
            flight.add_done_callback(lambda _: self._flights.pop(incident_id, None))
            if background:
                self._count("refresh")
                self._refreshing.add(flight)
                flight.add_done_callback(self._background_done)
        return flight

    def _background_done(self, task: asyncio.Task[IncidentSnapshot]) -> None:
        self._refreshing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.info("background refresh failed: %s", type(task.exception()).__name__)

    async def _fetch(
        self, incident_id: str, cached: IncidentSnapshot | None, *, fresh: bool = False
    ) -> IncidentSnapshot:
        started = self._now()
        token = await self._lock.acquire(incident_id)
        if token is None:
            # Another replica is fetching it: its answer will land in the shared cache.
            shared = await self._await_other_replica(incident_id, started)
            if shared is not None:
                return shared
            token = await self._lock.acquire(incident_id) or "unlocked"
        try:
            # Another replica may have stored its copy between our cache read and our lock.
            latest = None if fresh else await self._store.get(incident_id)
            if latest is not None and latest != cached and latest.fetched_at >= started - SKEW:
                return latest
            return await self._fetch_from_api(incident_id, cached or latest)
        finally:
            # Released only after the copy is stored, so no waiter finds the lock gone and no copy.
            await self._lock.release(incident_id, token)

    async def _fetch_from_api(self, incident_id: str, fallback: IncidentSnapshot | None) -> IncidentSnapshot:
        try:
            incident = await self._api.get_incident(incident_id)
        except (Throttled, Unavailable, AuthError) as error:
            if isinstance(error, AuthError) and error.code:
                raise  # Entra refused the app (wrong secret…): not an outage to ride out
            if fallback is None:
                raise
            self._count("stale")
            logger.info("incident %s: serving cached copy, API said %s", incident_id, type(error).__name__)
            return fallback.model_copy(update={"stale": True})
        snapshot = IncidentSnapshot(incident=incident, fetched_at=self._now())
        await self._store.put(snapshot)
        return snapshot

    async def _await_other_replica(self, incident_id: str, since: datetime) -> IncidentSnapshot | None:
        """Poll the shared cache until the lock holder's answer is there, or its lock is gone."""
        for _ in range(int(OTHER_REPLICA_WAIT / OTHER_REPLICA_POLL)):
            await asyncio.sleep(OTHER_REPLICA_POLL)
            snapshot = await self._store.get(incident_id)
            if snapshot is not None and snapshot.fetched_at >= since - SKEW:
                return snapshot
            if not await self._lock.held(incident_id):
                snapshot = await self._store.get(incident_id)
                fresh = snapshot is not None and snapshot.fetched_at >= since - SKEW
                return snapshot if fresh else None
        return None

    async def probe(self) -> None:
        """Read one page of one incident: proves the token, the permission and the API answer."""
        async for _ in self._api.list_incidents(top=1):
            break

    async def update(self, incident_id: str, changes: dict[str, Any]) -> IncidentSnapshot:
        """Apply `changes` (Graph v1.0 field names) and return the incident as the API now has it."""
        incident_id = validate_incident_id(incident_id)
        updated = await self._api.update_incident(incident_id, changes)
        return await self._remember_write(incident_id, updated)

    async def add_comment(self, incident_id: str, text: str) -> IncidentSnapshot:
        """Add a comment and return the incident as the API now has it."""
        incident_id = validate_incident_id(incident_id)
        updated = await self._api.add_comment(incident_id, text)
        return await self._remember_write(incident_id, updated)

    async def _remember_write(self, incident_id: str, updated: Incident | None) -> IncidentSnapshot:
        """Replace the cached copy with the API's answer, reading the incident back (once) when the
        write answered nothing, or answered without the alerts the card shows ($expand is not
        allowed on PATCH) and no cached copy has them."""
        if updated is not None and not updated.alerts:
            previous = await self._store.get(incident_id)
            if previous is not None and previous.incident.alerts:
                updated = updated.model_copy(update={"alerts": previous.incident.alerts})
            else:
                updated = None
        if updated is None:
            try:
                updated = await self._api.get_incident(incident_id)
            except BotError as error:
                raise SavedButNotReread(error) from error
        snapshot = IncidentSnapshot(incident=updated, fetched_at=self._now())
        await self._store.put(snapshot)
        return snapshot
