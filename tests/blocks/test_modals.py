"""Modals (bot/blocks/modals.py, tags_modal.py) and the IncidentRef they carry (refs.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.modals import (
    build_assign_modal,
    build_comment_modal,
    build_resolve_modal,
    build_tags_modal,
    determination_block_id,
    modal_errors,
    parse_determination_value,
    parse_new_tags,
    resulting_tags,
)
from bot.blocks.refs import IncidentRef, is_response_url
from bot.models import DETERMINATIONS_BY_CLASSIFICATION, Classification, Determination, Incident

from .conftest import (
    HOSTILE_TITLE,
    SEAL,
    assert_no_raw_controls,
    assert_view_within_limits,
    hostile_payload,
    normal_payload,
    sdk_round_trip_view,
)

PLACE = IncidentRef(
    id="2972395",
    channel="C05SOCINC01",
    ts="1700003700.001900",
    response_url="https://hooks.slack.com/actions/T123456/1/abc",
)
REF = SEAL.seal(PLACE)
NORMAL = Incident.model_validate(normal_payload())
HOSTILE = Incident.model_validate(hostile_payload())
TRUE_POSITIVE = Incident.model_validate(
    {**normal_payload(), "classification": "truePositive", "determination": "malware"}
)


def _modals() -> dict[str, dict[str, Any]]:
    return {
        "modal-comment": build_comment_modal(REF, NORMAL.display_name),
        "modal-comment-hostile": build_comment_modal(REF, HOSTILE_TITLE),
        "modal-assign": build_assign_modal(REF, NORMAL.assigned_to),
        "modal-assign-unassigned": build_assign_modal(REF, None),
        "modal-resolve": build_resolve_modal(REF, NORMAL),
        "modal-resolve-narrowed": build_resolve_modal(REF, NORMAL, "falsePositive"),
        "modal-resolve-preselected": build_resolve_modal(REF, TRUE_POSITIVE),
        "modal-tags": build_tags_modal(REF, NORMAL.custom_tags),
        "modal-tags-hostile": build_tags_modal(REF, HOSTILE.custom_tags),
        "modal-tags-empty": build_tags_modal(REF, []),
    }


MODALS = _modals()


def _block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


@pytest.mark.parametrize("name", sorted(MODALS))
def test_modal_matches_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, MODALS[name])


@pytest.mark.parametrize("name", sorted(MODALS))
def test_modal_is_within_limits_valid_and_carries_the_ref(name: str) -> None:
    view = MODALS[name]
    assert_view_within_limits(view)
    sdk_round_trip_view(view)
    assert_no_raw_controls(view)
    assert SEAL.open(view["private_metadata"]) == PLACE
    assert view["submit"] and view["close"]


def test_comment_modal_has_a_required_multiline_input() -> None:
    view = MODALS["modal-comment"]
    assert view["callback_id"] == CallbackId.COMMENT_MODAL
    block = _block(view, BlockId.COMMENT_INPUT)
    assert "optional" not in block
    assert block["element"]["action_id"] == ActionId.COMMENT_TEXT
    assert block["element"]["multiline"] is True and block["element"]["max_length"] == 1000
    hostile_line = MODALS["modal-comment-hostile"]["blocks"][0]["text"]["text"]
    assert hostile_line.endswith(
        "&lt;!channel&gt; *bold* &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; friends"
    )


def test_assign_modal_offers_a_user_or_an_email_both_optional() -> None:
    view = MODALS["modal-assign"]
    user = _block(view, BlockId.ASSIGNEE_USER_INPUT)
    email = _block(view, BlockId.ASSIGNEE_EMAIL_INPUT)
    assert user["element"]["type"] == "users_select" and user["optional"] is True
    assert email["element"]["action_id"] == ActionId.ASSIGNEE_EMAIL and email["optional"] is True
    assert "one of the two" in email["hint"]["text"]
    assert "alice@contoso.com" in json.dumps(view)
    hostile = build_assign_modal(REF, HOSTILE.assigned_to)
    assert_no_raw_controls(hostile)


def test_resolve_modal_groups_determinations_until_a_classification_is_chosen() -> None:
    view = MODALS["modal-resolve"]
    classification = _block(view, BlockId.CLASSIFICATION_INPUT)
    assert classification["dispatch_action"] is True
    assert [o["value"] for o in classification["element"]["options"]] == [
        "truePositive",
        "informationalExpectedActivity",
        "falsePositive",
    ]
    determination = _block(view, BlockId.DETERMINATION_INPUT)["element"]
    groups = determination["option_groups"]
    assert [g["label"]["text"] for g in groups] == [
        "True positive",
        "Informational, expected activity",
        "False positive",
    ]
    values = [o["value"] for g in groups for o in g["options"]]
    assert len(values) == len(set(values)) == sum(len(d) for d in DETERMINATIONS_BY_CLASSIFICATION.values())


def test_resolve_modal_narrows_determinations_to_the_chosen_classification() -> None:
    view = MODALS["modal-resolve-narrowed"]
    block_id = determination_block_id("falsePositive")
    assert block_id == "incident-determination-input-falsePositive"
    determination = _block(view, block_id)["element"]
    assert "option_groups" not in determination
    assert [parse_determination_value(o["value"]) for o in determination["options"]] == [
        (Classification.FALSE_POSITIVE, d)
        for d in DETERMINATIONS_BY_CLASSIFICATION[Classification.FALSE_POSITIVE]
    ]
    chosen = _block(view, BlockId.CLASSIFICATION_INPUT)["element"]["initial_option"]
    assert chosen["value"] == "falsePositive"


def test_resolve_modal_preselects_the_incidents_own_classification() -> None:
    view = MODALS["modal-resolve-preselected"]
    determination = _block(view, determination_block_id("truePositive"))["element"]
    assert determination["initial_option"]["value"] == "truePositive:malware"
    # an unknown classification string is treated as none chosen
    assert determination_block_id("<!here>") == BlockId.DETERMINATION_INPUT


def test_determination_values_are_checked_against_the_classification() -> None:
    assert parse_determination_value("falsePositive:other") == (
        Classification.FALSE_POSITIVE,
        Determination.OTHER,
    )
    for bad in ("falsePositive:malware", "unknown:other", "x", "truePositive:", ""):
        with pytest.raises(ValueError):
            parse_determination_value(bad)


def test_tags_modal_preselects_every_current_tag() -> None:
    select = _block(MODALS["modal-tags"], BlockId.TAGS_SELECT_INPUT)
    assert select["optional"] is True
    element = select["element"]
    assert element["type"] == "multi_static_select"
    assert element["initial_options"] == element["options"]
    assert [o["value"] for o in element["options"]] == ["Finance", "VIP"]
    new = _block(MODALS["modal-tags"], BlockId.TAGS_NEW_INPUT)
    assert new["element"]["action_id"] == ActionId.TAGS_NEW and new["optional"] is True


def test_tags_modal_without_tags_only_asks_for_new_ones() -> None:
    view = MODALS["modal-tags-empty"]
    assert [b.get("block_id") for b in view["blocks"]] == [None, BlockId.TAGS_NEW_INPUT]


def test_tags_modal_leaves_out_tags_that_cannot_be_options() -> None:
    tags = [f"tag{n}" for n in range(120)] + ["t" * 151]
    view = build_tags_modal(REF, tags)
    assert len(_block(view, BlockId.TAGS_SELECT_INPUT)["element"]["options"]) == 100
    assert "21 more tags cannot be shown" in json.dumps(view)
    assert_view_within_limits(view)
    sdk_round_trip_view(view)


def test_resulting_tags_removes_unselected_keeps_unoffered_and_adds_new() -> None:
    current = ["Finance", "VIP", "t" * 151]
    assert resulting_tags(current, ["Finance", "injected"], " ransomware, VIP,,\nFinance , new one ") == [
        "Finance",
        "t" * 151,
        "ransomware",
        "VIP",
        "new one",
    ]
    assert resulting_tags(current, [], None) == ["t" * 151]
    assert parse_new_tags("a, a ,\n b") == ["a", "b"]


def test_modal_errors_names_blocks() -> None:
    errors = modal_errors({BlockId.ASSIGNEE_EMAIL_INPUT: "Pick a user or type an email.\n" + "x" * 500})
    assert errors["response_action"] == "errors"
    message = errors["errors"]["incident-assignee-email-input"]
    assert message.startswith("Pick a user or type an email. x") and len(message) <= 300


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/actions/T1/2/abc", True),
        ("http://127.0.0.1:8123/response/cmd1", True),
        ("http://localhost/response/x", True),
        ("http://hooks.slack.com/actions/T1/2/abc", False),
        ("http://127.0.0.1.evil.example/x", False),
        ("https://hooks.slack.com/a b", False),
        ("https://hooks.slack.com/a|<!here>", False),
        ("ftp://127.0.0.1/x", False),
    ],
)
def test_response_urls_are_https_or_loopback_http(url: str, ok: bool) -> None:
    assert is_response_url(url) is ok
    if ok:
        assert SEAL.open(SEAL.value(IncidentRef(id="1", response_url=url))).response_url == url
