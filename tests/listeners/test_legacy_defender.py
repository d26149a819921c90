"""The same actions against the legacy Defender API (INCIDENT_API=defender): PATCH /api/incidents/{id}."""

from __future__ import annotations

import pytest

from bot.blocks.ids import ActionId
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import INCIDENT, card_field, click, more, text_of, told, writes
from tests.listeners.test_views import (
    SIGNED,
    comment_values,
    modal,
    resolve_values,
    submission,
    tags_values,
)

LEGACY_PATH = f"/api/incidents/{INCIDENT}"


@pytest.fixture
async def legacy(start_world: WorldFactory) -> SlackWorld:
    return await start_world(incident_api="defender")


async def test_assign_to_me(legacy: SlackWorld) -> None:
    await legacy.interact(click(legacy, "message", ActionId.ASSIGN_ME))
    await legacy.settle()
    assert [(r.method, r.path, r.json) for r in writes(legacy)] == [
        ("PATCH", LEGACY_PATH, {"assignedTo": "jane@contoso.com"})
    ]
    [redraw] = legacy.slack.calls_to("chat.update")
    assert card_field(redraw.args["blocks"], "Assigned to") == "jane@contoso.com"
    assert legacy.api.count(path_contains="/security/incidents") == 0  # never Graph


async def test_comment_is_a_patch_with_comment(legacy: SlackWorld) -> None:
    view = await modal(legacy, "comment")
    reads = legacy.api.count("GET", LEGACY_PATH)  # opening the modal read the incident
    await legacy.interact(submission(view, comment_values("Checked the proxy logs.")))
    await legacy.settle()
    [patch] = writes(legacy)
    assert (patch.method, patch.path) == ("PATCH", LEGACY_PATH)
    assert patch.json == {"comment": f"Checked the proxy logs.\n\n{SIGNED}"}
    [redraw] = legacy.slack.calls_to("chat.update")
    assert "Checked the proxy logs." in text_of(redraw.args["blocks"])
    # the PATCH answers with the incident: no read to redraw the card
    assert legacy.api.count("GET", LEGACY_PATH) == reads


@pytest.mark.parametrize(
    ("option", "legacy_classification", "legacy_determination"),
    [
        ("truePositive:malware", "TruePositive", "Malware"),
        ("truePositive:compromisedAccount", "TruePositive", "CompromisedUser"),
        ("falsePositive:notMalicious", "FalsePositive", "Clean"),
        ("falsePositive:notEnoughDataToValidate", "FalsePositive", "InsufficientData"),
        (
            "informationalExpectedActivity:confirmedActivity",
            "InformationalExpectedActivity",
            "ConfirmedUserActivity",
        ),
    ],
)
async def test_resolve_sends_pascal_case_and_legacy_determination_names(
    legacy: SlackWorld, option: str, legacy_classification: str, legacy_determination: str
) -> None:
    classification = option.partition(":")[0]
    values = resolve_values(classification, option)
    await legacy.interact(submission(await modal(legacy, "resolve"), values))
    await legacy.settle()
    [patch] = writes(legacy)
    assert patch.json == {
        "status": "Resolved",
        "classification": legacy_classification,
        "determination": legacy_determination,
    }
    [redraw] = legacy.slack.calls_to("chat.update")
    assert card_field(redraw.args["blocks"], "Status") == "Resolved"


async def test_resolve_with_comment_is_one_patch(legacy: SlackWorld) -> None:
    values = resolve_values("truePositive", "truePositive:phishing", "Mailbox purged.")
    await legacy.interact(submission(await modal(legacy, "resolve"), values))
    await legacy.settle()
    [patch] = writes(legacy)
    assert patch.json == {
        "status": "Resolved",
        "classification": "TruePositive",
        "determination": "Phishing",
        "comment": f"Mailbox purged.\n\n{SIGNED}",
    }
    assert patch.path == LEGACY_PATH
    [redraw] = legacy.slack.calls_to("chat.update")
    assert "Mailbox purged." in text_of(redraw.args["blocks"])


async def test_status_and_tags(legacy: SlackWorld) -> None:
    await legacy.interact(click(legacy, "message", more(ActionId.IN_PROGRESS)))
    await legacy.interact(submission(await modal(legacy, "tags"), tags_values(["Demo"], "ransomware")))
    await legacy.settle()
    assert sorted((r.json for r in writes(legacy)), key=str) == [
        {"status": "InProgress"},
        {"tags": ["Demo", "ransomware"]},
    ]


async def test_permission_error_names_the_legacy_permission(legacy: SlackWorld) -> None:
    legacy.api.fail_next(403, method="PATCH")
    await legacy.interact(click(legacy, "message", ActionId.ASSIGN_ME))
    await legacy.settle()
    [note] = told(legacy.slack)
    assert "Incident.ReadWrite.All" in note
    assert "SecurityIncident" not in note
    assert legacy.slack.calls_to("chat.update") == []
