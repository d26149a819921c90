"""The incident service: cache-aside reads with single-flight, redirects, stale serving, and writes.

Listeners ask this module for incidents; it asks the API (through `IncidentApi`) only when the
cache has no fresh copy, and never twice at once for the same id.

When the API asks us to wait (its 429 pauses the shared budget, and the get raises at once), a read
with a cached copy answers with it at once, marked stale, and one refresh of that incident is
scheduled for when the pause ends; until then, reads of it answer stale without asking the API. A
read with nothing cached waits the pause out within the transport's retry policy, and its caller can
say why first: `get(on_wait=…)` is awaited with the seconds left before the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.errors import AuthError, BotError, BudgetExhausted, SavedButNotReread, Throttled, Unavailable
from bot.graph.api import IncidentApi
from bot.graph.transport import MustWait
from bot.incidents.flights import Flight, OnWait, Waiting, join_flight
from bot.models import Incident, IncidentSnapshot, validate_incident_id
from bot.state.cache import SnapshotStore
from bot.state.flight import FlightLock, LocalFlightLock

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


@dataclass(frozen=True)
class Saved:
    """A write's outcome: the incident as it now is, and the API's request-id for the audit line."""

    snapshot: IncidentSnapshot
    request_id: str | None


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
        self._flights: dict[str, Flight] = {}
        # When the refresh of an incident is due, while it waits for the API (a 429 or the budget).
        self._refresh_due: dict[str, float] = {}
        self._sleepers: set[asyncio.Task[None]] = set()
        self._on_cache = on_cache
        self.stats = {"hit": 0, "miss": 0, "stale": 0, "refresh": 0}

    def _count(self, result: str) -> None:
        self.stats[result] += 1
        if self._on_cache is not None:
            self._on_cache(result)

    async def get(
        self,
        incident_id: str,
        *,
        fresh: bool = False,
        on_wait: OnWait | None = None,
        at_least: datetime | None = None,
    ) -> IncidentSnapshot:
        """The incident, following merges (up to 3 hops, loop-safe); `fresh` skips the cache.

        With nothing cached to answer, a read may have to wait for the API: `on_wait(seconds)` is
        awaited first, with the seconds still to wait. `at_least` (a change's lastUpdateDateTime):
        a kept copy that has the change answers however old, and one that predates it is read
        again; for drawing what a listed change brought, where a newer change comes with its own.
        """
        current = validate_incident_id(incident_id)
        followed: list[str] = []
        while True:
            first_hop_at_least = None if followed else at_least
            snapshot = await self._get_one(current, fresh=fresh, on_wait=on_wait, at_least=first_hop_at_least)
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

    async def cached(self, incident_id: str) -> IncidentSnapshot | None:
        """The incident when a fresh copy is at hand, without asking the API; None otherwise.

        For answers that ride Slack's ack: None (nothing cached, expired, being fetched, or merged
        into another incident) means "ask `get` in a job". A copy near expiry is answered and
        refreshed in the background, as `get` does.
        """
        incident_id = validate_incident_id(incident_id)
        flight = self._flights.get(incident_id)
        if flight is not None and not flight.background:
            return None
        cached = await self._store.get(incident_id, near=True)
        if cached is None or cached.incident.is_redirected:
            return None
        age = cached.age_seconds(self._now())
        if age >= self._ttl:
            return None
        self._count("hit")
        if age >= self._ttl * REVALIDATE_AT:
            self._start_flight(incident_id, cached, background=True)
        return cached

    async def _get_one(
        self, incident_id: str, *, fresh: bool, on_wait: OnWait | None, at_least: datetime | None
    ) -> IncidentSnapshot:
        flight = self._flights.get(incident_id)
        if flight is not None and not flight.background:
            # Already being fetched in this process: join it without a cache read.
            self._count("miss")
            return await join_flight(flight, on_wait)
        cached = None if fresh else await self._store.get(incident_id, near=True)
        if at_least is not None and cached is not None:
            if not cached.shows(at_least):
                cached = await self._store.get(incident_id)  # another replica may have kept the change
            if cached is not None and not cached.incident.is_redirected:
                if cached.shows(at_least):
                    self._count("hit")
                    return cached
                cached, fresh = None, True  # the kept copy predates the change: as `get(fresh=True)`
        if cached is not None and not fresh:
            age = cached.age_seconds(self._now())
            if age < self._ttl:
                self._count("hit")
                if age >= self._ttl * REVALIDATE_AT:
                    # Near expiry: answer now, refresh in the background (stale-while-revalidate).
                    self._start_flight(incident_id, cached, background=True)
                return cached
            if self._refresh_due.get(incident_id, 0.0) > time.monotonic():
                # The API asked us to wait and a refresh is due when it allows: no need to ask it now.
                return self._stale(cached)
        self._count("miss")
        return await join_flight(self._start_flight(incident_id, cached, fresh=fresh), on_wait)

    def _start_flight(
        self,
        incident_id: str,
        cached: IncidentSnapshot | None,
        *,
        background: bool = False,
        fresh: bool = False,
    ) -> Flight:
        flight = self._flights.get(incident_id)
        if flight is None:
            waiting = Waiting()
            fetch = self._fetch(incident_id, cached, waiting, fresh=fresh, background=background)
            flight = Flight(asyncio.create_task(fetch), waiting, background)
            self._flights[incident_id] = flight
            flight.task.add_done_callback(lambda _: self._flights.pop(incident_id, None))
            if background:
                self._count("refresh")
                flight.task.add_done_callback(self._background_done)
        return flight

    @staticmethod
    def _background_done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.info("background refresh failed: %s", type(task.exception()).__name__)

    def _stale(self, cached: IncidentSnapshot) -> IncidentSnapshot:
        self._count("stale")
        return cached.model_copy(update={"stale": True})

    def _refresh_after(self, incident_id: str, seconds: float) -> None:
        """Refresh the incident in the background once the API allows it again (one at a time)."""
        if incident_id not in self._refresh_due:
            self._refresh_due[incident_id] = time.monotonic() + seconds
            task = asyncio.create_task(self._refresh_later(incident_id, seconds))
            self._sleepers.add(task)
            task.add_done_callback(self._sleepers.discard)
            task.add_done_callback(self._background_done)

    async def _refresh_later(self, incident_id: str, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        finally:
            del self._refresh_due[incident_id]  # reads now join the refresh instead of answering stale
        cached = await self._store.get(incident_id, near=True)
        if cached is None or cached.age_seconds(self._now()) >= self._ttl:  # not refreshed elsewhere
            self._start_flight(incident_id, cached, background=True)

    async def _fetch(
        self,
        incident_id: str,
        cached: IncidentSnapshot | None,
        waiting: Waiting,
        *,
        fresh: bool = False,
        background: bool = False,
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
            return await self._fetch_from_api(incident_id, cached or latest, waiting, background=background)
        finally:
            # Released only after the copy is stored, so no waiter finds the lock gone and no copy.
            await self._lock.release(incident_id, token)

    async def _fetch_from_api(
        self, incident_id: str, fallback: IncidentSnapshot | None, waiting: Waiting, *, background: bool
    ) -> IncidentSnapshot:
        try:
            # With a copy to answer with, the API's pause is not waited out: the copy is, now.
            incident = await self._read(incident_id, None if fallback else waiting)
        except (Throttled, Unavailable, AuthError) as error:
            if isinstance(error, AuthError) and error.code:
                raise  # Entra refused the app (wrong secret…): not an outage to ride out
            if fallback is None:
                raise
            logger.info("incident %s: serving cached copy, API said %s", incident_id, type(error).__name__)
            if isinstance(error, MustWait | BudgetExhausted) and error.retry_after and not background:
                self._refresh_after(incident_id, error.retry_after)  # when the shared budget allows it
            return self._stale(fallback)
        snapshot = IncidentSnapshot(incident=incident, fetched_at=self._now())
        await self._store.put(snapshot)
        return snapshot

    async def _read(self, incident_id: str, waiting: Waiting | None) -> Incident:
        """The incident from the API; with `waiting`, a 429's pause is waited out within the retry
        policy (and told to `waiting`), else MustWait is raised."""
        began, attempts = time.monotonic(), 0
        while True:
            try:
                return await self._api.get_incident(incident_id)
            except MustWait as error:
                attempts += 1
                wait = error.retry_after or 0.0
                if waiting is None or not error.policy.allows(attempts, time.monotonic() - began, wait):
                    raise
                logger.info("incident %s: the API asks us to wait %.1f s", incident_id, wait)
                waiting.start(wait)
                await asyncio.sleep(wait)

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

    def changed_since(self, since: datetime) -> AsyncIterator[Incident]:
        """Incidents updated at or after `since` (the live-card watcher's list calls)."""
        return self._api.changed_since(since)

    async def update(self, incident_id: str, changes: dict[str, Any]) -> Saved:
        """Apply `changes` (Graph v1.0 field names); the incident as the API now has it."""
        incident_id = validate_incident_id(incident_id)
        written = await self._api.update_incident(incident_id, changes)
        return Saved(await self._remember_write(incident_id, written.incident), written.request_id)

    async def add_comment(self, incident_id: str, text: str) -> Saved:
        """Add a comment; the incident as the API now has it."""
        incident_id = validate_incident_id(incident_id)
        written = await self._api.add_comment(incident_id, text)
        return Saved(await self._remember_write(incident_id, written.incident), written.request_id)

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
                updated = await self._read(incident_id, Waiting())
            except BotError as error:
                raise SavedButNotReread(error) from error
        snapshot = IncidentSnapshot(incident=updated, fetched_at=self._now())
        await self._store.put(snapshot)
        return snapshot
