"""Live cards: every incident card the bot posted, so a watcher can redraw it when the incident changes.

Each method is one short transaction. Callers pass `now`: nothing here reads the clock, so what counts
as expired is the caller's (and a test's) to say. A card is live while `expires_at > now`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import ColumnElement, Row, case, delete, func, or_, select, update
from sqlalchemy.sql.dml import Insert

from bot.state.database import Database
from bot.state.tables import incident_versions, live_cards, watch_state

Surface = Literal["message", "unfurl", "ephemeral"]
# Well below SQLite's 32766 bound parameters and PostgreSQL's 65535, and a plan either reads quickly.
CHUNK = 500
_T = TypeVar("_T")


def _chunks(items: Collection[_T]) -> Iterator[list[_T]]:
    ordered = list(items)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _key_part(part: str | None) -> str:
    # escaped, so that no url containing "|" can make the same key as another place
    return (part or "").replace("%", "%25").replace("|", "%7C")


@dataclass(frozen=True)
class CardPlace:
    """Where a card is in Slack: a message (channel, ts), an unfurl (channel, ts, url), or an
    ephemeral answer reachable only through its response_url."""

    surface: Surface
    channel: str | None = None
    ts: str | None = None
    url: str | None = None
    response_url: str | None = None

    @property
    def key(self) -> str:
        """sha256 hex of surface|channel|ts|url|response_url: one row per place."""
        parts = (self.surface, self.channel, self.ts, self.url, self.response_url)
        return hashlib.sha256("|".join(map(_key_part, parts)).encode()).hexdigest()


@dataclass(frozen=True)
class LiveCard:
    id: int
    incident_id: str  # the incident the card was asked for
    follows_id: str  # the incident it shows now (another one after a merge)
    place: CardPlace
    digest: str
    uses: int  # response_url posts spent (Slack allows 5 within 30 minutes)
    created_at: datetime
    expires_at: datetime
    drawn_at: datetime
    needs_redraw: bool
    shared_by: str | None = None  # a shared message's "Shared by" user, kept across redraws
    detail: str = "full"  # "full" or "redacted": what the card may show where it is


@dataclass(frozen=True)
class NewCard:
    """One card to remember, as `remember` takes it: the row of `remember_many`."""

    incident_id: str
    follows_id: str
    place: CardPlace
    digest: str
    now: datetime
    expires_at: datetime
    uses: int = 0
    shared_by: str | None = None
    detail: str = "full"


def _card(row: Row[Any]) -> LiveCard:
    place = CardPlace(cast(Surface, row.surface), row.channel, row.ts, row.url, row.response_url)
    return LiveCard(
        id=row.id,
        incident_id=row.incident_id,
        follows_id=row.follows_id,
        place=place,
        digest=row.digest,
        uses=row.uses,
        created_at=row.created_at,
        expires_at=row.expires_at,
        drawn_at=row.drawn_at,
        needs_redraw=row.needs_redraw,
        shared_by=row.shared_by,
        detail=row.detail,
    )


def _live(now: datetime) -> ColumnElement[bool]:
    return live_cards.c.expires_at > now


class LiveCardStore:
    """The live_cards, incident_versions and watch_state tables, on SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sessions = database.sessions
        self._reads = database.reads  # no write lock on SQLite: reads go on beside a writer

    def _insert(self, table: Any) -> Insert:
        return self._database.insert(table)

    async def remember(
        self,
        incident_id: str,
        follows_id: str,
        place: CardPlace,
        digest: str,
        *,
        now: datetime,
        expires_at: datetime,
        uses: int = 0,
    ) -> None:
        """Record a card just drawn at `place`; a card already recorded there is replaced."""
        await self.remember_many([NewCard(incident_id, follows_id, place, digest, now, expires_at, uses)])

    async def remember_many(
        self, cards: Sequence[NewCard], versions: Mapping[str, datetime] | None = None
    ) -> None:
        """`remember` for a batch, and the versions they were drawn at, in one transaction: the
        watcher never sees a card without its version (it would take it for a change). Of two cards
        at one place, the later wins."""
        rows = {
            card.place.key: {
                "incident_id": card.incident_id,
                "follows_id": card.follows_id,
                "surface": card.place.surface,
                "channel": card.place.channel,
                "ts": card.place.ts,
                "url": card.place.url,
                "response_url": card.place.response_url,
                "shared_by": card.shared_by,
                "place_key": card.place.key,
                "digest": card.digest,
                "uses": card.uses,
                "created_at": card.now,
                "expires_at": card.expires_at,
                "drawn_at": card.now,
                "needs_redraw": False,
                "detail": card.detail,
            }
            for card in cards
        }
        if not rows:
            return
        async with self._sessions.begin() as session:
            await session.execute(self._cards_statement(), list(rows.values()))
            if versions:
                await session.execute(*self._versions_statement(versions))

    def _cards_statement(self) -> Any:
        statement: Any = self._insert(live_cards)
        kept = ("id", "place_key", "created_at")  # a place keeps its row and when it was first posted
        statement = statement.on_conflict_do_update(
            index_elements=[live_cards.c.place_key],
            set_={
                column.name: statement.excluded[column.name]
                for column in live_cards.columns
                if column.name not in kept
            }
            # a redraw after a click does not know who shared the message: the first one stays
            | {"shared_by": func.coalesce(statement.excluded.shared_by, live_cards.c.shared_by)},
        )
        return statement

    async def at(self, place: CardPlace) -> LiveCard | None:
        """The card recorded at `place`, expired or not."""
        async with self._reads.begin() as session:
            row = (
                await session.execute(select(live_cards).where(live_cards.c.place_key == place.key))
            ).first()
        return _card(row) if row is not None else None

    async def following(self, incident_ids: Collection[str], *, now: datetime) -> list[LiveCard]:
        """The live cards showing any of `incident_ids`, oldest first."""
        found: list[LiveCard] = []
        async with self._reads.begin() as session:
            for chunk in _chunks(set(incident_ids)):
                query = select(live_cards).where(live_cards.c.follows_id.in_(chunk), _live(now))
                found += map(_card, await session.execute(query))
        return sorted(found, key=lambda card: card.id)

    async def followed_ids(self, *, now: datetime) -> set[str]:
        """Every incident that some live card shows."""
        query = select(live_cards.c.follows_id).where(_live(now)).distinct()
        async with self._reads.begin() as session:
            return set((await session.scalars(query)).all())

    async def count_live(self, *, now: datetime) -> int:
        query = select(func.count()).select_from(live_cards).where(_live(now))
        async with self._reads.begin() as session:
            return int((await session.scalar(query)) or 0)

    async def drawn(
        self, card_id: int, *, digest: str, follows_id: str, now: datetime, uses: int | None = None
    ) -> None:
        """The card was redrawn: what it shows now, and when."""
        values: dict[str, Any] = {
            "digest": digest,
            "follows_id": follows_id,
            "drawn_at": now,
            "needs_redraw": False,
        }
        if uses is not None:
            values["uses"] = uses
        async with self._sessions.begin() as session:
            await session.execute(update(live_cards).where(live_cards.c.id == card_id).values(values))

    async def mark_needs_redraw(self, card_ids: Collection[int]) -> None:
        """Flag cards a redraw could not reach yet (e.g. response_url uses spent), to try later."""
        async with self._sessions.begin() as session:
            for chunk in _chunks(set(card_ids)):
                flag = update(live_cards).where(live_cards.c.id.in_(chunk)).values(needs_redraw=True)
                await session.execute(flag)

    async def needing_redraw(self, *, now: datetime) -> set[str]:
        """The incidents shown by live cards flagged for a redraw."""
        query = select(live_cards.c.follows_id).where(live_cards.c.needs_redraw, _live(now)).distinct()
        async with self._reads.begin() as session:
            return set((await session.scalars(query)).all())

    async def forget(self, card_ids: Collection[int]) -> None:
        async with self._sessions.begin() as session:
            for chunk in _chunks(set(card_ids)):
                await session.execute(delete(live_cards).where(live_cards.c.id.in_(chunk)))

    async def expired(self, *, now: datetime, limit: int = 500) -> list[LiveCard]:
        """Up to `limit` cards no longer kept up to date, the longest expired first."""
        query = (
            select(live_cards)
            .where(live_cards.c.expires_at <= now)
            .order_by(live_cards.c.expires_at, live_cards.c.id)
            .limit(limit)
        )
        async with self._reads.begin() as session:
            return [_card(row) for row in await session.execute(query)]

    async def versions(self, incident_ids: Collection[str]) -> dict[str, datetime]:
        """For each incident known here, the lastUpdateDateTime its cards have been redrawn for."""
        found: dict[str, datetime] = {}
        async with self._reads.begin() as session:
            for chunk in _chunks(set(incident_ids)):
                query = select(incident_versions).where(incident_versions.c.incident_id.in_(chunk))
                found.update((row.incident_id, row.last_update) for row in await session.execute(query))
        return found

    async def set_versions(self, versions: Mapping[str, datetime]) -> None:
        """Record versions; a version older than the one recorded is ignored (replicas may race)."""
        if not versions:
            return
        async with self._sessions.begin() as session:
            await session.execute(*self._versions_statement(versions))

    def _versions_statement(self, versions: Mapping[str, datetime]) -> tuple[Any, list[dict[str, Any]]]:
        statement: Any = self._insert(incident_versions)
        newer = statement.excluded.last_update > incident_versions.c.last_update
        statement = statement.on_conflict_do_update(
            index_elements=[incident_versions.c.incident_id],
            set_={
                "last_update": case(
                    (newer, statement.excluded.last_update), else_=incident_versions.c.last_update
                )
            },
        )
        return statement, [{"incident_id": key, "last_update": value} for key, value in versions.items()]

    async def watermark(self, name: str = "incidents") -> datetime | None:
        """Up to when the watcher has seen changes; None before its first pass."""
        query = select(watch_state.c.watermark).where(watch_state.c.name == name)
        async with self._reads.begin() as session:
            return cast(datetime | None, await session.scalar(query))

    async def set_watermark(self, when: datetime, *, now: datetime, name: str = "incidents") -> None:
        """Move the watermark on to `when`; never back (a slower replica's older pass is ignored)."""
        statement: Any = self._insert(watch_state).values(name=name, watermark=when, updated_at=now)
        current = watch_state.c.watermark
        newer = or_(current.is_(None), statement.excluded.watermark > current)
        statement = statement.on_conflict_do_update(
            index_elements=[watch_state.c.name],
            set_={
                "watermark": case((newer, statement.excluded.watermark), else_=current),
                "updated_at": statement.excluded.updated_at,
            },
        )
        async with self._sessions.begin() as session:
            await session.execute(statement)

    async def size(self) -> int:
        """Every row of live_cards, expired ones too."""
        async with self._reads.begin() as session:
            return int((await session.scalar(select(func.count()).select_from(live_cards))) or 0)
