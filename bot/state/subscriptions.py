"""Channel subscriptions: which incidents a channel asked to be told about, and what it was told.

A subscription is a channel's filter (its canonical text) with how updates go (`updates`) and how
often to remind; a channel the bot can no longer post in is paused, not forgotten. Mutes silence one
incident in one channel. The posts and replies, each sent exactly once, are `ChannelPostStore`'s
(bot.state.channel_posts); `SubscriptionStore` is both. Each method is one short transaction, and
`now` comes from the caller.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, exists, extract, func, or_, select, update

from bot.state.channel_posts import ChannelPost, ChannelPostStore, _post
from bot.state.live_cards import _chunks
from bot.state.tables import channel_posts, mutes, subscriptions

_FILTER_LENGTH = 600
_REASON_LENGTH = 64


@dataclass(frozen=True)
class Subscription:
    """A row of subscriptions, its reminder periods as timedeltas."""

    id: int
    channel: str
    filter: str  # the filter's canonical text
    updates: str
    remind_unassigned: timedelta | None  # remind while the incident has no owner, this often
    remind_active: timedelta | None  # remind while it is active, this often
    created_by: str
    created_at: datetime
    paused_at: datetime | None  # None while active
    paused_reason: str | None  # why, e.g. the Slack error that stopped the posts

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True)
class DueReminder:
    """A posted post whose subscription reminds, with which of its periods have gone by since the
    last reminder (or the post). Which one applies depends on the incident: the caller's to say."""

    post: ChannelPost
    subscription: Subscription
    unassigned_due: bool
    active_due: bool


