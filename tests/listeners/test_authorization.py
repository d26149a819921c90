"""Who may change incidents: INCIDENT_WRITERS users and user groups; a refusal writes nothing."""

from __future__ import annotations

import json

import pytest

from bot.blocks.ids import ActionId
from tests.listeners.conftest import READER, SlackWorld, WorldFactory
from tests.listeners.test_actions import (
    INCIDENT,
    click,
    more,
    told,
    writes,
)
from tests.listeners.test_views import comment_values, modal, submission

DIRECT_WRITES = [ActionId.ASSIGN_ME, more(ActionId.IN_PROGRESS), more(ActionId.UNASSIGN)]


@pytest.mark.parametrize("action", DIRECT_WRITES, ids=["assign-me", "in-progress", "unassign"])
async def test_reader_is_refused_ephemerally_and_nothing_is_written(
    world: SlackWorld, action: object
) -> None:
    answer = await world.interact(click(world, "message", action, user=READER))  # type: ignore[arg-type]
    assert answer.status == 200
    await world.settle()
    assert writes(world) == []
    [note] = told(world.slack)
    assert "not allowed" in note
    assert "INCIDENT_WRITERS" in note
    assert world.slack.calls_to("chat.update") == []


async def test_reader_refusal_of_an_unfurl_click_is_ephemeral_too(world: SlackWorld) -> None:
    await world.interact(click(world, "unfurl", ActionId.ASSIGN_ME, user=READER))
    await world.settle()
    assert writes(world) == []
    [reply] = world.slack.calls_to("response_url:click")
    assert reply.args["response_type"] == "ephemeral"
    assert reply.args["replace_original"] is False  # the shared unfurl stays as it is
    assert world.slack.calls_to("chat.unfurl") == []


async def test_reader_clicking_add_comment_gets_the_refusal_instead_of_the_form(world: SlackWorld) -> None:
    answer = await world.interact(click(world, "message", ActionId.COMMENT, user=READER))
    assert answer.status == 200
    await world.settle()
    [opened] = world.slack.calls_to("views.open")  # at once, before anything is checked
    assert opened.args["view"]["callback_id"] == "incident-pending-modal"
    [filled] = world.slack.calls_to("views.update")  # then the refusal, in place of the form
    view = filled.args["view"]
    assert "submit" not in view and not [b for b in view["blocks"] if b["type"] == "input"]
    assert "INCIDENT_WRITERS" in json.dumps(view)
    assert writes(world) == []


async def test_reader_submitting_a_modal_anyway_writes_nothing(world: SlackWorld) -> None:
    """A modal opened before the reader was removed from INCIDENT_WRITERS: the write job checks again."""
    await world.interact(submission(await modal(world, "comment"), comment_values("hi"), user=READER))
    await world.settle()
    assert writes(world) == []
    [note] = told(world.slack)
    assert "INCIDENT_WRITERS" in note


async def test_unset_writers_refuse_with_what_the_admin_must_set(start_world: WorldFactory) -> None:
    world = await start_world(incident_writers=[])
    await world.interact(click(world, "ephemeral", ActionId.ASSIGN_ME))
    await world.settle()
    assert writes(world) == []
    [note] = told(world.slack)
    assert "not enabled" in note
    assert "INCIDENT_WRITERS" in note
    assert "U…" in note
    assert "S…" in note


async def test_user_group_member_may_write_and_the_group_is_looked_up_once(start_world: WorldFactory) -> None:
    world = await start_world(incident_writers="S0SOC")
    world.slack.usergroups = {"S0SOC": [READER]}
    await world.interact(click(world, "message", ActionId.ASSIGN_ME, user=READER))
    await world.interact(click(world, "message", more(ActionId.IN_PROGRESS), user=READER))
    await world.settle()
    assert sorted(str(r.json) for r in writes(world)) == [
        str({"assignedTo": "rob@contoso.com"}),
        str({"status": "inProgress"}),
    ]
    [lookup] = world.slack.calls_to("usergroups.users.list")
    assert lookup.args["usergroup"] == "S0SOC"
    assert told(world.slack) == []


async def test_user_outside_the_group_is_refused(start_world: WorldFactory) -> None:
    world = await start_world(incident_writers="S0SOC")
    world.slack.usergroups = {"S0SOC": ["U0SOMEONE"]}
    await world.interact(click(world, "message", ActionId.ASSIGN_ME, user=READER))
    await world.settle()
    assert writes(world) == []
    assert "not allowed" in told(world.slack)[0]


async def test_demo_mode_lets_everyone_write(start_world: WorldFactory) -> None:
    world = await start_world(incident_source="demo", incident_writers=[])
    await world.interact(click(world, "message", ActionId.ASSIGN_ME, user=READER))
    await world.settle()
    assert told(world.slack) == []
    [redraw] = world.slack.calls_to("chat.update")
    assert "rob@contoso.com" in str(redraw.args["blocks"])
    assert "Sample data" in str(redraw.args["blocks"])
    assert world.api.requests == []  # demo mode never calls the incident API
    assert INCIDENT in redraw.args["text"]
