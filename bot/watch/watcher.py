"""The live-card watcher: one replica at a time lists the incidents changed since its watermark and
queues one refresh per changed incident that has cards in Slack.

Microsoft Graph sends no change notifications for incidents, so the bot asks: `lastUpdateDateTime
ge <watermark − overlap>`, every page, every LIVE_POLL_SECONDS, only while some card is live. The
listing uses the list budget shared by replicas; a 429 pauses the watcher for its Retry-After.

The watermark is Defender's own `lastUpdateDateTime` (no replica's clock), moves only forwards and
only once every refresh of the listing is queued on the durable intake. The overlap re-lists the
last minutes (changes written late, equal timestamps); a change is told from one already handled by
the incident's stored version (id + lastUpdateDateTime), so re-listing costs no API call and no
Slack call. A watcher that dies mid-poll leaves the watermark where it was: the next lists again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.errors import Throttled
from bot.incidents.service import IncidentService
from bot.jobs import RefreshLiveCards, Submitter, submit_job
from bot.state.card_book import WatchHealth
from bot.state.lease import Lease
from bot.state.live_cards import LiveCardStore

logger = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=2)
# Defender's listing is assumed to show a change within this long of its lastUpdateDateTime (and
# the replicas' clocks to be within it of Defender's).
LATE_WRITES = timedelta(minutes=5)
HEARTBEAT = "heartbeat"
RETIRE_BATCH = 200
STOP_WAIT = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WatchStats:
    """What /metrics shows of the watcher."""

    polls: int = 0
    list_calls: int = 0
    changes: int = 0  # changed incidents that have cards
    queued: int = 0
    leader: bool = False
    watermark: datetime | None = None
    paused_until: datetime | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def lag_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.watermark).total_seconds()) if self.watermark else 0.0


class Watcher:
    """Polls for changed incidents while this replica holds the lease."""

    def __init__(
        self,
        *,
        incidents: IncidentService,
        store: LiveCardStore,
        intake: Submitter,
        lease: Lease,
        health: WatchHealth,
        poll_seconds: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.incidents = incidents
        self.store = store
        self.intake = intake
        self.lease = lease
        self.health = health
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.stats = WatchStats()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let a round in progress finish (cancelled mid-query, it would leave a database connection
        behind), then end."""
        if self._task is not None:
            self._stopping.set()
            await asyncio.wait({self._task}, timeout=STOP_WAIT)
            if not self._task.done():  # a round stuck on the API or the database: cut it short
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
        if self.stats.leader:
            await self.lease.release()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = self.poll_seconds
            try:
                pause = await self.round()
            except Exception as error:  # the next round tries again; the watermark did not move
                name = type(error).__name__
                self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
                logger.exception("live-card watch failed; trying again in %.0f s", pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)

    async def round(self) -> float:
        """One round: poll when this replica holds the lease, else read the holder's heartbeat.
        Returns the seconds until the next round."""
        self.stats.leader = await self.lease.hold()
        if not self.stats.leader:
            beat = await self.store.watermark(HEARTBEAT)
            if beat is not None:
                self.health.beat(beat)
            self.stats.watermark = await self.store.watermark()
            return self.poll_seconds
        try:
            await self.poll()
        except Throttled as error:
            wait = max(float(error.retry_after or self.poll_seconds), 1.0)
            self.stats.paused_until = self.clock() + timedelta(seconds=wait)
            logger.warning("incident listing throttled: the watcher waits %.0f s", wait)
            return wait
        return self.poll_seconds

    async def poll(self) -> int:
        """List what changed, queue a refresh per changed incident with cards; the jobs queued."""
        now = self.clock()
        queued = await self._retire(now)
        if await self.store.count_live(now=now) == 0:
            await self._beat(now)
            return queued
        watermark = await self.store.watermark()
        since = (watermark or now) - OVERLAP
        latest: dict[str, datetime] = {}
        self.stats.list_calls += 1  # at least one page; the transport counts the rest in /metrics
        async for incident in self.incidents.changed_since(since):
            when = incident.last_update_date_time
            if when is not None and (incident.id not in latest or when > latest[incident.id]):
                latest[incident.id] = when
        followed = await self.store.followed_ids(now=now)
        wanted = {i: when for i, when in latest.items() if i in followed}
        done = await self.store.versions(list(wanted))
        todo: dict[str, datetime | None] = {
            i: when for i, when in wanted.items() if i not in done or when > done[i]
        }
        for incident_id in await self.store.needing_redraw(now=now):
            todo.setdefault(incident_id, None)
        for incident_id, version in sorted(todo.items()):
            job = RefreshLiveCards(incident_id=incident_id, version=version)
            once = f"live:{incident_id}:{version.isoformat() if version else now.isoformat()}"
            queued += bool(await submit_job(self.intake, job, once=once))
        self.stats.changes += len(todo)
        self.stats.queued += queued
        # Defender's timestamps move the watermark, never past this replica's clock (an incident
        # stamped in the future is listed again, not a reason to skip all before its stamp), and at
        # least to LATE_WRITES ago: else a quiet spell after a bulk change would list that change
        # again on every poll until the next one.
        mark = min(max([*latest.values(), now - LATE_WRITES]), now)
        await self.store.set_watermark(mark, now=now)
        self.stats.watermark = max(mark, watermark) if watermark else mark
        await self._beat(now)
        return queued

    async def _retire(self, now: datetime) -> int:
        """Cards whose time is up: an ephemeral one is forgotten (Slack takes its response_url no
        more); a message or unfurl is drawn once more, saying "as of", by a refresh job."""
        expired = await self.store.expired(now=now, limit=RETIRE_BATCH)
        gone = [card.id for card in expired if card.place.surface == "ephemeral"]
        if gone:
            await self.store.forget(gone)
        by_incident: dict[str, list[int]] = {}
        for card in expired:
            if card.place.surface != "ephemeral":
                by_incident.setdefault(card.follows_id, []).append(card.id)
        queued = 0
        for incident_id, ids in by_incident.items():
            job = RefreshLiveCards(incident_id=incident_id, retire=tuple(ids))
            queued += bool(
                await submit_job(self.intake, job, once=f"retire:{incident_id}:{min(ids)}:{len(ids)}")
            )
        return queued

    async def _beat(self, now: datetime) -> None:
        await self.store.set_watermark(now, now=now, name=HEARTBEAT)
        self.health.beat(now)
        self.stats.polls += 1
