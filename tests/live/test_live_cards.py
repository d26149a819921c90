"""Live cards end to end, in one process on SQLite: every card the bot put in Slack is redrawn where it
is when Defender changes the incident, once per change; an unchanged one is never touched."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.blocks.ids import ActionId
from bot.state.live_cards import CardPlace
from tests.fakes.slack_api import SlackCall
from tests.listeners.conftest import SlackWorld, WorldFactory, portal_link
from tests.listeners.test_actions import action_ids, card_element, card_field, click
from tests.world import CHANNEL, link_shared, metric

INCIDENT = "2972395"
UNCHANGED = "7001"
POLL = 1.0
# The bound: within one poll interval plus 5 s of the change.
WITHIN = POLL + 5


def redraws_of(world: SlackWorld, *, after: float) -> dict[str, list[SlackCall]]:
    """The Slack calls that redrew a card since `after` (time.monotonic), by surface."""
    calls = [c for c in world.slack.calls if c.time > after]
    return {
        "message": [c for c in calls if c.method == "chat.update"],
        "unfurl": [c for c in calls if c.method == "chat.unfurl"],
        "ephemeral": [c for c in calls if c.method == "response_url:cmd2" and c.args.get("replace_original")],
        "other": [c for c in calls if c.method.startswith("response_url:other")],
    }


def text_of(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def blocks_of(call: SlackCall) -> list[dict[str, Any]]:
    if call.method == "chat.unfurl":
        unfurls = call.args["unfurls"]
        return list(next(iter(unfurls.values()))["blocks"])
    return list(call.args["blocks"])


async def three_cards(world: SlackWorld) -> None:
    """A card of INCIDENT on each surface (the /incident answer, a shared message, an unfurl), and
    one /incident answer of an incident nobody changes."""
    await world.command(INCIDENT, response="cmd")
    [card] = await world.slack.wait_for("response_url:cmd")
    await world.interact(
        click(world, "ephemeral", card_element(card.args["blocks"], ActionId.SHARE), response="cmd")
    )
    await world.slack.wait_for("chat.postMessage")
    await world.command(INCIDENT, response="cmd2")  # its own ephemeral card, not shared
    await world.event(link_shared([portal_link(INCIDENT)], event_id="Ev0LIVE1"))
    await world.slack.wait_for("chat.unfurl")
    await world.command(UNCHANGED, response="other")
    await world.slack.wait_for("response_url:other")
    await world.settle()
    await world.bot.live.flush()


async def wait_for_redraws(
    world: SlackWorld, after: float, wanted: dict[str, int]
) -> dict[str, list[SlackCall]]:
    async with asyncio.timeout(WITHIN):
        while True:
            seen = redraws_of(world, after=after)
            if all(len(seen[surface]) >= count for surface, count in wanted.items()):
                return seen
            await asyncio.sleep(0.05)


async def test_every_card_of_a_changed_incident_is_redrawn_once_where_it_is(
    start_world: WorldFactory,
) -> None:
    world = await start_world(live_poll_seconds=POLL)
    await three_cards(world)
    shared = world.slack.calls_to("chat.postMessage")[0]
    started = asyncio.get_running_loop().time()
    world.api.change(
        "v1.0",
        INCIDENT,
        status="inProgress",
        assignedTo="bob@contoso.com",
        customTags=["Finance", "Contained"],
        comment="Isolated WS-FIN-042 from the network.",
    )
    after = time.monotonic()
    seen = await wait_for_redraws(world, after, {"message": 1, "unfurl": 1, "ephemeral": 1})
    assert asyncio.get_running_loop().time() - started <= WITHIN
    [update] = seen["message"]
    assert update.args["blocks"][0]["elements"][0]["text"] == "Shared by <@U0WRITER>"  # kept on redraw
    assert (update.args["channel"], update.args["ts"]) == (
        CHANNEL,
        shared.args.get("ts") or update.args["ts"],
    )
    for surface in ("message", "unfurl", "ephemeral"):
        [call] = seen[surface]
        blocks = blocks_of(call)
        assert card_field(blocks, "Assigned to") == "bob@contoso.com"
        assert card_field(blocks, "Status") == "In progress"
        assert "Contained" in card_field(blocks, "Tags")
        assert "Isolated WS-FIN-042 from the network." in text_of(blocks)
        assert "Live · checked" in text_of(blocks)
    # Two more polls: nothing is redrawn again, and the incident nobody changed never was.
    await asyncio.sleep(2.5 * POLL)
    again = redraws_of(world, after=after)
    async with world.http.get(f"http://127.0.0.1:{world.bot.port}/metrics") as response:
        metrics = await response.text()
    assert metric(metrics, "incident_bot_live_leader") == 1.0
    # Four: the three above, and the /incident answer that was shared (Slack deleted it at the bot's
    # word; its record stays until its response_url runs out, and the replace is a no-op there).
    redrawn = metric(metrics, "incident_bot_live_cards_redrawn_total")
    assert (redrawn, metric(metrics, "incident_bot_live_changes_total")) == (4.0, 1.0)
    assert "incident_bot_live_lag_seconds" in metrics and "incident_bot_live_polls_total" in metrics
    assert {surface: len(calls) for surface, calls in again.items()} == {
        "message": 1, "unfurl": 1, "ephemeral": 1, "other": 0,
    }  # fmt: skip


async def test_a_merged_incident_card_shows_the_target_and_follows_its_changes(
    start_world: WorldFactory,
) -> None:
    world = await start_world(live_poll_seconds=POLL)
    source = dict(world.api.incidents["v1.0"][INCIDENT], id="7100", displayName="Suspicious sign-in")
    source.pop("alerts", None)
    world.api.put("v1.0", source)
    await world.command("7100", response="cmd2")
    await world.slack.wait_for("response_url:cmd2")
    await world.settle()
    after = time.monotonic()
    world.api.change("v1.0", "7100", status="redirected", redirectIncidentId=INCIDENT)
    seen = await wait_for_redraws(world, after, {"ephemeral": 1})
    blocks = blocks_of(seen["ephemeral"][0])
    assert "Incident 7100 was merged into 2972395" in text_of(blocks)
    after = time.monotonic()
    world.api.change("v1.0", INCIDENT, assignedTo="carol@contoso.com")  # the target changes: the card follows
    seen = await wait_for_redraws(world, after, {"ephemeral": 1})
    blocks = blocks_of(seen["ephemeral"][0])
    assert card_field(blocks, "Assigned to") == "carol@contoso.com"
    assert "Incident 7100 was merged into 2972395" in text_of(blocks)


async def test_a_card_resolved_in_defender_shows_who_resolved_it_and_offers_reopen(
    start_world: WorldFactory,
) -> None:
    world = await start_world(live_poll_seconds=POLL)
    await world.command(INCIDENT, response="cmd2")
    [first] = await world.slack.wait_for("response_url:cmd2")
    assert ActionId.RESOLVE.value in action_ids(first.args["blocks"])
    await world.settle()
    after = time.monotonic()
    world.api.change(
        "v1.0",
        INCIDENT,
        status="resolved",
        classification="truePositive",
        determination="malware",
        lastModifiedBy="kai@contoso.com",
        resolvingComment="Reimaged the host.",
    )
    seen = await wait_for_redraws(world, after, {"ephemeral": 1})
    blocks = blocks_of(seen["ephemeral"][0])
    assert card_field(blocks, "Status") == "Resolved"
    assert card_field(blocks, "Classification") == "True positive"
    assert "Resolved* by kai@contoso.com" in text_of(blocks)
    ids = action_ids(blocks)
    assert ActionId.REOPEN.value in ids and ActionId.RESOLVE.value not in ids


async def test_a_deleted_message_is_forgotten_and_an_expired_response_url_never_called(
    start_world: WorldFactory,
) -> None:
    world = await start_world(live_poll_seconds=POLL)
    await world.command(INCIDENT, response="cmd")
    [card] = await world.slack.wait_for("response_url:cmd")
    await world.interact(
        click(world, "ephemeral", card_element(card.args["blocks"], ActionId.SHARE), response="cmd")
    )
    await world.slack.wait_for("chat.postMessage")
    await world.settle()
    store = world.bot.live.store
    long_ago = datetime.now(UTC) - timedelta(minutes=31)
    snapshot = await world.bot.services.incidents.get(INCIDENT)
    old = world.bot.live.card(
        snapshot, CardPlace("ephemeral", channel=CHANNEL, response_url=world.slack.response_url("old")),
        now=long_ago, asked_for=INCIDENT, uses=1,
    )  # fmt: skip
    await store.remember_many([old])
    world.slack.fail_next("chat.update", error="message_not_found", status=200)
    after = time.monotonic()
    world.api.change("v1.0", INCIDENT, assignedTo="dave@contoso.com")
    await world.slack.wait_for("chat.update", timeout=WITHIN)
    await asyncio.sleep(1.5 * POLL)
    now = datetime.now(UTC)
    assert [c.place.surface for c in await store.following([INCIDENT], now=now)] == [
        "ephemeral"
    ]  # cmd's only
    assert await store.expired(now=now) == []  # the old response_url was forgotten
    assert [c for c in world.slack.calls_to("response_url:old") if c.time > after] == []
    assert len([c for c in world.slack.calls_to("chat.update") if c.time > after]) == 1  # not retried


async def test_a_429_on_the_list_call_pauses_the_watcher_and_misses_nothing(
    start_world: WorldFactory,
) -> None:
    world = await start_world(live_poll_seconds=POLL, incident_api_retries=0)
    await world.command(INCIDENT, response="cmd2")
    await world.slack.wait_for("response_url:cmd2")
    await world.settle()
    after = time.monotonic()
    world.api.fail_next(429, retry_after=3, path_contains="/security/incidents?")
    world.api.change("v1.0", INCIDENT, assignedTo="erin@contoso.com")
    seen = await wait_for_redraws(world, after, {"ephemeral": 1})
    assert card_field(blocks_of(seen["ephemeral"][0]), "Assigned to") == "erin@contoso.com"
    lists = [r.time for r in world.api.requests if r.method == "GET" and "$filter" in r.query]
    throttled = [t for t in lists if t > after]
    assert len(throttled) >= 2 and throttled[1] - throttled[0] >= 3 - 0.1  # it waited Retry-After


async def test_a_restarted_process_keeps_its_cards_live(start_world: WorldFactory) -> None:
    first = await start_world(live_poll_seconds=POLL)
    await first.command(INCIDENT, response="cmd2")
    await first.slack.wait_for("response_url:cmd2")
    await first.settle()
    await first.bot.stop(5)
    second = await start_world(live_poll_seconds=POLL)  # the same SQLite file
    after = time.monotonic()
    second.api.change("v1.0", INCIDENT, assignedTo="frank@contoso.com")
    seen = await wait_for_redraws(second, after, {"ephemeral": 1})
    assert card_field(blocks_of(seen["ephemeral"][0]), "Assigned to") == "frank@contoso.com"


async def test_a_bulk_redraw_beyond_slacks_pace_waits_for_later_polls_and_blocks_no_other_job(
    start_world: WorldFactory,
) -> None:
    # One chat.update a minute after a burst of 20: 25 cards leave 5 for later polls.
    world = await start_world(live_poll_seconds=POLL, live_slack_calls_per_minute=1)
    snapshot = await world.bot.services.incidents.get(INCIDENT)
    now = datetime.now(UTC)
    places = [CardPlace("message", channel=CHANNEL, ts=f"1700000999.{n:06d}") for n in range(25)]
    cards = [world.bot.live.card(snapshot, place, now=now, asked_for=INCIDENT) for place in places]
    await world.bot.live.remember(cards, snapshot.incident.last_update_date_time)
    after = time.monotonic()
    world.api.change("v1.0", INCIDENT, assignedTo="gina@contoso.com")
    await world.slack.wait_for("chat.update", count=20, timeout=WITHIN)
    # the workers are free: an unfurl asked now is answered at once, not after the bulk redraw
    asked = time.monotonic()
    await world.event(link_shared([portal_link(UNCHANGED)], event_id="Ev0LIVE2"))
    [unfurl] = await world.slack.wait_for("chat.unfurl", timeout=5)
    assert unfurl.time - asked < 2
    await asyncio.sleep(2 * POLL)
    assert len([c for c in world.slack.calls_to("chat.update") if c.time > after]) == 20
    flagged = [
        c for c in await world.bot.live.store.following([INCIDENT], now=datetime.now(UTC)) if c.needs_redraw
    ]
    assert len(flagged) == 5  # still waiting for Slack's pace, flagged for the next polls


async def test_cards_the_pace_deferred_are_drawn_later_from_the_copy_read_for_the_change(
    start_world: WorldFactory,
) -> None:
    # 30 chat.update a minute after a burst of 20 (a token every 2 s, past the 1 s a redraw waits):
    # 5 of 25 cards are deferred, and redrawn by the following polls' jobs. With a cache TTL of 1 s
    # those jobs would each read Defender again; they draw the version already read instead.
    world = await start_world(live_poll_seconds=POLL, live_slack_calls_per_minute=30, incident_cache_ttl=1)
    snapshot = await world.bot.services.incidents.get(INCIDENT)
    now = datetime.now(UTC)
    places = [CardPlace("message", channel=CHANNEL, ts=f"1700000888.{n:06d}") for n in range(25)]
    cards = [world.bot.live.card(snapshot, place, now=now, asked_for=INCIDENT) for place in places]
    await world.bot.live.remember(cards, snapshot.incident.last_update_date_time)
    after, reads = time.monotonic(), len(world.api.requests)
    world.api.change("v1.0", INCIDENT, assignedTo="gina@contoso.com")
    await world.slack.wait_for("chat.update", count=25, timeout=WITHIN + 15)
    await asyncio.sleep(3 * POLL)
    await world.settle()
    updates = [c for c in world.slack.calls_to("chat.update") if c.time > after]
    assert sorted(c.args["ts"] for c in updates) == sorted(p.ts for p in places)  # each once
    assert all("gina@contoso.com" in text_of(c.args["blocks"]) for c in updates)
    gets = [
        r
        for r in world.api.requests[reads:]
        if r.method == "GET" and r.path.endswith(f"/incidents/{INCIDENT}")
    ]
    assert len(gets) == 1
