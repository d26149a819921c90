"""SubscriptionStore on a real SQLite file and a real PostgreSQL: each test runs on both.

The claims are raced from several engines on one database, as replicas would."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from bot.state.channel_posts import PostClaim
from bot.state.database import Database
from bot.state.subscriptions import Subscription, SubscriptionStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
STALE = timedelta(minutes=5)
SOC, OPS = "C0SOC", "C0OPS"
RACERS = 20


@pytest.fixture
def store(database: Database) -> SubscriptionStore:
    return SubscriptionStore(database)


@pytest_asyncio.fixture
async def replicas(database: Database) -> AsyncIterator[list[SubscriptionStore]]:
    """Four stores on one database, each with an engine (a pool) of its own."""
    url = database.engine.url.render_as_string(hide_password=False)
    others = [Database.open(url) for _ in range(3)]
    try:
        yield [SubscriptionStore(each) for each in (database, *others)]
    finally:
        for each in others:
            await each.close()


async def _add(
    store: SubscriptionStore,
    channel: str = SOC,
    filter_text: str = "severity:high",
    *,
    remind_unassigned: timedelta | None = None,
    remind_active: timedelta | None = None,
    now: datetime = NOW,
) -> Subscription:
    return await store.add(
        channel,
        filter_text,
        updates="thread",
        remind_unassigned=remind_unassigned,
        remind_active=remind_active,
        created_by="U0ANA",
        now=now,
    )


async def _posted(
    store: SubscriptionStore, incident_id: str, subscription_id: int | None, *, now: datetime = NOW
) -> int:
    claim = await store.claim_post(SOC, incident_id, subscription_id, token="t", now=now, stale_after=STALE)
    assert claim.outcome == "won"
    assert await store.posted(
        claim.post_id, token="t", ts=f"{incident_id}.1", version=now, fields="d", now=now
    )
    return claim.post_id


# ---- subscriptions ----------------------------------------------------------------------------------


async def test_a_subscription_round_trips(store: SubscriptionStore) -> None:
    added = await _add(store, remind_unassigned=timedelta(minutes=30), remind_active=4 * HOUR)
    assert added == Subscription(
        id=added.id,
        channel=SOC,
        filter="severity:high",
        updates="thread",
        remind_unassigned=timedelta(minutes=30),
        remind_active=4 * HOUR,
        created_by="U0ANA",
        created_at=NOW,
        paused_at=None,
        paused_reason=None,
    )
    assert added.created_at.tzinfo is UTC and not added.paused
    assert await store.get(added.id) == added
    assert await store.get(added.id + 1000) is None
    other = await _add(store, OPS, "status:active")
    assert other.remind_unassigned is None and other.remind_active is None
    assert await store.in_channel(SOC) == [added]
    assert await store.active() == [added, other]
    assert await store.count_active() == 2


async def test_a_filter_too_long_or_a_period_under_a_second_is_refused(store: SubscriptionStore) -> None:
    await _add(store, filter_text="x" * 600)
    with pytest.raises(ValueError, match="at most 600"):
        await _add(store, filter_text="x" * 601)
    with pytest.raises(ValueError, match="a second or more"):
        await _add(store, remind_active=timedelta(milliseconds=500))
    assert await store.count_active() == 1


async def test_a_channel_removes_its_own_subscription_and_no_other(store: SubscriptionStore) -> None:
    ours, theirs = await _add(store), await _add(store, OPS)
    assert not await store.remove(theirs.id, channel=SOC)
    assert await store.get(theirs.id) == theirs
    assert await store.remove(ours.id, channel=SOC)
    assert not await store.remove(ours.id, channel=SOC)
    assert await store.in_channel(SOC) == []
    assert await store.active() == [theirs]


async def test_a_removed_subscription_id_is_never_given_again(store: SubscriptionStore) -> None:
    first = await _add(store)
    assert await store.remove(first.id, channel=SOC)
    assert (await _add(store)).id > first.id


async def test_a_removed_subscription_leaves_its_posts(store: SubscriptionStore) -> None:
    subscription = await _add(store)
    post_id = await _posted(store, "1", subscription.id)
    assert await store.remove(subscription.id, channel=SOC)
    post = await store.post_for(SOC, "1")
    assert post is not None and (post.id, post.subscription_id, post.state) == (post_id, None, "posted")


async def test_a_channel_is_paused_and_resumed(store: SubscriptionStore) -> None:
    first, second, other = (
        await _add(store),
        await _add(store, filter_text="status:new"),
        await _add(store, OPS),
    )
    later = NOW + HOUR
    paused = await store.pause_channel(SOC, "not_in_channel", now=later)
    assert [each.id for each in paused] == [first.id, second.id]
    assert all(
        each.paused and each.paused_at == later and each.paused_reason == "not_in_channel" for each in paused
    )
    assert await store.pause_channel(SOC, "again", now=later + HOUR) == []  # already paused
    assert await store.active() == [other]
    assert await store.count_active() == 1
    assert [each.paused_reason for each in await store.in_channel(SOC)] == ["not_in_channel"] * 2
    resumed = await store.resume_channel(SOC)
    assert resumed == [first, second]
    assert await store.resume_channel(SOC) == []
    assert await store.count_active() == 3
    (long,) = await store.pause_channel(OPS, "x" * 100, now=later)
    assert long.paused_reason == "x" * 64


async def test_mutes(store: SubscriptionStore) -> None:
    assert await store.muting_channels(["1", "2"]) == set()
    assert await store.mute(SOC, "1", by="U0ANA", now=NOW)
    assert not await store.mute(SOC, "1", by="U0BOB", now=NOW + HOUR)
    assert await store.mute(OPS, "2", by="U0ANA", now=NOW)
    assert await store.muting_channels(["1", "3"]) == {SOC}
    assert await store.muting_channels(["1", "2"]) == {SOC, OPS}
    assert await store.muting_channels([]) == set()
    assert await store.muting_channels([str(n) for n in range(1200)]) == {SOC, OPS}  # several queries
    assert await store.unmute(SOC, "1")
    assert not await store.unmute(SOC, "1")
    assert await store.muting_channels(["1"]) == set()


# ---- posts ------------------------------------------------------------------------------------------


async def test_of_twenty_racing_claims_exactly_one_wins(replicas: list[SubscriptionStore]) -> None:
    claims = await asyncio.gather(
        *(
            replicas[n % len(replicas)].claim_post(SOC, "1", None, token=f"t{n}", now=NOW, stale_after=STALE)
            for n in range(RACERS)
        )
    )
    assert Counter(claim.outcome for claim in claims) == {"won": 1, "busy": RACERS - 1}
    (won,) = (claim for claim in claims if claim.outcome == "won")
    assert {claim.post_id for claim in claims} == {won.post_id}
    post = await replicas[0].post_for(SOC, "1")
    assert post is not None and post == won.post
    assert (post.state, post.claim_token, post.claimed_at, post.ts) == (
        "claimed",
        won.post.claim_token,
        NOW,
        None,
    )
    assert (post.incident_id, post.follows_id, post.reminders) == ("1", "1", 0)


async def test_once_posted_a_claim_answers_posted_with_the_ts(store: SubscriptionStore) -> None:
    subscription = await _add(store)
    claim = await store.claim_post(SOC, "1", subscription.id, token="t0", now=NOW, stale_after=STALE)
    assert claim.outcome == "won"
    later = NOW + timedelta(seconds=2)
    assert not await store.posted(claim.post_id, token="t1", ts="1.1", version=NOW, fields="d", now=later)
    assert await store.posted(claim.post_id, token="t0", ts="1.1", version=NOW, fields="d", now=later)
    # a retry whose first answer was lost is told yes; another ts is not
    assert await store.posted(claim.post_id, token="t0", ts="1.1", version=NOW, fields="d", now=later)
    assert not await store.posted(claim.post_id, token="t0", ts="1.2", version=NOW, fields="d", now=later)
    for when in (later, NOW + 10 * HOUR):  # however late: a posted post is never posted again
        again = await store.claim_post(SOC, "1", subscription.id, token="t2", now=when, stale_after=STALE)
        assert (again.outcome, again.ts, again.post_id) == ("posted", "1.1", claim.post_id)
    post = again.post
    assert (post.state, post.posted_at, post.last_version, post.last_fields) == ("posted", later, NOW, "d")
    assert post.subscription_id == subscription.id
    # another channel, or another incident, is a post of its own
    assert (await store.claim_post(OPS, "1", None, token="t3", now=NOW, stale_after=STALE)).outcome == "won"
    assert (await store.claim_post(SOC, "2", None, token="t4", now=NOW, stale_after=STALE)).outcome == "won"


async def test_a_stale_claim_is_taken_over_exactly_once(replicas: list[SubscriptionStore]) -> None:
    first = await replicas[0].claim_post(SOC, "1", None, token="old", now=NOW, stale_after=STALE)
    young = await replicas[1].claim_post(
        SOC, "1", None, token="young", now=NOW + STALE / 2, stale_after=STALE
    )
    assert young.outcome == "busy" and young.post.claim_token == "old"
    later = NOW + STALE
    claims: list[PostClaim] = await asyncio.gather(
        *(
            replicas[n % len(replicas)].claim_post(
                SOC, "1", None, token=f"t{n}", now=later, stale_after=STALE
            )
            for n in range(RACERS)
        )
    )
    assert Counter(claim.outcome for claim in claims) == {"stale": 1, "busy": RACERS - 1}
    (stale,) = (claim for claim in claims if claim.outcome == "stale")
    assert stale.post_id == first.post_id
    assert (stale.post.claim_token, stale.post.claimed_at) == (f"t{claims.index(stale)}", later)
    # the crashed claimer's late answer no longer counts; the new holder's does
    store = replicas[0]
    assert not await store.posted(first.post_id, token="old", ts="1.1", version=NOW, fields="d", now=later)
    assert await store.posted(
        first.post_id, token=stale.post.claim_token, ts="1.2", version=NOW, fields="d", now=later
    )
    assert (await store.claim_post(SOC, "1", None, token="x", now=later, stale_after=STALE)).ts == "1.2"


async def test_posts_follow_their_incident_through_a_merge(store: SubscriptionStore) -> None:
    one, two = await _posted(store, "1", None), await _posted(store, "2", None)
    await store.claim_post(SOC, "3", None, token="t", now=NOW, stale_after=STALE)  # never posted
    assert [post.id for post in await store.posts_following(["1", "2", "3"])] == [one, two]
    await store.follow(one, "2")  # 1 was merged into 2
    assert await store.posts_following(["1"]) == []
    following = await store.posts_following(["2"])
    assert [(post.id, post.incident_id, post.follows_id) for post in following] == [
        (one, "1", "2"),
        (two, "2", "2"),
    ]
    assert await store.posts_following([]) == []


async def test_replied_never_goes_back_to_an_older_version(store: SubscriptionStore) -> None:
    post_id = await _posted(store, "1", None)
    assert await store.replied(post_id, version=NOW + HOUR, fields="d2")
    assert not await store.replied(post_id, version=NOW + HOUR / 2, fields="d1")
    assert await store.replied(post_id, version=NOW + HOUR, fields="d3")
    post = await store.post_for(SOC, "1")
    assert post is not None and (post.last_version, post.last_fields) == (NOW + HOUR, "d3")
    assert await store.post_for(SOC, "2") is None


# ---- replies ----------------------------------------------------------------------------------------


async def test_of_twenty_racing_reply_claims_exactly_one_wins_and_is_sent_once(
    replicas: list[SubscriptionStore],
) -> None:
    post_id = await _posted(replicas[0], "1", None)
    claims = await asyncio.gather(
        *(
            replicas[n % len(replicas)].claim_reply(
                post_id, "status:1", token=f"t{n}", now=NOW, stale_after=STALE
            )
            for n in range(RACERS)
        )
    )
    assert Counter(claim.outcome for claim in claims) == {"won": 1, "busy": RACERS - 1}
    (won,) = (claim for claim in claims if claim.outcome == "won")
    store = replicas[0]
    assert not await store.reply_sent(won.reply_id, token="other", ts="1.5")
    assert await store.reply_sent(won.reply_id, token=won.reply.claim_token, ts="1.5")
    again = await store.claim_reply(post_id, "status:1", token="x", now=NOW + HOUR, stale_after=STALE)
    assert (again.outcome, again.ts, again.reply_id) == ("sent", "1.5", won.reply_id)
    other = await store.claim_reply(post_id, "status:2", token="y", now=NOW, stale_after=STALE)
    assert other.outcome == "won" and other.reply_id != won.reply_id


async def test_a_stale_reply_claim_is_taken_over_exactly_once(replicas: list[SubscriptionStore]) -> None:
    post_id = await _posted(replicas[0], "1", None)
    first = await replicas[0].claim_reply(post_id, "owner:U0ANA", token="old", now=NOW, stale_after=STALE)
    later = NOW + 2 * STALE
    claims = await asyncio.gather(
        *(
            replicas[n % len(replicas)].claim_reply(
                post_id, "owner:U0ANA", token=f"t{n}", now=later, stale_after=STALE
            )
            for n in range(RACERS)
        )
    )
    assert Counter(claim.outcome for claim in claims) == {"stale": 1, "busy": RACERS - 1}
    (stale,) = (claim for claim in claims if claim.outcome == "stale")
    assert stale.reply_id == first.reply_id and stale.reply.claimed_at == later
    assert not await replicas[1].reply_sent(first.reply_id, token="old", ts="1.5")
    assert await replicas[1].reply_sent(first.reply_id, token=stale.reply.claim_token, ts="1.6")


# ---- reminders --------------------------------------------------------------------------------------


async def test_a_reminder_is_due_once_its_period_has_gone_by_since_the_last(store: SubscriptionStore) -> None:
    subscription = await _add(store, remind_unassigned=HOUR, remind_active=4 * HOUR)
    post_id = await _posted(store, "1", subscription.id)
    assert await store.due_reminders(now=NOW + HOUR - timedelta(seconds=1)) == []
    (due,) = await store.due_reminders(now=NOW + HOUR)
    assert (due.post.id, due.subscription, due.unassigned_due, due.active_due) == (
        post_id,
        subscription,
        True,
        False,
    )
    await store.reminded(post_id, now=NOW + HOUR)
    assert await store.due_reminders(now=NOW + 2 * HOUR - timedelta(seconds=1)) == []
    (due,) = await store.due_reminders(now=NOW + 5 * HOUR)
    assert (due.unassigned_due, due.active_due, due.post.reminders) == (True, True, 1)
    assert due.post.reminded_at == NOW + HOUR
    await store.reminded(post_id, now=NOW + 5 * HOUR)
    post = await store.post_for(SOC, "1")
    assert post is not None and (post.reminders, post.reminded_at) == (2, NOW + 5 * HOUR)


async def test_a_reminder_is_exact_to_the_microsecond(store: SubscriptionStore) -> None:
    subscription = await _add(store, remind_active=HOUR)
    posted_at = NOW + timedelta(microseconds=700_000)
    await _posted(store, "1", subscription.id, now=posted_at)
    # SQLite's epoch seconds are whole: the store must not take 12:00:00.7 + 1 h as due at 13:00:00.3
    assert await store.due_reminders(now=NOW + HOUR + timedelta(microseconds=300_000)) == []
    assert len(await store.due_reminders(now=posted_at + HOUR)) == 1


async def test_only_posted_unmuted_posts_of_active_reminding_subscriptions_are_due(
    store: SubscriptionStore,
) -> None:
    reminding = await _add(store, remind_unassigned=HOUR)
    silent = await _add(store)
    elsewhere = await _add(store, OPS, remind_active=HOUR)
    await store.claim_post(SOC, "1", reminding.id, token="t", now=NOW, stale_after=STALE)  # not posted
    await _posted(store, "2", silent.id)
    await _posted(store, "3", None)
    due_id = await _posted(store, "4", reminding.id)
    muted_id = await _posted(store, "5", reminding.id)
    merged_id = await _posted(store, "6", reminding.id)
    await store.mute(SOC, "5", by="U0ANA", now=NOW)
    await store.follow(merged_id, "7")
    await store.mute(SOC, "7", by="U0ANA", now=NOW)  # muted under the incident it follows now
    await store.mute(OPS, "4", by="U0ANA", now=NOW)  # muted in another channel only
    claim = await store.claim_post(OPS, "8", elsewhere.id, token="t", now=NOW - HOUR, stale_after=STALE)
    await store.posted(claim.post_id, token="t", ts="8.1", version=NOW, fields="d", now=NOW - HOUR)
    later = NOW + 2 * HOUR
    assert [due.post.id for due in await store.due_reminders(now=later)] == [claim.post_id, due_id]
    assert [due.post.id for due in await store.due_reminders(now=later, limit=1)] == [claim.post_id]
    assert muted_id not in {due.post.id for due in await store.due_reminders(now=later)}
    await store.pause_channel(OPS, "channel_not_found", now=NOW)
    assert [due.post.id for due in await store.due_reminders(now=later)] == [due_id]
    await store.resume_channel(OPS)
    assert len(await store.due_reminders(now=later)) == 2
