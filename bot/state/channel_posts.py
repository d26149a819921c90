"""The parent posts of channel subscriptions and their thread replies, each sent exactly once.

Slack has no idempotency key, so replicas (and a restart after a crash) agree through the database: a
message is first *claimed* (a row with the claimer's token), then sent, then marked done by the token
holder. A claim is one INSERT … ON CONFLICT DO NOTHING, and taking over a stale one is an UPDATE that
compares and sets the token and claim time it saw, so of any number of racing callers exactly one wins.
A claim older than `stale_after` may belong to a caller that crashed before or after Slack answered:
whoever takes it over is told so (`stale`) and must look in Slack before posting.

Each method is one short transaction; `now` comes from the caller. `SubscriptionStore`
(bot.state.subscriptions) is the class callers use: it adds the subscriptions to these methods.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Row, Table, and_, or_, select, update
from sqlalchemy.sql.dml import Insert

from bot.state.database import Database
from bot.state.live_cards import _chunks
from bot.state.tables import channel_posts, thread_replies

PostState = Literal["claimed", "posted"]
ReplyState = Literal["claimed", "sent"]
PostOutcome = Literal["won", "posted", "busy", "stale"]
ReplyOutcome = Literal["won", "sent", "busy", "stale"]


@dataclass(frozen=True)
class ChannelPost:
    """The one parent message of an incident in a channel (a row of channel_posts)."""

    id: int
    channel: str
    incident_id: str  # the incident the post was for
    follows_id: str  # the incident it follows now (another one after a merge)
    subscription_id: int | None  # None once that subscription is removed
    state: PostState
    claim_token: str
    claimed_at: datetime
    ts: str | None  # set once posted
    posted_at: datetime | None
    last_version: datetime | None  # the incident's lastUpdateDateTime the thread has replied up to
    last_fields: str | None  # JSON of what the thread has told (bot.blocks.thread_replies.ThreadFields)
    reminded_at: datetime | None
    reminders: int


@dataclass(frozen=True)
class ThreadReply:
    """One reply of the outbox (a row of thread_replies): one per post and change."""

    id: int
    post_id: int
    change_key: str
    state: ReplyState
    claim_token: str
    claimed_at: datetime
    ts: str | None  # set once sent


@dataclass(frozen=True)
class PostClaim:
    """What `claim_post` found. won: post it, then call `posted` with the token. posted: it is there
    already (`ts`). busy: another caller's live claim; leave it. stale: a claim too old, now this
    caller's: the message may or may not be in Slack, so look before posting."""

    outcome: PostOutcome
    post: ChannelPost  # the row after the claim
    # stale: when the claim taken over was made (its message, if it was sent, is no older than that;
    # `post.claimed_at` is this caller's claim now)
    taken_from: datetime | None = None

    @property
    def post_id(self) -> int:
        return self.post.id

    @property
    def ts(self) -> str | None:
        return self.post.ts


@dataclass(frozen=True)
class ReplyClaim:
    """What `claim_reply` found: won, sent (`ts`), busy or stale, as for `PostClaim`."""

    outcome: ReplyOutcome
    reply: ThreadReply
    taken_from: datetime | None = None  # stale: when the claim taken over was made

    @property
    def reply_id(self) -> int:
        return self.reply.id

    @property
    def ts(self) -> str | None:
        return self.reply.ts


def claim_stale_after(claim_idle_seconds: float) -> timedelta:
    """How long a post's or reply's claim lives before another replica may take it over: four times
    the intake's own takeover time (INTAKE_CLAIM_IDLE_SECONDS), at least 4 s. The post itself is
    bounded to three quarters of it, so a slow post is never taken for a dead one."""
    return timedelta(seconds=max(4.0, 4 * claim_idle_seconds))


def _post(row: Row[Any]) -> ChannelPost:
    return ChannelPost(**{column.name: getattr(row, column.name) for column in channel_posts.columns})


def _reply(row: Row[Any]) -> ThreadReply:
    return ThreadReply(**{column.name: getattr(row, column.name) for column in thread_replies.columns})


