"""The App Home tab (bot/blocks/home.py): its three sections, empty states, "+N more", limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.blocks.home import build_home
from bot.blocks.ids import ActionId
from bot.models import Incident

from .conftest import (
    FETCHED,
    HOSTILE_TITLE,
    NOW,
    PORTAL,
    SEAL,
    TENANT,
    _at,
    assert_no_raw_controls,
    assert_within_limits,
    beta_payload,
    hostile_payload,
    normal_payload,
    sdk_round_trip_view,
)

SUBSCRIPTIONS = [
    ("C05SOCHIGH1", "severity>=high status=active: new incidents, reminders every 30 min"),
    ("G05IRTEAM01", "tag=VIP: every change"),
]
HOSTILE_SUBSCRIPTIONS = [
    ("C05SOCHIGH1", "<!channel> *all* & <https://evil.example|click> <@U123>"),
    ("<!here>", "not a channel id"),
    ("C05SOC|x>", ""),
]


def incident(payload: dict[str, Any], **changes: Any) -> Incident:
    return Incident.model_validate({**payload, **changes})


def unassigned(number: int) -> Incident:
    return incident(
        normal_payload(),
        id=str(2972400 + number),
        displayName=f"Suspicious sign-in from an anonymous IP address ({number})",
        assignedTo=None,
        createdDateTime=_at(-60 * number),
    )


def home(**extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "mine": [incident(normal_payload())],
        "unassigned_high": [unassigned(1)],
        "subscriptions": SUBSCRIPTIONS,
        "read_at": FETCHED,
        "seal": SEAL,
        "portal_url": PORTAL,
        "tenant_id": TENANT,
        "email_known": True,
        "now": NOW,
    }
    return build_home(**{**args, **extra})


def _views() -> dict[str, dict[str, Any]]:
    hostile = incident(hostile_payload())
    mine = [incident(normal_payload(), id=str(2972380 + n)) for n in range(12)]
    return {
        "home-normal": home(mine=[incident(normal_payload()), incident(beta_payload())]),
        "home-hostile": home(mine=[hostile], unassigned_high=[hostile], subscriptions=HOSTILE_SUBSCRIPTIONS),
        "home-empty": home(mine=[], unassigned_high=[], subscriptions=[]),
        "home-no-email": home(mine=[], email_known=False),
        "home-more": home(
            mine=mine,
            unassigned_high=[unassigned(n) for n in range(1, 16)],
            subscriptions=[(f"C05SOC{n:05d}", f"subscription {n}") for n in range(13)],
        ),
        "home-not-read": home(
            mine=[],
            unassigned_high=[],
            read_at=None,
            note=":warning: Defender did not answer; open the tab again in a minute.",
        ),
    }


VIEWS = _views()


def assert_home_within_limits(view: dict[str, Any]) -> None:
    """A home tab: no title or buttons of its own, at most 100 blocks, at most 250 kB of JSON.
    (conftest's assert_view_within_limits is for modals, which must have a title.)"""
    assert view["type"] == "home"
    assert set(view) <= {"type", "blocks", "private_metadata", "callback_id", "external_id"}
    assert_within_limits(view["blocks"], max_blocks=100)
    assert len(json.dumps(view, ensure_ascii=False).encode()) <= 250_000


def texts(view: dict[str, Any]) -> list[str]:
    """The mrkdwn of every section and context block, in order."""
    out = []
    for block in view["blocks"]:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out.extend(element["text"] for element in block["elements"])
    return out


def show_buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in view["blocks"] if "accessory" in b]


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_home_matches_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, VIEWS[name])


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_home_is_within_limits_valid_for_slack_sdk_and_mentions_nobody(name: str) -> None:
    assert_home_within_limits(VIEWS[name])
    sdk_round_trip_view(VIEWS[name])
    assert_no_raw_controls(VIEWS[name])


