"""`/incident` of an incident fresh in the cache: the card rides the ack, with no job, no response_url
post and no API call. Cold, expired, merged or being fetched: the job answers, as before."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.world import HttpAnswer

INCIDENT = "2972395"


def reads(world: SlackWorld, incident_id: str = INCIDENT) -> int:
    return world.api.count("GET", f"/security/incidents/{incident_id}")


async def first_ask(world: SlackWorld, incident_id: str = INCIDENT) -> dict[str, Any]:
    """A cold ask: acked empty, then the card from the job; what the job posted."""
    answer = await world.command(incident_id, response="first")
    assert answer.status == 200 and answer.text == ""
    [reply] = await world.slack.wait_for("response_url:first")
    await world.settle()
    return dict(reply.args)


async def test_a_warm_incident_is_answered_in_the_ack_with_no_job_post_or_read(world: SlackWorld) -> None:
    job_card = await first_ask(world)
    assert reads(world) == 1
    world.api.latency = 0.4  # the API is slow now: the warm answer does not wait for it
    answer = await world.command(INCIDENT, response="warm")
    assert answer.status == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert INCIDENT in body["text"]
    await world.settle()
    assert world.slack.calls_to("response_url:warm") == []
    assert reads(world) == 1
    # the same card the job sends (its golden: tests/golden/card-sample-ephemeral.json's builder)
    assert body["blocks"] == job_card["blocks"]
    assert body["text"] == job_card["text"]


async def test_ten_warm_asks_share_one_rendering(world: SlackWorld) -> None:
    await first_ask(world)
    answers: list[HttpAnswer] = await asyncio.gather(
        *(world.command(INCIDENT, response=f"many{n}") for n in range(10))
    )
    cards = [a.json()["blocks"] for a in answers]
    assert all(card == cards[0] for card in cards)
    await world.settle()
    assert reads(world) == 1


async def test_an_expired_copy_is_answered_by_the_job(start_world: WorldFactory) -> None:
    world = await start_world(incident_cache_ttl=1)
    await first_ask(world)
    await asyncio.sleep(1.2)
    answer = await world.command(INCIDENT, response="later")
    assert answer.text == ""  # acked empty: the job fetches again and answers
    [reply] = await world.slack.wait_for("response_url:later")
    assert "blocks" in reply.args
    assert reads(world) == 2


async def test_a_cold_incident_still_goes_through_the_job(world: SlackWorld) -> None:
    world.api.latency = 0.3
    answer = await world.command("7001", response="cold")
    assert answer.status == 200 and answer.text == ""
    await world.slack.wait_for("response_url:cold")


async def test_an_incident_being_fetched_is_answered_by_the_job_that_joins_the_fetch(
    world: SlackWorld,
) -> None:
    world.api.latency = 0.3
    first, second = await asyncio.gather(
        world.command(INCIDENT, response="a"), world.command(INCIDENT, response="b")
    )
    assert first.text == "" and second.text == ""
    await world.slack.wait_for("response_url:a")
    await world.slack.wait_for("response_url:b")
    assert reads(world) == 1


async def test_a_merged_incident_is_answered_by_the_job_with_its_merge_note(world: SlackWorld) -> None:
    await first_ask(world, "4242")  # 4242 was merged into 2972395: both are now cached
    answer = await world.command("4242", response="merged")
    assert answer.text == ""
    [reply] = await world.slack.wait_for("response_url:merged")
    assert "Incident 4242 was merged into 2972395" in str(reply.args["blocks"])
