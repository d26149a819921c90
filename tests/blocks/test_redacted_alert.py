"""The redacted alert card and the Share warning (pure builders): golden JSON, limits, and none of
the alert's or its incident's names on the redacted card, the hostile fixtures' included."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.redacted_alert import build_redacted_alert_card, redacted_alert_fallback_text
from bot.blocks.share_warning import build_share_warning, share_warning_text

from .conftest import SEAL, assert_no_raw_controls, assert_within_limits, context, sdk_round_trip_blocks
from .test_alert_card import GRAPH_ID, HOSTILE_ID, alert, incident

CARDS = {
    "redacted-alert-normal": lambda: build_redacted_alert_card(
        alert(GRAPH_ID), incident("2972395"), context(redacted=True), show_title=False
    ),
    "redacted-alert-hostile": lambda: build_redacted_alert_card(
        alert(HOSTILE_ID), incident("666"), context(redacted=True), show_title=False
    ),
    "redacted-alert-titled": lambda: build_redacted_alert_card(
        alert(GRAPH_ID), None, context(redacted=True), show_title=True
    ),
    "share-warning": lambda: build_share_warning("2972395", SEAL.button_value("2972395"), show_title=False),
}
_ENUM_WORDS = {"Execution", "New", "High", "Active", "In progress"}


def named_strings(alert_id: str, incident_id: str) -> set[str]:
    """Titles, descriptions, recommended actions, evidence, assignees and comments of both."""
    picked = set()
    a, i = alert(alert_id), incident(incident_id).incident
    texts = [a.title, a.description or "", a.recommended_actions or "", i.display_name, i.assigned_to or ""]
    for text in [*texts, i.description or "", *(c.comment for c in i.comments), *i.custom_tags]:
        if len(text.strip()) >= 3:
            picked.add(text.strip())
    picked |= {name for names in a.evidence.model_dump().values() for name in names if len(name) >= 3}
    return picked - _ENUM_WORDS


@pytest.mark.parametrize("name", CARDS)
def test_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, CARDS[name]())


@pytest.mark.parametrize("name", CARDS)
def test_within_slack_limits_and_parsed_back_by_slack_sdk(name: str) -> None:
    blocks = CARDS[name]()
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)
    assert_no_raw_controls(blocks)


@pytest.mark.parametrize(("alert_id", "incident_id"), [(GRAPH_ID, "2972395"), (HOSTILE_ID, "666")])
def test_nothing_named_reaches_the_redacted_card(alert_id: str, incident_id: str) -> None:
    blocks = build_redacted_alert_card(alert(alert_id), incident(incident_id), context(redacted=True),
                                       show_title=False)  # fmt: skip
    text = json.dumps(blocks, ensure_ascii=False)
    for name in named_strings(alert_id, incident_id):
        assert name not in text and json.dumps(name, ensure_ascii=False)[1:-1] not in text, name
    assert "evil.example" not in text and "<!here>" not in text
    assert redacted_alert_fallback_text(alert(alert_id)) == "Defender alert (High)"


def test_show_incident_carries_the_sealed_incident_and_open_goes_to_the_portal() -> None:
    blocks = CARDS["redacted-alert-normal"]()
    [section] = [b for b in blocks if b.get("accessory", {}).get("action_id") == ActionId.SHOW_ALERT_INCIDENT]
    assert SEAL.open(section["accessory"]["value"]).id == "2972395"
    [actions] = [b for b in blocks if b.get("block_id") == BlockId.ALERT_CARD_ACTIONS]
    assert actions["elements"][0]["url"].startswith(f"https://security.microsoft.com/alerts/{GRAPH_ID}")


def test_unknown_categories_and_statuses_read_other() -> None:
    blocks = build_redacted_alert_card(alert(GRAPH_ID, category="<b>Leak</b>", status="weird"), None,
                                       context(redacted=True), show_title=False)  # fmt: skip
    text = json.dumps(blocks)
    assert "Leak" not in text and "weird" not in text and text.count("Other") == 2


def test_the_share_warning_names_what_the_card_leaves_out_and_confirms_with_the_sealed_value() -> None:
    blocks = CARDS["share-warning"]()
    [actions] = [b for b in blocks if b.get("block_id") == BlockId.SHARE_WARNING_ACTIONS]
    [button] = actions["elements"]
    assert button["action_id"] == ActionId.SHARE_CONFIRMED
    assert SEAL.open(button["value"]).id == "2972395"
    assert "no description, comments, alerts, evidence" in blocks[0]["text"]["text"]
    assert "2972395" in share_warning_text("2972395")
