"""500/503 bursts, connection resets and answers slower than INCIDENT_API_TIMEOUT.

Reads are retried; when the retries run out, a cached card is shown marked stale and an uncached
one is refused in words. Every link_shared event gets exactly one chat.unfurl either way. A
comment is a POST that is not idempotent: it must never be stored twice, and what the person is
told must be true.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.fakes import FakeIncidentApi
from tests.faults.conftest import (
    STALE_MARK,
    add_copies,
    gets_of,
    link_event,
    message_ts,
    unfurl_text,
    unfurls_of,
)
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import INCIDENT, told
from tests.listeners.test_views import SIGNED, comment_values, modal, submission

UNAVAILABLE = "incident API is unavailable right now"


async def unfurl_all(world: SlackWorld, incident_ids: list[str], first: int = 0) -> list[str]:
    """One link_shared event per incident id; returns the chat.unfurl text of each, in order.

    Asserts that every event was acked and answered with exactly one chat.unfurl.
    """
    answers = await asyncio.gather(
        *(world.event(link_event(i, first + n)) for n, i in enumerate(incident_ids))
    )
    assert [a.status for a in answers] == [200] * len(incident_ids)
    await world.slack.wait_for("chat.unfurl", count=len(incident_ids), timeout=20)
    await world.settle()
    texts = []
    for n in range(len(incident_ids)):
        [call] = unfurls_of(world.slack, message_ts(first + n))
        texts.append(unfurl_text(call))
    return texts


async def cache_then_expire(world: SlackWorld, incident_id: str, serial: int) -> None:
    """Read the incident once (cached, TTL 1 s), then let the cached copy go past its TTL."""
    [text] = await unfurl_all(world, [incident_id], first=serial)
    assert STALE_MARK not in text
    await asyncio.sleep(1.1)


def comments_saved(api: FakeIncidentApi, text: str) -> int:
    incident = api.get("v1.0", INCIDENT)
    assert incident is not None
    return sum(1 for c in incident.get("comments") or [] if text in str(c.get("comment")))


async def submit_comment(world: SlackWorld, text: str, arm: Any) -> None:
    """Open the comment modal (its GET caches the incident), arm the fault, submit."""
    view = await modal(world, "comment")
    arm()
    answer = await world.interact(submission(view, comment_values(text)))
    assert answer.status == 200 and answer.text == ""


# ---- 500 / 503 ---------------------------------------------------------------------------------


async def test_a_short_5xx_burst_is_retried_and_every_unfurl_is_fresh(start_ready: WorldFactory) -> None:
    world = await start_ready(incident_api_retries=4)
    ids = add_copies(world.api, 6, first_id=940000)
    world.api.fail_next(503, count=3, retry_after=0)
    world.api.fail_next(500, count=1)
    texts = await unfurl_all(world, ids)
    assert all(f"Incident {i}" in t and STALE_MARK not in t for i, t in zip(ids, texts, strict=True))
    assert sum(gets_of(world.api, i) for i in ids) == len(ids) + 4


async def test_a_long_5xx_burst_serves_stale_cards_or_says_unavailable(start_ready: WorldFactory) -> None:
    world = await start_ready(incident_cache_ttl=1)
    cached, uncached = add_copies(world.api, 2, first_id=941000)
    await cache_then_expire(world, cached, serial=100)
    world.api.fail_next(503, count=1000, retry_after=0)
    stale, refused = await unfurl_all(world, [cached, uncached])
    assert STALE_MARK in stale and f"Incident {cached}" in stale
    assert UNAVAILABLE in refused and f"Incident {uncached}" not in refused
    # one call, its retries, no more: 3 tries each
    assert (gets_of(world.api, cached), gets_of(world.api, uncached)) == (1 + 3, 3)


# ---- connection resets -----------------------------------------------------------------------


async def test_a_reset_read_is_retried_and_the_card_arrives(start_ready: WorldFactory) -> None:
    world = await start_ready()
    [incident_id] = add_copies(world.api, 1, first_id=942000)
    world.api.reset_connection_next(2)
    [text] = await unfurl_all(world, [incident_id])
    assert f"Incident {incident_id}" in text and STALE_MARK not in text
    assert gets_of(world.api, incident_id) == 3


async def test_resets_on_every_try_serve_stale_cards_or_say_unavailable(start_ready: WorldFactory) -> None:
    world = await start_ready(incident_cache_ttl=1)
    cached, uncached = add_copies(world.api, 2, first_id=943000)
    await cache_then_expire(world, cached, serial=200)
    world.api.reset_connection_next(6)  # two reads, three tries each
    stale, refused = await unfurl_all(world, [cached, uncached])
    assert STALE_MARK in stale
    assert UNAVAILABLE in refused and "did not answer" in refused


async def test_a_reset_comment_post_is_sent_again_only_after_a_read_shows_it_missing(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready()
    text = "Reset once."
    await submit_comment(world, text, lambda: world.api.reset_connection_next(1))
    await world.settle()
    sequence = [r.method for r in world.api.requests if "/incidents/" in r.path and r.method != "PATCH"]
    first_post = sequence.index("POST")
    # reset; read the comments (not there); post again; read the incident back for the card
    assert sequence[first_post:] == ["POST", "GET", "POST", "GET"]
    assert comments_saved(world.api, text) == 1


async def test_a_comment_whose_post_was_reset_is_stored_exactly_once(start_ready: WorldFactory) -> None:
    world = await start_ready()
    text = "Reset, then saved once."
    await submit_comment(world, text, lambda: world.api.reset_connection_next(1))
    await world.settle()
    assert comments_saved(world.api, f"{text}\n\n{SIGNED}") == 1
    assert not any("Nothing was changed" in note for note in told(world.slack))


# ---- slower than the timeout -----------------------------------------------------------------


async def test_reads_slower_than_the_timeout_serve_stale_cards_or_say_unavailable(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready(
        incident_cache_ttl=1, incident_api_timeout=0.3, incident_api_retries=1, incident_api_deadline=2
    )
    cached, uncached = add_copies(world.api, 2, first_id=944000)
    await cache_then_expire(world, cached, serial=300)
    world.api.latency = 1.0
    started = time.monotonic()
    stale, refused = await unfurl_all(world, [cached, uncached])
    # two tries of 0.3 s and one back-off (at most 0.5 s), not the API's 1 s each
    assert time.monotonic() - started < 1.8
    assert STALE_MARK in stale
    assert UNAVAILABLE in refused and "ReadTimeout" in refused


async def test_a_comment_post_slower_than_the_timeout_is_not_reported_as_unchanged(
    start_ready: WorldFactory,
) -> None:
    world = await start_ready(incident_api_timeout=0.3)
    text = "Slow but saved."

    def slow() -> None:
        world.api.latency = 0.8

    await submit_comment(world, text, slow)
    await world.settle()
    world.api.latency = 0.0
    await asyncio.sleep(0.8)  # the API finishes the POST the bot gave up on
    assert comments_saved(world.api, text) == 1  # stored once, not twice
    assert not any("Nothing was changed" in note for note in told(world.slack)), told(world.slack)
