"""Slack Work Objects (UNFURL_STYLE=work_object): chat.unfurl carries the incident entity within the
conversation's policy beside the Block Kit card, and a flexpane opened (`entity_details_requested`)
gets `entity.presentDetails` with the full incident for a reader, Slack's refusal for anyone else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.blocks.entity import ENTITY_TYPE
from tests.fakes import TENANT_ID
from tests.listeners.conftest import READER, SlackWorld, portal_link
from tests.listeners.test_events import link_event
from tests.policy.conftest import NOT_A_READER, OUTSIDER, fixture_strings, leaks

INCIDENT = "2972395"
TITLE = "Multi-stage incident involving Initial access"


@pytest.fixture
async def wo_world(start_world: Any) -> SlackWorld:
    world: SlackWorld = await start_world(unfurl_style="work_object", incident_readers=READER)
    return world


async def unfurl_in(world: SlackWorld, channel: str) -> dict[str, Any]:
    await world.event(link_event([portal_link(INCIDENT)], event_id=f"EvWO{channel}", channel=channel))
    [call] = await world.slack.wait_for("chat.unfurl")
    await world.settle()
    return dict(call.args)


def details_requested(user: str, *, ref_id: str = f"{TENANT_ID}/{INCIDENT}", n: int = 1) -> dict[str, Any]:
    """entity_details_requested as Slack documents it
    (https://docs.slack.dev/reference/events/entity_details_requested)."""
    url = portal_link(INCIDENT)
    return {
        "token": "legacy-verification-token",
        "team_id": "T0001",
        "api_app_id": "A0BOT",
        "type": "event_callback",
        "event_id": f"Ev0ENTITY{n:04d}",
        "event_time": 1755035323,
        "event": {
            "type": "entity_details_requested",
            "user": user,
            "external_ref": {"id": ref_id, "type": "incident"},
            "entity_url": url,
            "link": {"url": url, "domain": "security.microsoft.com"},
            "app_unfurl_url": url,
            "event_ts": "1755035323.759739",
            "trigger_id": "1234567890123.1234567890123.abcdef01234567890abcdef012345689",
            "user_locale": "en-US",
            "channel": "C0PUBLIC",
            "message_ts": "1755035323.759739",
        },
        "authorizations": [
            {"team_id": "T0001", "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}
        ],
    }


async def test_a_public_channel_gets_the_redacted_entity_beside_the_redacted_card(
    wo_world: SlackWorld,
) -> None:
    unfurl = await unfurl_in(wo_world, "C0PUBLIC")
    [entity] = unfurl["metadata"]["entities"]
    assert entity["entity_type"] == ENTITY_TYPE
    assert entity["external_ref"] == {"id": f"{TENANT_ID}/{INCIDENT}", "type": "incident"}
    assert entity["app_unfurl_url"] == portal_link(INCIDENT)
    assert leaks(unfurl, fixture_strings(INCIDENT)) == []
    assert list(unfurl["unfurls"]) == [portal_link(INCIDENT)]  # the Block Kit card, for other clients


async def test_a_private_channel_gets_the_full_entity(wo_world: SlackWorld) -> None:
    unfurl = await unfurl_in(wo_world, "C0PRIV")
    [entity] = unfurl["metadata"]["entities"]
    assert TITLE in json.dumps(entity)


async def test_the_default_style_sends_no_entity(world: SlackWorld) -> None:
    unfurl = await unfurl_in(world, "C0PRIV")
    assert "metadata" not in unfurl


async def test_a_reader_opening_the_flexpane_gets_the_full_incident(wo_world: SlackWorld) -> None:
    answer = await wo_world.event(details_requested(READER))
    assert answer.status == 200
    [call] = await wo_world.slack.wait_for("entity.presentDetails")
    assert call.args["trigger_id"].startswith("1234567890123.")
    metadata = call.args["metadata"]
    assert metadata["external_ref"] == {"id": f"{TENANT_ID}/{INCIDENT}", "type": "incident"}
    assert TITLE in json.dumps(metadata)
    assert "error" not in call.args


@pytest.mark.parametrize("user", [NOT_A_READER, OUTSIDER])
async def test_anyone_else_gets_the_refusal(wo_world: SlackWorld, user: str) -> None:
    await wo_world.event(details_requested(user))
    [call] = await wo_world.slack.wait_for("entity.presentDetails")
    assert "metadata" not in call.args
    assert call.args["error"]["status"] == "custom_partial_view"
    assert "INCIDENT_READERS" in call.args["error"]["custom_message"]
    assert TITLE not in json.dumps(call.args)


@pytest.mark.parametrize(
    "ref_id",
    [f"{TENANT_ID}/../2972395", "11111111-2222-3333-4444-555555555555/2972395", "x" * 400, "2972395/x"],
)
async def test_an_entity_that_is_not_ours_is_ignored(wo_world: SlackWorld, ref_id: str) -> None:
    answer = await wo_world.event(details_requested(READER, ref_id=ref_id))
    assert answer.status == 200
    await wo_world.settle()
    assert wo_world.slack.calls_to("entity.presentDetails") == []
    assert wo_world.api.count(path_contains="/security/incidents/") == 0


async def test_a_live_refresh_updates_the_entity_and_keeps_it_redacted(start_world: Any) -> None:
    world = await start_world(unfurl_style="work_object", live_poll_seconds=1)
    await world.event(link_event([portal_link(INCIDENT)], event_id="EvWOLIVE", channel="C0PUBLIC"))
    await world.slack.wait_for("chat.unfurl")
    await world.settle()
    await asyncio.sleep(1.1)  # the change comes after the card's version
    world.api.change("v1.0", INCIDENT, status="resolved", classification="truePositive",
                     determination="malware", assignedTo="mallory@contoso.com")  # fmt: skip
    calls = await world.slack.wait_for("chat.unfurl", count=2, timeout=10)
    [entity] = calls[1].args["metadata"]["entities"]
    assert "Resolved" in json.dumps(entity)
    assert leaks(calls[1].args, fixture_strings(INCIDENT) | {"mallory@contoso.com"}) == []
