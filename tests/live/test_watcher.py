"""The watcher's bookkeeping, over the real incident service (the demo source), the real database on
SQLite, and a recording intake: what it queues, and where it leaves the watermark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.graph.demo import DemoIncidentApi
from bot.incidents.service import IncidentService
from bot.jobs import RefreshLiveCards, parse_job
from bot.models import Incident
from bot.state.cache import SnapshotStore, build_cache
from bot.state.card_book import MISSED_POLLS, WatchHealth
from bot.state.database import Database
from bot.state.lease import OnlyProcess
from bot.state.live_cards import CardPlace, LiveCardStore, NewCard
from bot.watch.watcher import LATE_WRITES, SKEW, SWEEP_EVERY, Watcher

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
INCIDENT = "3011842"


class ListingApi(DemoIncidentApi):
    """The demo source, remembering where each listing started."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[datetime] = []

    async def changed_since(self, since: datetime) -> AsyncIterator[Incident]:
        self.starts.append(since)
        async for incident in super().changed_since(since):
            yield incident


class RecordingIntake:
    """The intake's submit, remembering each job and its once-key as the real ones do."""

    def __init__(self) -> None:
        self.jobs: list[RefreshLiveCards] = []
        self.keys: set[str] = set()

    async def submit(self, kind: str, payload: dict[str, Any], *, once: str | None = None) -> bool:
        if once is not None:
            if once in self.keys:
                return False
            self.keys.add(once)
        job = parse_job(kind, payload)
        assert isinstance(job, RefreshLiveCards)
        self.jobs.append(job)
        return True


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LiveCardStore]:
    database = Database.open(f"sqlite:///{tmp_path / 'bot.db'}")
    await database.migrate()
    yield LiveCardStore(database)
    await database.close()


def watcher_for(
    store: LiveCardStore, api: DemoIncidentApi, clock: list[datetime]
) -> tuple[Watcher, RecordingIntake]:
    service = IncidentService(api, SnapshotStore(build_cache("memory://"), keep_seconds=3600), ttl=60)
    intake = RecordingIntake()
    watcher = Watcher(
        incidents=service,
        store=store,
        intake=intake,
        lease=OnlyProcess(),
        health=WatchHealth(60, started=NOW),
        poll_seconds=60,
        clock=lambda: clock[0],
    )
    return watcher, intake


async def a_card_of(store: LiveCardStore, incident_id: str, *, version: datetime) -> None:
    place = CardPlace("message", channel="C0SOC", ts=f"1700000000.{incident_id}")
    await store.remember_many([NewCard(incident_id, incident_id, place, "d", NOW, NOW + timedelta(days=7))])
    await store.set_versions({incident_id: version})


async def test_a_change_is_queued_once_and_the_watermark_follows_defenders_time(store: LiveCardStore) -> None:
    api, clock = DemoIncidentApi(), [NOW]
    watcher, intake = watcher_for(store, api, clock)
    await a_card_of(store, INCIDENT, version=NOW - timedelta(days=30))
    await store.set_watermark(NOW - timedelta(minutes=1), now=NOW)
    changed_at = NOW - timedelta(seconds=5)
    api._incidents[INCIDENT]["lastUpdateDateTime"] = changed_at.isoformat()  # changed in Defender
    await watcher.poll()
    [job] = intake.jobs
    assert (job.incident_id, job.version) == (INCIDENT, changed_at)
    assert await store.watermark() == changed_at
    # The next poll lists it again (the overlap) and queues nothing: the once-key, then the version.
    await watcher.poll()
    await store.set_versions({INCIDENT: changed_at})  # what the job does once it redrew the cards
    intake.keys.clear()
    await watcher.poll()
    assert len(intake.jobs) == 1


async def test_a_quiet_spell_after_a_change_stops_listing_it(store: LiveCardStore) -> None:
    api, clock = ListingApi(), [NOW]
    watcher, intake = watcher_for(store, api, clock)
    await a_card_of(store, INCIDENT, version=NOW - timedelta(days=30))
    await store.set_watermark(NOW - timedelta(minutes=1), now=NOW)
    changed_at = NOW - timedelta(seconds=30)
    api._incidents[INCIDENT]["lastUpdateDateTime"] = changed_at.isoformat()
    await watcher.poll()
    await store.set_versions({INCIDENT: changed_at})
    times = [NOW + timedelta(seconds=seconds) for seconds in range(0, 12 * 60, 5)]
    for clock[0] in times[1:]:  # twelve minutes of 5-second polls, nothing changing
        await watcher.poll()
    assert len(intake.jobs) == 1
    assert await store.watermark() == clock[0] - SKEW
    # A poll lists from the previous poll less SKEW, past the change; once a minute a sweep lists
    # from five minutes before the previous sweep, which takes the change in five times more.
    assert len(api.starts) == len(times)
    sweeps = [when for when, start in zip(times, api.starts, strict=True) if start < when - 2 * SKEW]
    assert sweeps == times[::12]
    assert sum(start <= changed_at for start in api.starts[1:]) == 5