def test_the_sections_come_in_order_under_the_header() -> None:
    view = VIEWS["home-normal"]
    assert view["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Microsoft Defender incidents", "emoji": True},
    }
    titles = [t for t in texts(view) if t.startswith("*") and t.endswith("*")]
    assert titles == ["*Assigned to me*", "*Unassigned, high severity*", "*Subscriptions in your channels*"]
    assert texts(view)[0].startswith(":shield: Read from Defender <!date^1700005800^")


def test_rows_are_the_list_rows_with_the_home_show_button() -> None:
    buttons = show_buttons(VIEWS["home-normal"])
    assert [b["action_id"] for b in buttons] == [ActionId.HOME_SHOW] * 3
    assert [SEAL.open(b["value"]).id for b in buttons] == ["2972395", "2972396", "2972401"]
    row = next(t for t in texts(VIEWS["home-normal"]) if "Incident 2972401" in t)
    assert row.endswith("High · Active · opened <!date^1699996400^{ago}|2023-11-14 21:13 UTC> · _Unassigned_")


def test_hostile_incidents_and_subscriptions_are_escaped() -> None:
    shown = "\n".join(texts(VIEWS["home-hostile"]))
    assert "&lt;!channel&gt; ∗bold∗ &lt;@U123&gt;" in shown
    assert (
        "• <#C05SOCHIGH1>: &lt;!channel&gt; *all* &amp; &lt;https://evil.example|click&gt; &lt;@U123&gt;"
        in shown
    )
    assert "• `&lt;!here&gt;`: not a channel id" in shown  # not a channel id: no <#…> made of it
    assert "• `C05SOC|x&gt;`\n" in shown + "\n"
    assert HOSTILE_TITLE not in shown


def test_ten_rows_a_section_then_how_many_more() -> None:
    view = VIEWS["home-more"]
    assert len(show_buttons(view)) == 20
    shown = texts(view)
    assert "+2 more: see them all with `/incident list mine`." in shown
    assert "+5 more: see them all with `/incident list unassigned high`." in shown
    subscriptions = next(t for t in shown if t.startswith("• <#C05SOC00000>"))
    assert subscriptions.count("\n") == 9
    assert "+3 more: `/incident subscriptions` in a channel lists its own." in shown
    assert not any(t.startswith("+") for t in texts(VIEWS["home-normal"]))


def test_empty_sections_say_so() -> None:
    shown = texts(VIEWS["home-empty"])
    assert "Nothing is assigned to you." in shown
    assert "No unassigned high-severity incidents." in shown
    assert "No incident subscriptions in your channels." in shown
    assert show_buttons(VIEWS["home-empty"]) == []


def test_without_an_email_the_tab_says_why_nothing_is_assigned() -> None:
    shown = texts(home(email_known=False))  # the incidents handed over are not shown
    assert any("your Slack profile has no email address" in t for t in shown)
    assert "Nothing is assigned to you." not in shown
    assert [SEAL.open(b["value"]).id for b in show_buttons(home(email_known=False))] == ["2972401"]


def test_when_defender_was_not_read_the_sections_do_not_say_none() -> None:
    shown = texts(VIEWS["home-not-read"])
    assert shown[0] == ":shield: Not read from Defender"
    assert shown[1] == ":warning: Defender did not answer; open the tab again in a minute."
    assert shown.count("_Defender could not be read just now._") == 2
    assert "Nothing is assigned to you." not in shown
    escaped = texts(home(note="Defender said <!here> & <https://evil.example|this>"))[1]
    assert escaped == "Defender said &lt;!here&gt; &amp; &lt;https://evil.example|this&gt;"


def test_a_full_hostile_home_stays_within_the_home_limits() -> None:
    hostile = hostile_payload()
    many = [incident(hostile, id=str(6600 + n), displayName=hostile["displayName"] * 40) for n in range(30)]
    subscriptions = [(f"C{n:08d}", "<!channel> & " * 300) for n in range(40)]
    view = home(mine=many, unassigned_high=many, subscriptions=subscriptions, note="n" * 5000)
    assert_home_within_limits(view)
    sdk_round_trip_view(view)
    assert_no_raw_controls(view)
    assert len(view["blocks"]) == 33  # the most there can be
