"""The redacted card's "Show details": the full card, ephemerally, to one person who may see it.

INCIDENT_READERS names the readers (here one user; writers read too); a member of another
organisation (a Slack Connect guest) is never one; nothing is posted to the channel either way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.blocks.ids import ActionId
from tests.listeners.conftest import READER, SlackWorld
from tests.listeners.test_actions import click, told
from tests.policy.conftest import NOT_A_READER, OTHER_TEAM, OUR_TEAM, OUTSIDER
from tests.world import WRITER

TITLE = "Multi-stage incident involving Initial access"
REFUSAL = "You are not allowed to see incident details from Slack"


@pytest.fixture
async def readers_world(start_world: Any) -> SlackWorld:
    world: SlackWorld = await start_world(incident_readers=READER)
    return world


def show_details(world: SlackWorld, user: str, team: str) -> dict[str, Any]:
    payload = click(world, "unfurl", ActionId.SHOW_DETAILS, user=user)
    payload["user"]["team_id"] = team
    return payload


def posted_to_the_channel(world: SlackWorld) -> list[str]:
    return [
        c.method for c in world.slack.calls if c.method in ("chat.postMessage", "chat.update", "chat.unfurl")
    ]


@pytest.mark.parametrize("user", [READER, WRITER])
async def test_a_reader_gets_the_full_card_only_for_them(readers_world: SlackWorld, user: str) -> None:
    world = readers_world
    answer = await world.interact(show_details(world, user, OUR_TEAM))
    assert answer.status == 200
    await world.settle()
    [reply] = world.slack.calls_to("response_url:click")
    assert reply.args["response_type"] == "ephemeral" and reply.args["replace_original"] is False
    text = json.dumps(reply.args["blocks"])
    assert TITLE in text and "wkstn-0042" in text  # the full card: title and evidence
    assert ActionId.SHOW_DETAILS.value not in text
    assert posted_to_the_channel(world) == []


@pytest.mark.parametrize(
    ("user", "team"), [(NOT_A_READER, OUR_TEAM), (READER, OTHER_TEAM), (OUTSIDER, OTHER_TEAM)]
)
async def test_anyone_else_gets_a_short_refusal(readers_world: SlackWorld, user: str, team: str) -> None:
    world = readers_world
    await world.interact(show_details(world, user, team))
    await world.settle()
    [note] = told(world.slack)
    assert note.startswith(REFUSAL)
    assert TITLE not in json.dumps([c.args for c in world.slack.calls])
    assert posted_to_the_channel(world) == []
    assert world.api.count(path_contains="/security/incidents/") == 0  # refused before any read


async def test_with_incident_readers_unset_every_member_of_ours_reads_but_no_guest(world: SlackWorld) -> None:
    await world.interact(show_details(world, NOT_A_READER, OUR_TEAM))
    await world.settle()
    assert TITLE in json.dumps(world.slack.calls_to("response_url:click")[0].args)
    await world.interact(show_details(world, OUTSIDER, OTHER_TEAM))
    await world.settle()
    assert told(world.slack)[-1].startswith(REFUSAL)


async def test_a_non_reader_cannot_get_around_it_with_the_command(readers_world: SlackWorld) -> None:
    world = readers_world
    await world.command("2972395", response="cmd", user_id=NOT_A_READER)
    await world.settle()
    [answer] = world.slack.calls_to("response_url:cmd")
    assert answer.args["text"].startswith(REFUSAL)
