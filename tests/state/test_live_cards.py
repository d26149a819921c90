"""LiveCardStore on a real SQLite file and a real PostgreSQL: each test runs on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from bot.state.database import Database
from bot.state.live_cards import CHUNK, CardPlace, LiveCard, LiveCardStore, NewCard

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
MESSAGE = CardPlace("message", channel="C0SOC", ts="1700000000.000100")
UNFURL = CardPlace(
    "unfurl", channel="C0SOC", ts="1700000000.000200", url="https://security.microsoft.com/incidents/1"
)
EPHEMERAL = CardPlace("ephemeral", channel="C0SOC", response_url="https://hooks.slack.com/actions/T0/1/abc")


@pytest.fixture
def store(database: Database) -> LiveCardStore:
    return LiveCardStore(database)


async def _only(store: LiveCardStore, incident_id: str, now: datetime = NOW) -> LiveCard:
    (card,) = await store.following([incident_id], now=now)
    return card


def test_a_place_key_tells_every_place_apart() -> None:
    places = [
        MESSAGE,
        UNFURL,
        EPHEMERAL,
        CardPlace("message", channel="C0SOC", ts="1700000000.000101"),
        CardPlace(
            "unfurl",
            channel="C0SOC",
            ts="1700000000.000200",
            url="https://security.microsoft.com/incidents/2",
        ),
        # a link with "|" in it cannot pass for another place's link and response_url
        CardPlace("ephemeral", url="a|b"),
        CardPlace("ephemeral", url="a", response_url="b"),
    ]
    keys = {place.key for place in places}
    assert len(keys) == len(places)
    assert all(len(key) == 64 and int(key, 16) >= 0 for key in keys)
    assert CardPlace("message", channel="C0SOC", ts="1700000000.000100").key == MESSAGE.key


async def test_remembering_a_card_at_the_same_place_again_updates_it(store: LiveCardStore) -> None:
    await store.remember("2972395", "2972395", MESSAGE, "d1", now=NOW, expires_at=NOW + WEEK)
    await store.mark_needs_redraw([(await _only(store, "2972395")).id])
    later = NOW + timedelta(minutes=5)
    await store.remember("2972395", "2972395", MESSAGE, "d2", now=later, expires_at=later + WEEK, uses=2)
    assert await store.size() == 1
    card = await _only(store, "2972395")
    assert (card.digest, card.uses, card.needs_redraw) == ("d2", 2, False)
    assert (card.created_at, card.drawn_at, card.expires_at) == (NOW, later, later + WEEK)
    assert card.place == MESSAGE


async def test_remember_many_writes_a_batch_and_the_later_card_at_a_place_wins(store: LiveCardStore) -> None:
    await store.remember_many(
        [
            NewCard("1", "1", MESSAGE, "d1", NOW, NOW + WEEK),
            NewCard("2", "2", UNFURL, "d2", NOW, NOW + WEEK),
            NewCard("1", "3", MESSAGE, "d3", NOW, NOW + WEEK, uses=1),
        ]
    )
    await store.remember_many([])
    assert await store.size() == 2
    assert await store.followed_ids(now=NOW) == {"2", "3"}
    card = await _only(store, "3")
    assert (card.incident_id, card.digest, card.uses) == ("1", "d3", 1)


async def test_cards_and_their_versions_are_written_together(store: LiveCardStore) -> None:
    # One transaction: a watcher reading between two would see a card without its version and take
    # it for a change.
    await store.set_versions({"2": NOW + timedelta(minutes=1)})
    await store.remember_many(
        [NewCard("1", "1", MESSAGE, "d1", NOW, NOW + WEEK), NewCard("2", "2", UNFURL, "d2", NOW, NOW + WEEK)],
        {"1": NOW, "2": NOW},
    )
    assert await store.versions(["1", "2"]) == {"1": NOW, "2": NOW + timedelta(minutes=1)}  # never back


async def test_expired_cards_are_not_followed_nor_counted(store: LiveCardStore) -> None:
    await store.remember("1", "1", MESSAGE, "d", now=NOW, expires_at=NOW + timedelta(hours=1))
    await store.remember("2", "2", UNFURL, "d", now=NOW, expires_at=NOW + WEEK)
    await store.remember("1", "1", EPHEMERAL, "d", now=NOW, expires_at=NOW + WEEK)
    assert await store.count_live(now=NOW) == 3
    assert len(await store.following(["1"], now=NOW)) == 2
    later = NOW + timedelta(hours=1)  # the first card expires at exactly this instant
    assert await store.count_live(now=later) == 2
    assert [card.place for card in await store.following(["1", "2"], now=later)] == [UNFURL, EPHEMERAL]
    assert await store.followed_ids(now=later) == {"1", "2"}
    assert await store.followed_ids(now=NOW + WEEK) == set()
    assert await store.size() == 3


async def test_following_takes_more_ids_than_one_query_holds(store: LiveCardStore) -> None:
    cards = [
        NewCard(str(n), str(n), CardPlace("message", channel="C0SOC", ts=f"{n}.0"), "d", NOW, NOW + WEEK)
        for n in range(CHUNK + 20)
    ]
    await store.remember_many(cards)
    asked = [str(n) for n in range(3 * CHUNK)]
    found = await store.following(asked, now=NOW)
    assert sorted(card.follows_id for card in found) == sorted(card.follows_id for card in cards)
    assert [card.id for card in found] == sorted(card.id for card in found)
    assert await store.following([], now=NOW) == []


async def test_a_redrawn_card_shows_its_new_digest_and_incident(store: LiveCardStore) -> None:
    await store.remember("1", "1", EPHEMERAL, "d1", now=NOW, expires_at=NOW + WEEK, uses=1)
    card = await _only(store, "1")
    later = NOW + timedelta(minutes=3)
    await store.drawn(card.id, digest="d2", follows_id="9", now=later)  # 1 was merged into 9
    assert await store.following(["1"], now=later) == []
    redrawn = await _only(store, "9", later)
    assert (redrawn.incident_id, redrawn.digest, redrawn.drawn_at, redrawn.uses) == ("1", "d2", later, 1)
    await store.drawn(card.id, digest="d3", follows_id="9", now=later, uses=4)
    assert (await _only(store, "9", later)).uses == 4


async def test_the_needs_redraw_flag_round_trips(store: LiveCardStore) -> None:
    await store.remember("1", "1", MESSAGE, "d", now=NOW, expires_at=NOW + WEEK)
    await store.remember("2", "2", UNFURL, "d", now=NOW, expires_at=NOW + timedelta(hours=1))
    await store.remember("3", "3", EPHEMERAL, "d", now=NOW, expires_at=NOW + WEEK)
    ids = {card.follows_id: card.id for card in await store.following(["1", "2", "3"], now=NOW)}
    assert await store.needing_redraw(now=NOW) == set()
    await store.mark_needs_redraw([ids["1"], ids["2"]])
    await store.mark_needs_redraw([])
    assert await store.needing_redraw(now=NOW) == {"1", "2"}
    assert (await _only(store, "1")).needs_redraw
    assert await store.needing_redraw(now=NOW + timedelta(hours=1)) == {"1"}  # 2 has expired
    await store.drawn(ids["1"], digest="d2", follows_id="1", now=NOW)
    assert await store.needing_redraw(now=NOW) == {"2"}


async def test_expired_cards_come_oldest_first_and_are_forgotten(store: LiveCardStore) -> None:
    for hours, place in ((3, MESSAGE), (1, UNFURL), (2, EPHEMERAL)):
        await store.remember(
            str(hours), str(hours), place, "d", now=NOW, expires_at=NOW + timedelta(hours=hours)
        )
    assert await store.expired(now=NOW) == []
    expired = await store.expired(now=NOW + timedelta(hours=2))
    assert [card.follows_id for card in expired] == ["1", "2"]
    assert [card.follows_id for card in await store.expired(now=NOW + WEEK, limit=2)] == ["1", "2"]
    await store.forget([card.id for card in expired])
    await store.forget([])
    assert await store.size() == 1
    assert [card.follows_id for card in await store.expired(now=NOW + WEEK)] == ["3"]


async def test_versions_never_go_backwards(store: LiveCardStore) -> None:
    assert await store.versions(["1", "2"]) == {}
    await store.set_versions({"1": NOW, "2": NOW})
    await store.set_versions({"1": NOW - timedelta(minutes=1), "2": NOW + timedelta(minutes=1)})
    await store.set_versions({})
    assert await store.versions(["1", "2", "3"]) == {"1": NOW, "2": NOW + timedelta(minutes=1)}
    assert await store.versions([]) == {}


async def test_the_watermark_never_goes_backwards(store: LiveCardStore) -> None:
    assert await store.watermark() is None
    await store.set_watermark(NOW, now=NOW)
    await store.set_watermark(NOW - timedelta(minutes=5), now=NOW + timedelta(seconds=1))
    assert await store.watermark() == NOW
    await store.set_watermark(NOW + timedelta(minutes=1), now=NOW + timedelta(minutes=1))
    assert await store.watermark() == NOW + timedelta(minutes=1)
    await store.set_watermark(NOW - WEEK, now=NOW, name="heartbeat")
    assert await store.watermark("heartbeat") == NOW - WEEK
    assert await store.watermark() == NOW + timedelta(minutes=1)


async def test_datetimes_come_back_aware_in_utc(store: LiveCardStore) -> None:
    paris = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 2, 14, 0, tzinfo=paris)  # 12:00 UTC
    await store.remember("1", "1", MESSAGE, "d", now=local, expires_at=local + WEEK)
    await store.set_versions({"1": local})
    await store.set_watermark(local, now=local)
    card = await _only(store, "1")
    for value in (card.created_at, card.drawn_at, card.expires_at, *(await store.versions(["1"])).values()):
        assert value.tzinfo is UTC
    assert card.created_at == NOW and card.expires_at == NOW + WEEK
    watermark = await store.watermark()
    assert watermark is not None and watermark.tzinfo is UTC and watermark == NOW
    # an instant is compared as an instant, whatever zone it is given in
    assert await store.count_live(now=(NOW + WEEK - timedelta(seconds=1)).astimezone(paris)) == 1


async def test_a_naive_datetime_is_refused(store: LiveCardStore) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await store.remember("1", "1", MESSAGE, "d", now=datetime(2026, 3, 2), expires_at=NOW + WEEK)
    assert await store.size() == 0
