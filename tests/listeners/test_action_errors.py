"""API errors during an action: said in words to the person who clicked, nothing written twice."""

from __future__ import annotations

from bot.blocks.ids import ActionId
from tests.listeners.conftest import SlackWorld
from tests.listeners.test_actions import INCIDENT, click, redraws, told, writes
from tests.listeners.test_views import comment_values, modal, resolve_values, submission


async def warm_cache(world: SlackWorld) -> None:
    await world.command(INCIDENT, response="warm")
    await world.slack.wait_for("response_url:warm")


async def test_permission_denied_names_the_write_permission(world: SlackWorld) -> None:
    world.api.fail_next(403, method="PATCH")
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.settle()
    assert len(writes(world)) == 1  # a 403 is not retried
    [note] = told(world.slack)
    assert "Nothing was changed" in note
    assert "SecurityIncident.ReadWrite.All" in note
    assert redraws(world.slack) == []


async def test_not_found_says_so(world: SlackWorld) -> None:
    world.api.fail_next(404, method="PATCH")
    await world.interact(click(world, "ephemeral", ActionId.ASSIGN_ME))
    await world.settle()
    assert len(writes(world)) == 1
    [note] = told(world.slack)
    assert f"Incident {INCIDENT} was not found" in note
    assert redraws(world.slack) == []


async def test_throttled_says_when_to_try_again(world: SlackWorld) -> None:
    world.api.fail_next(429, count=20, retry_after=30, method="PATCH")
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.settle()
    assert len(writes(world)) == 1  # waiting 30 s would pass the call's deadline: told at once
    [note] = told(world.slack)
    assert "throttling" in note
    assert "try again in 30 s" in note


async def test_throttled_briefly_is_retried_and_written_once(world: SlackWorld) -> None:
    world.api.fail_next(429, count=1, retry_after=0.1, method="PATCH")
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.settle()
    assert [r.json for r in writes(world)] == [{"assignedTo": "jane@contoso.com"}] * 2  # 429, then 200
    assert world.api.get("v1.0", INCIDENT)["assignedTo"] == "jane@contoso.com"  # type: ignore[index]
    assert told(world.slack) == []
    assert len(world.slack.calls_to("chat.update")) == 1


async def test_unavailable_says_so(world: SlackWorld) -> None:
    world.api.fail_next(503, count=20, retry_after=0, method="PATCH")
    await world.interact(click(world, "message", ActionId.ASSIGN_ME))
    await world.settle()
    [note] = told(world.slack)
    assert "unavailable" in note
    assert redraws(world.slack) == []


async def test_a_comment_that_may_have_been_saved_is_not_sent_again(world: SlackWorld) -> None:
    """A 500 answer to a POST may come after the comment was stored: the POST is not repeated."""
    world.api.fail_next(500, method="POST")
    await world.interact(submission(await modal(world, "comment"), comment_values("Maybe saved.")))
    await world.settle()
    assert [r.method for r in writes(world)] == ["POST"]
    [note] = told(world.slack)
    assert "unavailable" in note


async def test_an_error_after_a_view_submission_is_told_through_the_cards_response_url(
    world: SlackWorld,
) -> None:
    world.api.fail_next(403, method="POST")
    await world.interact(
        submission(await modal(world, "comment", "unfurl"), comment_values("No permission."))
    )
    await world.settle()
    [reply] = world.slack.calls_to("response_url:click")
    assert reply.args["response_type"] == "ephemeral"
    assert reply.args["replace_original"] is False
    assert "SecurityIncident.ReadWrite.All" in reply.args["text"]


async def test_comment_saved_but_the_read_after_it_failing_is_not_reported_as_nothing_changed(
    world: SlackWorld,
) -> None:
    await warm_cache(world)
    view = await modal(world, "comment")
    world.api.fail_next(503, count=20, retry_after=0, method="GET", path_contains=f"/incidents/{INCIDENT}")
    await world.interact(submission(view, comment_values("Saved for sure.")))
    await world.settle()
    assert [r.method for r in writes(world)] == ["POST"]
    assert "Saved for sure." in str(world.api.get("v1.0", INCIDENT))  # it is in Defender
    [note] = told(world.slack)
    assert "Nothing was changed" not in note
    assert "saved" in note.lower()


async def test_resolve_with_comment_needs_no_read_so_a_failing_read_changes_nothing(
    world: SlackWorld,
) -> None:
    view = await modal(world, "resolve")  # opening the modal cached the incident with its alerts
    world.api.fail_next(503, count=20, retry_after=0, method="GET", path_contains=f"/incidents/{INCIDENT}")
    await world.interact(submission(view, resolve_values("truePositive", "truePositive:malware", "Cleaned.")))
    await world.settle()
    assert [r.method for r in writes(world)] == ["PATCH"]
    assert "Cleaned." in str(world.api.get("v1.0", INCIDENT))
    assert told(world.slack) == []
    [redraw] = world.slack.calls_to("chat.update")
    assert "Resolved" in str(redraw.args["blocks"])
