"""The live-card watcher: one replica at a time lists the incidents changed since its watermark and
queues one refresh per changed incident that has cards in Slack.

Microsoft Graph sends no change notifications for incidents, so the bot asks: `lastUpdateDateTime
ge <watermark>`, every page, every LIVE_POLL_SECONDS, only while some card or subscription is live.
The listing uses the list budget shared by replicas; a 429 pauses the watcher for its Retry-After.

The watermark is Defender's own `lastUpdateDateTime`, moves only forwards and only once every job of
the listing is queued on the durable intake; in a quiet spell it follows the watcher's clock less
SKEW. A change Defender shows late (written before the watermark, listed after it moved on) is found
by a sweep: at most once a minute the poll lists from LATE_WRITES before the previous sweep instead.
So a bulk change is listed again by about five sweeps, not by every poll. A change is told from one
already handled by the incident's stored version (id + lastUpdateDateTime): re-listing costs no
detail call and no Slack call. A watcher that dies mid-poll leaves both marks where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.errors import Throttled
from bot.incidents.service import IncidentService
from bot.jobs import RefreshLiveCards, RemindPost, RouteIncident, Submitter, submit_job
from bot.models import Incident
from bot.models.filters import FilterError, IncidentFilter, parse_subscription
from bot.state.card_book import WatchHealth
from bot.state.lease import Lease
from bot.state.live_cards import LiveCardStore
from bot.state.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)

# Defender's listing is assumed to show a change within LATE_WRITES of its lastUpdateDateTime, and
# the replicas' clocks to be within SKEW of Defender's (beyond SKEW, within LATE_WRITES, a change
# waits for the next sweep).
SKEW = timedelta(seconds=15)
LATE_WRITES = timedelta(minutes=5)
SWEEP_EVERY = timedelta(minutes=1)
HEARTBEAT = "heartbeat"
SWEEP = "sweep"
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
        subscriptions: SubscriptionStore | None = None,
        claim_stale_after: timedelta = timedelta(seconds=32),
        quiet: Callable[[datetime], bool] = lambda _now: False,
    ) -> None:
        """`subscriptions`: channel subscriptions, routed from the same listing (None: none)."""
        self.incidents = incidents
        self.store = store
        self.intake = intake
        self.lease = lease
        self.health = health
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.subscriptions = subscriptions
        self.claim_stale_after = claim_stale_after
        self.quiet = quiet  # QUIET_HOURS: reminders wait (and are queued when the quiet ends)
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
        filters = await self._subscribed_filters()
        queued += await self._remind_and_recover(now) if filters else 0
        if await self.store.count_live(now=now) == 0 and not filters:
            await self._beat(now)
            return queued
        watermark = await self.store.watermark()
        since, sweeping = await self._listing_start(now, watermark)
        latest: dict[str, datetime] = {}
        listed: dict[str, Incident] = {}
        self.stats.list_calls += 1  # at least one page; the transport counts the rest in /metrics
        async for incident in self.incidents.changed_since(since):
            when = incident.last_update_date_time
            if when is not None and (incident.id not in latest or when > latest[incident.id]):
                latest[incident.id] = when
                listed[incident.id] = incident
        followed = await self.store.followed_ids(now=now)
        wanted = {i: when for i, when in latest.items() if i in followed}
        done = await self.store.versions(list(wanted))
        todo: dict[str, datetime | None] = {
            i: when for i, when in wanted.items() if i not in done or when > done[i]
        }
        for incident_id in await self.store.needing_redraw(now=now):
            todo.setdefault(incident_id, None)
        if filters:
            # Before the redraws: a reply or a new post is what tells people, and the queue is first
            # come, first served when a bulk change fills it.
            queued += await self._route(listed, filters)
        for incident_id, version in sorted(todo.items()):
            job = RefreshLiveCards(incident_id=incident_id, version=version)
            once = f"live:{incident_id}:{version.isoformat() if version else now.isoformat()}"
            fresh = bool(await submit_job(self.intake, job, once=once))
            queued += fresh
            # A change listed again by the next poll before its refresh recorded the version is
            # refused by `once`: counted once.
            self.stats.changes += fresh
        self.stats.queued += queued
        # Defender's timestamps move the watermark, never past this replica's clock (an incident
        # stamped in the future is listed again, not a reason to skip all before its stamp), and at
        # least to SKEW ago: else a quiet spell after a bulk change would list it on every poll.
        mark = min(max([*latest.values(), now - SKEW]), now)
        await self.store.set_watermark(mark, now=now)
        if sweeping:
            await self.store.set_watermark(now, now=now, name=SWEEP)
        self.stats.watermark = max(mark, watermark) if watermark else mark
        await self._beat(now)
        return queued

    async def _listing_start(self, now: datetime, watermark: datetime | None) -> tuple[datetime, bool]:
        """Where this poll's listing starts, and whether it is a sweep: from the watermark, or once
        a minute from LATE_WRITES before the previous sweep (every change written before that was
        shown by then, so that sweep listed it)."""
        if watermark is None:
            return now - LATE_WRITES, True
        swept = await self.store.watermark(SWEEP)
        if swept is not None and now - swept < SWEEP_EVERY:
            return watermark, False
        return min(watermark, (swept or watermark) - LATE_WRITES), True

    async def _subscribed_filters(self) -> list[IncidentFilter]:
        """The filters of the active subscriptions (one that no longer reads is skipped)."""
        if self.subscriptions is None:
            return []
        found = []
        for subscription in await self.subscriptions.active():
            try:
                found.append(parse_subscription(subscription.filter)[0])
            except FilterError:
                continue
        return found

    async def _route(self, listed: dict[str, Incident], filters: list[IncidentFilter]) -> int:
        """A route job per listed change that a subscription may want, or that a thread follows.

        The listing has no alerts: a filter on alert sources is judged on the rest, and the job
        decides on the incident read in full."""
        assert self.subscriptions is not None
        threads = {post.follows_id for post in await self.subscriptions.posts_following(list(listed))}
        without_sources = [dataclasses.replace(f, sources=()) for f in filters]
        queued = 0
        for incident_id, incident in sorted(listed.items()):
            if incident_id not in threads and not any(f.matches(incident) for f in without_sources):
                continue
            when = incident.last_update_date_time
            job = RouteIncident(incident_id=incident_id, version=when)
            stamp = when.isoformat() if when else "none"
            queued += bool(await submit_job(self.intake, job, once=f"route:{incident_id}:{stamp}"))
        return queued

    async def _remind_and_recover(self, now: datetime) -> int:
        """Reminders that are due, and posts whose claim went stale (a replica died between its
        post and its record): each routed again, once per claim."""
        assert self.subscriptions is not None
        queued = 0
        for due in [] if self.quiet(now) else await self.subscriptions.due_reminders(now=now):
            slot = due.post.reminders + 1
            job = RemindPost(post_id=due.post.id, slot=slot, at=now)
            queued += bool(await submit_job(self.intake, job, once=f"remind:{due.post.id}:{slot}"))
        for post in await self.subscriptions.stale_claims(now=now, stale_after=self.claim_stale_after):
            route = RouteIncident(incident_id=post.incident_id)
            once = f"route-stale:{post.id}:{post.claimed_at.isoformat()}"
            queued += bool(await submit_job(self.intake, route, once=once))
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