async def test_a_change_shown_late_is_found_by_the_next_sweep(store: LiveCardStore) -> None:
    api, clock = ListingApi(), [NOW]
    watcher, intake = watcher_for(store, api, clock)
    await a_card_of(store, INCIDENT, version=NOW - timedelta(days=30))
    await store.set_watermark(NOW - timedelta(minutes=1), now=NOW)
    await watcher.poll()  # a sweep: nothing new
    written_at = NOW - timedelta(seconds=40)  # written before the watermark, shown only now
    api._incidents[INCIDENT]["lastUpdateDateTime"] = written_at.isoformat()
    clock[0] = NOW + timedelta(seconds=5)
    await watcher.poll()
    assert intake.jobs == [] and api.starts[-1] == NOW - SKEW  # not a sweep: the watermark on
    clock[0] = NOW + SWEEP_EVERY
    await watcher.poll()
    [job] = intake.jobs
    assert (job.incident_id, job.version) == (INCIDENT, written_at)
    assert api.starts[-1] == NOW - LATE_WRITES


async def test_an_incident_stamped_in_the_future_does_not_hide_later_changes(store: LiveCardStore) -> None:
    api, clock = DemoIncidentApi(), [NOW]
    watcher, intake = watcher_for(store, api, clock)
    await a_card_of(store, INCIDENT, version=NOW - timedelta(days=30))
    await a_card_of(store, "3012007", version=NOW - timedelta(days=30))
    await store.set_watermark(NOW - timedelta(minutes=1), now=NOW)
    api._incidents["3012007"]["lastUpdateDateTime"] = (NOW + timedelta(days=40)).isoformat()
    await watcher.poll()
    assert await store.watermark() == NOW  # never past the watcher's clock
    clock[0] = NOW + timedelta(minutes=1)
    api._incidents[INCIDENT]["lastUpdateDateTime"] = (NOW + timedelta(seconds=20)).isoformat()
    await watcher.poll()
    assert INCIDENT in [job.incident_id for job in intake.jobs]


async def test_no_card_no_list_call_and_a_first_poll_starts_the_watermark_at_now(
    store: LiveCardStore,
) -> None:
    api, clock = DemoIncidentApi(), [NOW]
    watcher, intake = watcher_for(store, api, clock)
    await watcher.poll()
    assert watcher.stats.list_calls == 0 and intake.jobs == [] and await store.watermark() is None
    await a_card_of(store, INCIDENT, version=NOW - timedelta(days=30))
    await watcher.poll()  # nothing changed in the last five minutes of the demo data
    assert watcher.stats.list_calls == 1 and intake.jobs == []
    assert await store.watermark() == NOW - SKEW


async def test_expired_cards_are_retired_once_and_flagged_ones_redrawn(store: LiveCardStore) -> None:
    api, clock = DemoIncidentApi(), [NOW]
    watcher, intake = watcher_for(store, api, clock)
    await a_card_of(store, INCIDENT, version=NOW)
    [card] = await store.following([INCIDENT], now=NOW)
    await store.mark_needs_redraw([card.id])
    await watcher.poll()
    [job] = intake.jobs
    assert (job.incident_id, job.version, job.retire) == (INCIDENT, None, ())
    clock[0] = NOW + timedelta(days=8)
    await watcher.poll()
    retire = [j for j in intake.jobs if j.retire]
    assert [(j.incident_id, j.retire) for j in retire] == [(INCIDENT, (card.id,))]


def test_cards_are_live_until_the_watcher_misses_three_polls() -> None:
    health = WatchHealth(60, started=NOW)
    assert health.is_live(NOW + timedelta(seconds=MISSED_POLLS * 60))  # not polled yet, just started
    health.beat(NOW + timedelta(minutes=1))
    assert health.is_live(NOW + timedelta(minutes=4))
    assert not health.is_live(NOW + timedelta(minutes=5))