class ChannelPostStore:
    """The channel_posts and thread_replies tables, on SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sessions = database.sessions
        self._reads = database.reads  # no write lock on SQLite: reads go on beside a writer

    def _insert(self, table: Any) -> Insert:
        return self._database.insert(table)

    async def _claim(
        self,
        table: Table,
        key: dict[str, Any],
        extra: dict[str, Any],
        *,
        done: str,
        token: str,
        now: datetime,
        stale_after: timedelta,
    ) -> tuple[str, Row[Any], datetime | None]:
        """(outcome, row after, when the claim taken over was made) for the row of `key`: won,
        `done`, busy or stale (only stale has the third).

        The INSERT comes first, so on SQLite the whole claim runs under the write lock; on PostgreSQL
        it waits for a racing insert of the same key to commit, and the UPDATE's WHERE is checked again
        on the latest row, so only one of two takeovers of a stale claim matches."""
        claim = {"state": "claimed", "claim_token": token, "claimed_at": now}
        statement: Any = self._insert(table).values(**key, **extra, **claim)
        statement = statement.on_conflict_do_nothing(index_elements=[table.c[name] for name in key])
        where_key = and_(*(table.c[name] == value for name, value in key.items()))
        async with self._sessions.begin() as session:
            row = (await session.execute(statement.returning(*table.c))).first()
            if row is not None:
                return "won", row, None
            row = (await session.execute(select(table).where(where_key))).one()
            if row.state == done:
                return done, row, None
            if now - row.claimed_at < stale_after:
                return "busy", row, None
            take = (
                update(table)
                .where(
                    table.c.id == row.id,
                    table.c.state == "claimed",
                    table.c.claim_token == row.claim_token,
                    table.c.claimed_at == row.claimed_at,
                )
                .values(claim_token=token, claimed_at=now)
                .returning(*table.c)
            )
            taken = (await session.execute(take)).first()
            if taken is not None:
                return "stale", taken, row.claimed_at
            # another caller took it over (or finished it) between the read and the update
            row = (await session.execute(select(table).where(table.c.id == row.id))).one()
            return (done if row.state == done else "busy"), row, None

    async def _finish(
        self, table: Table, row_id: int, *, token: str, ts: str, values: dict[str, Any]
    ) -> bool:
        """Mark a claimed row done for its token holder; True too for a retry that finds it done
        with the same token and ts (the first answer was lost)."""
        finish = (
            update(table)
            .where(table.c.id == row_id, table.c.state == "claimed", table.c.claim_token == token)
            .values(ts=ts, **values)
            .returning(table.c.id)
        )
        async with self._sessions.begin() as session:
            if (await session.execute(finish)).first() is not None:
                return True
            row = (await session.execute(select(table).where(table.c.id == row_id))).first()
        return row is not None and row.state != "claimed" and (row.claim_token, row.ts) == (token, ts)

    async def claim_post(
        self,
        channel: str,
        incident_id: str,
        subscription_id: int | None,
        *,
        token: str,
        now: datetime,
        stale_after: timedelta,
    ) -> PostClaim:
        """Claim the parent post of `incident_id` in `channel`. `token` must be new for each attempt;
        `stale_after` must exceed the longest a post can take, or a slow poster's message doubles."""
        outcome, row, taken_from = await self._claim(
            channel_posts,
            {"channel": channel, "incident_id": incident_id},
            {"follows_id": incident_id, "subscription_id": subscription_id},
            done="posted",
            token=token,
            now=now,
            stale_after=stale_after,
        )
        return PostClaim(cast(PostOutcome, outcome), _post(row), taken_from)

    async def posted(
        self, post_id: int, *, token: str, ts: str, version: datetime, fields: str, now: datetime
    ) -> bool:
        """The claimed post is in Slack at `ts`, showing `version` (lastUpdateDateTime) and `fields`.
        False when `token` no longer holds the claim (it went stale and was taken over)."""
        values = {"state": "posted", "posted_at": now, "last_version": version, "last_fields": fields}
        return await self._finish(channel_posts, post_id, token=token, ts=ts, values=values)

    async def post_for(self, channel: str, incident_id: str) -> ChannelPost | None:
        """The post of `incident_id` in `channel`, claimed or posted."""
        where = and_(channel_posts.c.channel == channel, channel_posts.c.incident_id == incident_id)
        async with self._reads.begin() as session:
            row = (await session.execute(select(channel_posts).where(where))).first()
        return _post(row) if row is not None else None

    async def posts_following(self, incident_ids: Collection[str]) -> list[ChannelPost]:
        """The posted posts following any of `incident_ids` (in any channel), oldest first: the
        threads a change of those incidents is replied in."""
        found: list[ChannelPost] = []
        async with self._reads.begin() as session:
            for chunk in _chunks(set(incident_ids)):
                query = select(channel_posts).where(
                    channel_posts.c.follows_id.in_(chunk), channel_posts.c.state == "posted"
                )
                found += map(_post, await session.execute(query))
        return sorted(found, key=lambda post: post.id)

    async def stale_claims(
        self, *, now: datetime, stale_after: timedelta, limit: int = 200
    ) -> list[ChannelPost]:
        """Posts claimed longer than `stale_after` ago and never recorded as posted: a replica died
        between its claim and its record (or before it posted). The watcher routes their incidents
        again, and the claim's taker looks in the channel before posting."""
        query = (
            select(channel_posts)
            .where(channel_posts.c.state == "claimed", channel_posts.c.claimed_at <= now - stale_after)
            .order_by(channel_posts.c.id)
            .limit(limit)
        )
        async with self._reads.begin() as session:
            return [_post(row) for row in await session.execute(query)]

    async def follow(self, post_id: int, follows_id: str) -> None:
        """The post's incident was merged into `follows_id`: its thread follows that one now."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(channel_posts).where(channel_posts.c.id == post_id).values(follows_id=follows_id)
            )

    async def replied(self, post_id: int, *, version: datetime, fields: str) -> bool:
        """The thread has replied up to `version` (lastUpdateDateTime), whose told fields are
        `fields`. A version older than the one recorded is ignored (replicas may race): False."""
        current = channel_posts.c.last_version
        statement = (
            update(channel_posts)
            .where(channel_posts.c.id == post_id, or_(current.is_(None), current <= version))
            .values(last_version=version, last_fields=fields)
            .returning(channel_posts.c.id)
        )
        async with self._sessions.begin() as session:
            return (await session.execute(statement)).first() is not None

    async def reminded(self, post_id: int, *, now: datetime) -> None:
        """A reminder was sent in the post's thread. Sending it through `claim_reply` with a change
        key naming its number (e.g. f"reminder:{post.reminders + 1}") keeps it to one per replica set."""
        statement = (
            update(channel_posts)
            .where(channel_posts.c.id == post_id)
            .values(reminded_at=now, reminders=channel_posts.c.reminders + 1)
        )
        async with self._sessions.begin() as session:
            await session.execute(statement)

    async def claim_reply(
        self, post_id: int, change_key: str, *, token: str, now: datetime, stale_after: timedelta
    ) -> ReplyClaim:
        """Claim the reply about `change_key` (e.g. the change's kind and version) in the post's
        thread: won, sent, busy or stale as for `claim_post`."""
        outcome, row, taken_from = await self._claim(
            thread_replies,
            {"post_id": post_id, "change_key": change_key},
            {},
            done="sent",
            token=token,
            now=now,
            stale_after=stale_after,
        )
        return ReplyClaim(cast(ReplyOutcome, outcome), _reply(row), taken_from)

    async def reply_sent(self, reply_id: int, *, token: str, ts: str) -> bool:
        """The claimed reply is in the thread at `ts`; False when `token` no longer holds the claim."""
        return await self._finish(thread_replies, reply_id, token=token, ts=ts, values={"state": "sent"})
