"""The modals between a click and its data: Loading…, the notice that replaces a form, the problem view."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.blocks.ids import ActionId, CallbackId
from bot.blocks.pending_modals import (
    build_loading_modal,
    build_modal_for,
    build_notice_modal,
    build_problem_modal,
)
from bot.blocks.refs import IncidentRef
from bot.people import NOT_ALLOWED
from tests.blocks.conftest import (
    SEAL,
    assert_view_within_limits,
    hostile_payload,
    normal_payload,
    sdk_round_trip_view,
    snapshot,
)

PLACE = IncidentRef(id="2972395", channel="C0SOC", ts="1700000000.000100")
REF = SEAL.seal(PLACE)
BUTTONS = [ActionId.COMMENT, ActionId.ASSIGN, ActionId.RESOLVE, ActionId.TAGS]
VIEWS = {
    "modal-loading-comment": build_loading_modal(ActionId.COMMENT, REF),
    "modal-notice-refused": build_notice_modal(ActionId.RESOLVE, REF, NOT_ALLOWED),
    "modal-problem": build_problem_modal(
        "Sorry, that did not work: something went wrong on our side. If it happens again, give "
        "whoever runs the bot this reference: `0123456789ab`."
    ),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_pending_views_match_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    view = VIEWS[name]
    golden(name, view)
    assert_view_within_limits(view)
    sdk_round_trip_view(view)


@pytest.mark.parametrize("button", BUTTONS)
def test_the_loading_modal_has_nothing_to_submit_and_carries_the_card(button: ActionId) -> None:
    view = build_loading_modal(button, REF)
    assert view["callback_id"] == CallbackId.PENDING_MODAL and "submit" not in view
    assert SEAL.open(view["private_metadata"]) == PLACE
    assert "Incident 2972395" in json.dumps(view)


@pytest.mark.parametrize("button", BUTTONS)
def test_the_modal_for_each_button_is_the_form_that_replaces_loading(button: ActionId) -> None:
    view = build_modal_for(button, REF, snapshot(normal_payload()).incident)
    assert view["callback_id"] != CallbackId.PENDING_MODAL and "submit" in view
    assert_view_within_limits(view)


def test_a_notice_escapes_what_it_is_given() -> None:
    view = build_notice_modal(ActionId.COMMENT, REF, "<!channel> & <https://evil.example|click>")
    text = json.dumps(view)
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text


def test_the_resolve_modal_for_a_hostile_incident_stays_within_limits() -> None:
    view = build_modal_for(ActionId.RESOLVE, REF, snapshot(hostile_payload()).incident, "truePositive")
    assert_view_within_limits(view)
