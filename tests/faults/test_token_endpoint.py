"""The token endpoint failing: 500s and invalid_client.

A token the bot holds keeps working while Entra is down; without one, the person is told why in
Entra's words (the AADSTS code and reason), never with the secret.
"""

from __future__ import annotations

import asyncio

from tests.conftest import CLIENT_SECRET
from tests.fakes import FakeEntra
from tests.faults.conftest import (
    STALE_MARK,
    add_copies,
    link_event,
    message_ts,
    unfurl_text,
    unfurls_of,
    wait_until,
)
from tests.listeners.conftest import SlackWorld, WorldFactory

WRONG_SECRET = "Wr0ng~secret-value-from-an-old-rotation"


async def ask(world: SlackWorld, incident_id: str, response: str) -> str:
    """/incident <id>: the text of the answer (a card's text starts with "Incident <id>:")."""
    answer = await world.command(incident_id, response=response)
    assert answer.status == 200
    if answer.text:  # answered in the ack: the incident was fresh in the cache
        return str(answer.json().get("text", ""))
    [call] = await world.slack.wait_for(f"response_url:{response}", timeout=10)
    return str(call.args.get("text", ""))


async def test_an_entra_outage_does_not_touch_reads_while_the_token_is_valid(
    start_ready: WorldFactory, entra: FakeEntra
) -> None:
    world = await start_ready()
    before = entra.token_requests
    entra.fail_next(500, count=100, retry_after=0)
    ids = add_copies(world.api, 3, first_id=950000)
    answers = [await ask(world, i, f"r{i}") for i in ids]
    assert all(a.startswith(f"Incident {i}:") for a, i in zip(answers, ids, strict=True))
    await world.event(link_event(ids[0], 1))
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    assert STALE_MARK not in unfurl_text(unfurl)
    assert entra.token_requests == before  # the token in hand was used; Entra was not asked


async def test_entra_500_with_no_token_is_told_then_the_next_read_gets_one(
    start_world: WorldFactory, entra: FakeEntra
) -> None:
    entra.fail_next(500, count=2, retry_after=0)  # the start-up probe's token request, then ours
    world = await start_world()
    await wait_until(lambda: world.bot.readiness.incident_api.startswith("failing"))  # the probe's turn
    told = await ask(world, "2972395", "down")
    assert told.startswith("Authentication with Microsoft Entra failed") and "unavailable" in told, told
    assert CLIENT_SECRET not in told
    assert (await ask(world, "2972395", "back")).startswith("Incident 2972395:")


async def test_invalid_client_is_told_with_the_aadsts_reason_and_never_the_secret(
    start_world: WorldFactory, entra: FakeEntra
) -> None:
    world = await start_world(azure_client_secret=WRONG_SECRET)
    told = await ask(world, "2972395", "cmd")
    assert told.startswith("Authentication with Microsoft Entra failed: AADSTS7000215: Invalid client secret")
    await world.event(link_event("2972395", 2))
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    assert "AADSTS7000215" in unfurl_text(unfurl)
    assert [len(unfurls_of(world.slack, message_ts(2)))] == [1]
    readiness = world.bot.readiness.as_dict()
    assert "AADSTS7000215" in readiness["incident_api"] and readiness["ready"] is False
    for shown in (told, unfurl_text(unfurl), str(readiness)):
        assert WRONG_SECRET not in shown and CLIENT_SECRET not in shown
    assert world.api.requests == []  # no token, no API call


async def test_an_entra_outage_in_the_tokens_last_five_minutes_keeps_using_it(
    start_ready: WorldFactory, entra: FakeEntra
) -> None:
    entra.token_lifetime = 302  # the bot renews 300 s early: 2 s from now
    world = await start_ready()
    await asyncio.sleep(2.2)
    entra.fail_next(500, count=100, retry_after=0)
    [incident_id] = add_copies(world.api, 1, first_id=951000)
    # the token is valid for about 300 s more: the read should still work with it
    answer = await ask(world, incident_id, "late")
    assert answer.startswith(f"Incident {incident_id}:"), answer
