"""Where the bot's cards are, and whether they are being kept up to date.

Every card the bot puts in Slack is written down (`LiveCardStore`) so the watcher can redraw it when
its incident changes. A card answered in Slack's ack is written down after the ack, in batches off
the ack path (`note`); a job writes its card down before it finishes (`remember`).

`WatchHealth` is what a card's footer says: "Live" while the watcher (on this replica or another)
has polled within three intervals, "as of" once it has not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import datetime, timedelta

from bot.models import IncidentSnapshot
from bot.state.live_cards import CardPlace, LiveCardStore, NewCard

logger = logging.getLogger(__name__)

# Slack takes a response_url for 30 minutes, 5 times.
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
RESPONSE_URL_USES = 5
# A watcher that missed this many polls is down: cards say "as of", not "Live".
MISSED_POLLS = 3
FLUSH_EVERY = 0.25
FLUSH_AT = 200
STOP_WAIT = 5.0


def card_digest(snapshot: IncidentSnapshot, asked_for: str | None = None) -> str:
    """What a card shows, as a digest: the incident's content (not the moment it was read) and the
    incident it was asked for when that one was merged into this."""
    incident = snapshot.incident
    merged = snapshot.merged_from or ((asked_for,) if asked_for and asked_for != incident.id else ())
    # The alerts' sources are read for subscription filters, not shown: leaving them out keeps the
    # digests of cards recorded before they were read, so an upgrade redraws no unchanged card.
    hidden = {"alerts": {"__all__": {"service_source", "detection_source"}}}
    payload = incident.model_dump_json(exclude={"unreadable_fields": True, **hidden}) + "|" + ",".join(merged)
    payload += "|" + ",".join(incident.unreadable_fields)
    return hashlib.sha256(payload.encode()).hexdigest()


class WatchHealth:
    """The watcher's last successful poll, as this replica knows it."""

    def __init__(self, poll_seconds: float, *, started: datetime) -> None:
        self.poll_seconds = poll_seconds
        self.started = started
        self.last_poll: datetime | None = None

    def beat(self, when: datetime) -> None:
        if self.last_poll is None or when > self.last_poll:
            self.last_poll = when

    def is_live(self, now: datetime) -> bool:
        last = self.last_poll or self.started
        return now - last <= timedelta(seconds=MISSED_POLLS * self.poll_seconds + 5)


class LiveCards:
    """Writes cards down and tells whether they are live; shared by listeners and jobs."""

    def __init__(self, store: LiveCardStore, health: WatchHealth, *, keep: timedelta) -> None:
        self.store = store
        self.health = health
        self.keep = keep
        self._pending: list[NewCard] = []
        self._versions: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False

    def is_live(self, now: datetime) -> bool:
        return self.health.is_live(now)

    def card(
        self,
        snapshot: IncidentSnapshot,
        place: CardPlace,
        *,
        now: datetime,
        asked_for: str,
        uses: int = 0,
        shared_by: str | None = None,
        detail: str = "full",
    ) -> NewCard:
        """The record of a card just drawn."""
        expires = now + self.keep
        if place.surface == "ephemeral":
            expires = min(expires, now + RESPONSE_URL_LIFETIME)
        return NewCard(
            incident_id=asked_for,
            follows_id=snapshot.incident.id,
            place=place,
            digest=card_digest(snapshot, asked_for),
            now=now,
            expires_at=expires,
            uses=uses,
            shared_by=shared_by,
            detail=detail,
        )

    def note(self, card: NewCard, version: datetime | None) -> None:
        """Write the card down soon, off the caller's path (an ack must not wait for a database)."""
        self._pending.append(card)
        if version is not None:
            self._versions[card.follows_id] = max(version, self._versions.get(card.follows_id, version))
        if len(self._pending) >= FLUSH_AT:
            self._wake.set()

    async def remember(self, cards: list[NewCard], version: datetime | None) -> None:
        """Write cards down now (a job, before it finishes)."""
        versions = {cards[0].follows_id: version} if version is not None and cards else None
        await self.store.remember_many(cards, versions)

    async def start(self) -> None:
        self._stopping = False
        self._flusher = asyncio.create_task(self._flush_forever())

    async def stop(self) -> None:
        """Write down what is pending; a flush in progress finishes first (cancelled mid-query, it
        would leave a database connection behind)."""
        if self._flusher is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.wait({self._flusher}, timeout=STOP_WAIT)
            if not self._flusher.done():  # the database does not answer: these cards stay snapshots
                self._flusher.cancel()
                return
        async with asyncio.timeout(STOP_WAIT):
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        versions, self._versions = self._versions, {}
        if not pending:
            return
        try:
            await self.store.remember_many(pending, versions)
        except Exception:  # the database is down: these cards stay snapshots, the bot goes on
            logger.exception(
                "%d cards could not be written down; they will not be kept up to date", len(pending)
            )

    async def _flush_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_EVERY):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()
