"""The one error handler: a listener that fails answers the person with a reference found in the log."""

from __future__ import annotations

import logging
import re

import pytest

from bot.blocks.ids import ActionId
from tests.listeners.conftest import SlackWorld
from tests.listeners.test_actions import click
from tests.listeners.test_views import assign_values, modal, submission
from tests.world import WRITER

REFERENCE = re.compile(r"`([0-9a-f]{12})`")


def logged_reference(caplog: pytest.LogCaptureFixture, kind: str) -> str:
    [record] = [r for r in caplog.records if r.getMessage().startswith(f"listener failed on {kind}")]
    assert record.exc_info is not None  # the traceback is in the log, for the operator
    return str(record.__dict__["correlation_id"])


async def test_a_failing_command_is_answered_in_its_ack_with_the_reference(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # a response_url the bot would never post to: building the job refuses it
    answer = await world.sender.command("2972395", "ftp://127.0.0.1/not-a-response-url")
    assert answer.status == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    [reference] = REFERENCE.findall(body["text"])
    assert reference == logged_reference(caplog, "slash_command")


async def test_a_failing_click_is_answered_ephemerally_with_the_reference(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # Slack refuses to open the modal: the listener fails, the person is told with a reference
    world.slack.fail_next("views.open", error="internal_error", status=200)
    answer = await world.interact(click(world, "message", ActionId.COMMENT))
    assert answer.status == 200  # Slack shows no error of its own; the note says what happened
    [told] = await world.slack.wait_for("response_url:click")
    assert told.args["response_type"] == "ephemeral" and told.args["replace_original"] is False
    [reference] = REFERENCE.findall(told.args["text"])
    assert reference == logged_reference(caplog, "block_actions")
    assert world.api.requests == [] or all(r.method == "GET" for r in world.api.requests)


async def test_a_failing_submission_pushes_a_notice_over_the_form(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    view = await modal(world, "assign")
    world.slack.fail_next("users.info", error="internal_error", status=200)  # the assignee's e-mail
    answer = await world.interact(submission(view, assign_values(user=WRITER)))
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "push"  # the form stays underneath, as typed
    [reference] = REFERENCE.findall(str(body["view"]))
    assert reference == logged_reference(caplog, "view_submission")
    await world.settle()
    assert [r for r in world.api.requests if r.method != "GET"] == []


async def test_a_failing_request_is_logged_without_its_payload(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.slack.fail_next("views.open", error="internal_error", status=200)
    payload = click(world, "message", ActionId.COMMENT)
    payload["trigger_id"] = "SECRET-LOOKING-VALUE-1234"
    await world.interact(payload)
    assert "SECRET-LOOKING-VALUE-1234" not in caplog.text.split("Traceback")[0]
