"""Alert links: unfurled with their incident under the conversation's policy; malformed alert ids
make no request; `/incident <alert id>` answers with the alert's incident; "Show incident" sends the
incident's card to the clicker only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from tests.fakes import TENANT_ID
from tests.listeners.conftest import PORTAL, SEAL, SlackWorld
from tests.listeners.test_actions import click
from tests.listeners.test_events import link_event
from tests.policy.conftest import GRAPH_DATA, OUR_TEAM, leaks, private_strings

ALERT = "da637578995287051192_756343937"  # of incident 2972395
HOSTILE_ALERT = "da6660000000000000_666"  # of incident 666
TITLE = "Potential Raspberry Robin worm command"


def alert_link(alert_id: str) -> str:
    return f"{PORTAL}/alerts/{alert_id}?tid={TENANT_ID}"


def alert_strings(alert_id: str, incident_id: str) -> set[str]:
    alert = json.loads(Path(GRAPH_DATA / f"alert_{alert_id}.v1.json").read_text(encoding="utf-8"))
    incident = json.loads(Path(GRAPH_DATA / f"incident_{incident_id}.v1.json").read_text(encoding="utf-8"))
    return private_strings(alert) | private_strings(incident)


async def unfurl(world: SlackWorld, url: str, channel: str) -> dict[str, Any]:
    await world.event(link_event([url], event_id=f"EvAL{channel}{len(world.slack.calls)}", channel=channel))
    [call] = await world.slack.wait_for("chat.unfurl")
    await world.settle()
    return dict(call.args["unfurls"][url])


def alert_gets(world: SlackWorld) -> int:
    return world.api.count(path_contains="/security/alerts_v2/")


async def test_an_alert_link_in_a_private_channel_unfurls_the_alert_with_its_incident(
    world: SlackWorld,
) -> None:
    card = await unfurl(world, alert_link(ALERT), "C0PRIV")
    text = json.dumps(card)
    assert TITLE in text
    assert "Part of <https://security.microsoft.com/incidents/2972395" in text
    assert "Multi-stage incident involving Initial access" in text  # the incident's title
    assert ActionId.SHOW_ALERT_INCIDENT.value in text
    assert alert_gets(world) == 1


@pytest.mark.parametrize(("alert_id", "incident_id"), [(ALERT, "2972395"), (HOSTILE_ALERT, "666")])
@pytest.mark.parametrize("channel", ["C0PUBLIC", "C0PARTNER", "C0NOSCOPE"])
async def test_an_alert_link_where_outsiders_read_is_redacted(
    world: SlackWorld, channel: str, alert_id: str, incident_id: str
) -> None:
    card = await unfurl(world, alert_link(alert_id), channel)
    assert leaks(card, alert_strings(alert_id, incident_id)) == []
    text = json.dumps(card)
    assert f"incident {incident_id}" in text and ActionId.SHOW_ALERT_INCIDENT.value in text


@pytest.mark.parametrize(
    "alert_id",
    [
        "da637578995287051192_75634393７",
        "DA637578995287051192_756343937",
        "..%2F2972395",
        "da1_1%3F$select=id",
    ],
)
async def test_malformed_alert_ids_make_no_request(world: SlackWorld, alert_id: str) -> None:
    await world.event(link_event([alert_link(alert_id)], event_id="EvALBAD", channel="C0PRIV"))
    await world.settle()
    assert world.slack.calls_to("chat.unfurl") == []
    assert alert_gets(world) == 0 and world.api.count(path_contains="/security/") == 0


async def test_the_command_with_an_alert_id_shows_its_incident(world: SlackWorld) -> None:
    await world.command(ALERT, response="cmd")
    [answer] = await world.slack.wait_for("response_url:cmd")
    await world.settle()
    assert "Multi-stage incident involving Initial access" in json.dumps(answer.args)
    assert answer.args["response_type"] == "ephemeral"


async def test_show_incident_sends_the_incident_card_to_the_clicker_only(world: SlackWorld) -> None:
    element = {
        "type": "button",
        "action_id": ActionId.SHOW_ALERT_INCIDENT.value,
        "block_id": BlockId.ALERT_CARD_ACTIONS.value,
        "text": {"type": "plain_text", "text": "Show incident"},
        "value": SEAL.button_value("2972395", None),
    }
    payload = click(world, "unfurl", element)
    payload["user"]["team_id"] = OUR_TEAM
    await world.interact(payload)
    await world.settle()
    [reply] = world.slack.calls_to("response_url:click")
    assert reply.args["response_type"] == "ephemeral" and reply.args["replace_original"] is False
    assert "Multi-stage incident involving Initial access" in json.dumps(reply.args)
    assert [c.method for c in world.slack.calls if c.method in ("chat.postMessage", "chat.unfurl")] == []