def _period(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def _seconds(period: timedelta | None) -> int | None:
    if period is None:
        return None
    if period < timedelta(seconds=1):
        raise ValueError(f"a reminder period must be a second or more, not {period}")
    return int(period.total_seconds())


def _gone_by(period: timedelta | None, since: datetime, now: datetime) -> bool:
    return period is not None and since + period <= now


def _subscription(values: Any, prefix: str = "") -> Subscription:
    def get(name: str) -> Any:
        return values[f"{prefix}{name}"]

    return Subscription(
        id=get("id"),
        channel=get("channel"),
        filter=get("filter"),
        updates=get("updates"),
        remind_unassigned=_period(get("remind_unassigned_s")),
        remind_active=_period(get("remind_active_s")),
        created_by=get("created_by"),
        created_at=get("created_at"),
        paused_at=get("paused_at"),
        paused_reason=get("paused_reason"),
    )


def _subscriptions(rows: Collection[Row[Any]]) -> list[Subscription]:
    return sorted((_subscription(row._mapping) for row in rows), key=lambda found: found.id)


class SubscriptionStore(ChannelPostStore):
    """The subscriptions and mutes tables, and (inherited) the channel posts and thread replies."""

    async def add(
        self,
        channel: str,
        filter_text: str,
        *,
        updates: str,
        remind_unassigned: timedelta | None,
        remind_active: timedelta | None,
        created_by: str,
        now: datetime,
    ) -> Subscription:
        """A new active subscription. A filter longer than its column is refused here, so that SQLite
        (which would keep it) and PostgreSQL (which would fail) agree."""
        if len(filter_text) > _FILTER_LENGTH:
            raise ValueError(f"a filter is at most {_FILTER_LENGTH} characters, not {len(filter_text)}")
        values = {
            "channel": channel,
            "filter": filter_text,
            "updates": updates,
            "remind_unassigned_s": _seconds(remind_unassigned),
            "remind_active_s": _seconds(remind_active),
            "created_by": created_by,
            "created_at": now,
        }
        statement = subscriptions.insert().values(values).returning(*subscriptions.c)
        async with self._sessions.begin() as session:
            row = (await session.execute(statement)).one()
        return _subscription(row._mapping)

    async def get(self, subscription_id: int) -> Subscription | None:
        query = select(subscriptions).where(subscriptions.c.id == subscription_id)
        async with self._reads.begin() as session:
            row = (await session.execute(query)).first()
        return _subscription(row._mapping) if row is not None else None

    async def in_channel(self, channel: str) -> list[Subscription]:
        """The channel's subscriptions, paused ones too, oldest first."""
        query = select(subscriptions).where(subscriptions.c.channel == channel)
        async with self._reads.begin() as session:
            return _subscriptions((await session.execute(query)).all())

    async def active(self) -> list[Subscription]:
        """Every subscription not paused, oldest first: what the watcher matches incidents against."""
        query = select(subscriptions).where(subscriptions.c.paused_at.is_(None))
        async with self._reads.begin() as session:
            return _subscriptions((await session.execute(query)).all())

    async def count_active(self) -> int:
        query = select(func.count()).select_from(subscriptions).where(subscriptions.c.paused_at.is_(None))
        async with self._reads.begin() as session:
            return int((await session.scalar(query)) or 0)

    async def remove(self, subscription_id: int, *, channel: str) -> bool:
        """Remove a subscription of `channel`; an id of another channel is refused (False), so that
        nobody ends another channel's subscription by its number. Its posts stay (they still dedupe)."""
        statement = (
            delete(subscriptions)
            .where(subscriptions.c.id == subscription_id, subscriptions.c.channel == channel)
            .returning(subscriptions.c.id)
        )
        async with self._sessions.begin() as session:
            return (await session.execute(statement)).first() is not None

    async def pause_channel(self, channel: str, reason: str, *, now: datetime) -> list[Subscription]:
        """Pause the channel's active subscriptions (e.g. the bot was removed from it): those paused
        now. The reason is cut to its column, so that a long Slack error cannot fail the pause."""
        statement = (
            update(subscriptions)
            .where(subscriptions.c.channel == channel, subscriptions.c.paused_at.is_(None))
            .values(paused_at=now, paused_reason=reason[:_REASON_LENGTH])
            .returning(*subscriptions.c)
        )
        async with self._sessions.begin() as session:
            return _subscriptions((await session.execute(statement)).all())

    async def resume_channel(self, channel: str) -> list[Subscription]:
        """Resume the channel's paused subscriptions: those resumed now."""
        statement = (
            update(subscriptions)
            .where(subscriptions.c.channel == channel, subscriptions.c.paused_at.is_not(None))
            .values(paused_at=None, paused_reason=None)
            .returning(*subscriptions.c)
        )
        async with self._sessions.begin() as session:
            return _subscriptions((await session.execute(statement)).all())

    async def mute(self, channel: str, incident_id: str, *, by: str, now: datetime) -> bool:
        """Silence `incident_id` in `channel`: True if it was not muted there yet (the first mute,
        its author and time, stays)."""
        statement: Any = self._insert(mutes).values(
            channel=channel, incident_id=incident_id, created_by=by, created_at=now
        )
        statement = statement.on_conflict_do_nothing(index_elements=[mutes.c.channel, mutes.c.incident_id])
        async with self._sessions.begin() as session:
            return (await session.execute(statement.returning(mutes.c.channel))).first() is not None

    async def unmute(self, channel: str, incident_id: str) -> bool:
        statement = (
            delete(mutes)
            .where(mutes.c.channel == channel, mutes.c.incident_id == incident_id)
            .returning(mutes.c.channel)
        )
        async with self._sessions.begin() as session:
            return (await session.execute(statement)).first() is not None

    async def muting_channels(self, incident_ids: Collection[str]) -> set[str]:
        """The channels where any of `incident_ids` is muted: one read for all of a route's
        channels, rather than one per channel."""
        found: set[str] = set()
        async with self._reads.begin() as session:
            for chunk in _chunks(set(incident_ids)):
                query = select(mutes.c.channel).where(mutes.c.incident_id.in_(chunk)).distinct()
                found.update((await session.scalars(query)).all())
        return found

    async def due_reminders(self, *, now: datetime, limit: int = 500) -> list[DueReminder]:
        """Up to `limit` posted posts, the longest unreminded first, whose active subscription has a
        reminder period gone by since the post's last reminder (or its post), and whose incident
        (or the one it follows) is not muted in the channel.

        The database picks the candidates by epoch seconds (SQLite's are whole seconds, so it may pick
        a post up to a second early); the exact test on timedeltas is made here."""
        last = func.coalesce(channel_posts.c.reminded_at, channel_posts.c.posted_at)
        since = extract("epoch", last)
        unassigned, active = subscriptions.c.remind_unassigned_s, subscriptions.c.remind_active_s
        is_muted = exists().where(
            mutes.c.channel == channel_posts.c.channel,
            or_(
                mutes.c.incident_id == channel_posts.c.incident_id,
                mutes.c.incident_id == channel_posts.c.follows_id,
            ),
        )
        query = (
            select(*channel_posts.c, *(column.label(f"s_{column.name}") for column in subscriptions.c))
            .join(subscriptions, subscriptions.c.id == channel_posts.c.subscription_id)
            .where(
                channel_posts.c.state == "posted",
                subscriptions.c.paused_at.is_(None),
                or_(
                    and_(unassigned.is_not(None), since + unassigned <= now.timestamp()),
                    and_(active.is_not(None), since + active <= now.timestamp()),
                ),
                ~is_muted,
            )
            .order_by(last, channel_posts.c.id)
            .limit(limit)
        )
        async with self._reads.begin() as session:
            rows = (await session.execute(query)).all()
        due: list[DueReminder] = []
        for row in rows:
            post, subscription = _post(row), _subscription(row._mapping, "s_")
            reminded = post.reminded_at or post.posted_at
            assert reminded is not None  # a posted post has its posted_at
            unassigned_due = _gone_by(subscription.remind_unassigned, reminded, now)
            active_due = _gone_by(subscription.remind_active, reminded, now)
            if unassigned_due or active_due:
                due.append(DueReminder(post, subscription, unassigned_due, active_due))
        return due
