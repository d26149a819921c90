"""The Resolve… and Tags… modals: submissions, inline errors, narrowing determinations, refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.modals import determination_block_id
from tests.listeners.conftest import SlackWorld, slack_payload
from tests.listeners.test_actions import GRAPH_PATH, INCIDENT, card_field, text_of, told, writes
from tests.listeners.test_views import (
    SIGNED,
    inline_errors,
    modal,
    resolve_values,
    selected,
    submission,
    tags_values,
)

# ---- Resolve… --------------------------------------------------------------------------------


async def test_resolve_with_comment_is_one_patch_with_the_signed_resolving_comment(world: SlackWorld) -> None:
    values = resolve_values("truePositive", "truePositive:malware", "USB worm cleaned up.")
    answer = await world.interact(submission(await modal(world, "resolve"), values))
    assert (answer.status, answer.text) == (200, "")
    await world.settle()

    [patch] = writes(world)  # saved whole or not at all: nothing can be half done
    assert (patch.method, patch.path) == ("PATCH", GRAPH_PATH)
    assert patch.json == {
        "status": "resolved",
        "classification": "truePositive",
        "determination": "malware",
        "resolvingComment": f"USB worm cleaned up.\n\n{SIGNED}",
    }
    [redraw] = world.slack.calls_to("chat.update")
    blocks = redraw.args["blocks"]
    assert card_field(blocks, "Status") == "Resolved"
    assert card_field(blocks, "Determination") == "Malware"
    assert "USB worm cleaned up." in text_of(blocks)
    assert told(world.slack) == []


async def test_resolve_without_comment_is_one_patch(world: SlackWorld) -> None:
    _, view = await choose_classification(world, await modal(world, "resolve"), "falsePositive")
    values = resolve_values("falsePositive", "falsePositive:notMalicious")
    await world.interact(submission(view, values))
    await world.settle()
    assert [(r.method, r.json) for r in writes(world)] == [
        ("PATCH", {"status": "resolved", "classification": "falsePositive", "determination": "notMalicious"})
    ]
    [redraw] = world.slack.calls_to("chat.update")
    assert "incident-reopen" in text_of(redraw.args["blocks"])


@pytest.mark.parametrize(
    ("classification", "determination"),
    [
        ("truePositive", "truePositive:notMalicious"),  # a pair Defender does not accept
        ("falsePositive", "truePositive:malware"),  # an option of another classification
        ("truePositive", "truePositive:somethingElse"),
        ("truePositive", None),
    ],
)
async def test_invalid_classification_and_determination_is_an_inline_error(
    world: SlackWorld, classification: str, determination: str | None
) -> None:
    values = resolve_values(
        classification, determination, "x", det_block=determination_block_id("truePositive")
    )
    answer = await world.interact(submission(await modal(world, "resolve"), values))
    errors = inline_errors(answer)
    assert list(errors) == [determination_block_id("truePositive")]
    await world.settle()
    assert writes(world) == []


async def choose_classification(
    world: SlackWorld, view: dict[str, Any], classification: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pick `classification` in the open resolve modal: the block_actions sent, and the view the bot
    put in its place with views.update."""
    payload = copy.deepcopy(slack_payload("block_actions_view"))
    payload["view"].update(
        callback_id=view["callback_id"], private_metadata=view["private_metadata"], blocks=view["blocks"]
    )
    payload["actions"] = [
        {
            "type": "static_select",
            "action_id": ActionId.CLASSIFICATION.value,
            "block_id": BlockId.CLASSIFICATION_INPUT.value,
            "selected_option": selected(classification)["selected_option"],
            "action_ts": "1700000200.000001",
        }
    ]
    seen = len(world.slack.calls_to("views.update"))
    answer = await world.interact(payload)
    assert answer.status == 200
    updates = await world.slack.wait_for("views.update", count=seen + 1)
    assert updates[seen].args["view_id"] == payload["view"]["id"]
    assert updates[seen].args["hash"] == payload["view"]["hash"]  # no race with another update
    updated: dict[str, Any] = updates[seen].args["view"]
    return payload, updated


async def test_choosing_a_classification_narrows_the_determinations(world: SlackWorld) -> None:
    view = await modal(world, "resolve")
    _, updated = await choose_classification(world, view, "falsePositive")
    [det] = [b for b in updated["blocks"] if b.get("block_id", "").startswith(BlockId.DETERMINATION_INPUT)]
    assert det["block_id"] == determination_block_id("falsePositive")
    values = [o["value"] for o in det["element"]["options"]]
    assert values == [
        "falsePositive:notMalicious",
        "falsePositive:notEnoughDataToValidate",
        "falsePositive:other",
    ]
    assert updated["private_metadata"] == view["private_metadata"]
    assert writes(world) == []


async def test_a_refused_resolve_changes_nothing_and_says_why(world: SlackWorld) -> None:
    world.api.fail_next(403, method="PATCH")
    values = resolve_values("truePositive", "truePositive:phishing", "Mailbox purged.")
    await world.interact(submission(await modal(world, "resolve", "ephemeral"), values))
    await world.settle()

    [patch] = writes(world)
    assert patch.method == "PATCH"
    assert world.api.get("v1.0", INCIDENT)["status"] == "active"  # type: ignore[index]
    [note] = told(world.slack)
    assert "Nothing was changed" in note
    assert "SecurityIncident.ReadWrite.All" in note


# ---- Tags… ----------------------------------------------------------------------------------


async def test_tags_unselect_one_and_add_two(world: SlackWorld) -> None:
    raw = world.api.get("v1.0", INCIDENT)
    assert raw is not None
    world.api.put("v1.0", {**raw, "customTags": ["Demo", "Phishing", "VIP"]})
    view = await modal(world, "tags")
    [select] = [b for b in view["blocks"] if b.get("block_id") == BlockId.TAGS_SELECT_INPUT]
    assert [o["value"] for o in select["element"]["initial_options"]] == ["Demo", "Phishing", "VIP"]

    answer = await world.interact(submission(view, tags_values(["Demo", "VIP"], "ransomware, finance")))
    assert (answer.status, answer.text) == (200, "")
    await world.settle()
    assert [(r.method, r.path, r.json) for r in writes(world)] == [
        ("PATCH", GRAPH_PATH, {"customTags": ["Demo", "VIP", "ransomware", "finance"]})
    ]
    [redraw] = world.slack.calls_to("chat.update")
    assert "ransomware" in card_field(redraw.args["blocks"], "Tags")
