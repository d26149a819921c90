"""The incident card (bot/blocks/incident.py and its sections): golden cards, limits, escaping, values."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import CardContext, build_incident_card, card_fallback_text, incident_url
from bot.blocks.refs import IncidentRef
from bot.errors import InvalidIncidentId
from bot.models import IncidentSnapshot
from bot.models.reading import read_incident

from .conftest import (
    FETCHED,
    HOSTILE_TITLE,
    NOW,
    PORTAL,
    SEAL,
    TENANT,
    assert_no_raw_controls,
    assert_within_limits,
    beta_payload,
    context,
    hostile_payload,
    normal_payload,
    sdk_round_trip_blocks,
    snapshot,
)

CHANNEL = "C05SOCINC01"
UNFURL_URL = f"{PORTAL}/incidents/2972395?tid={TENANT}"


def message(snap: IncidentSnapshot, ctx: CardContext, **extra: Any) -> dict[str, Any]:
    """A chat.postMessage (or, with `user`, chat.postEphemeral) body with the card."""
    return {
        "channel": CHANNEL,
        "text": card_fallback_text(snap),
        "blocks": build_incident_card(snap, ctx),
        **extra,
    }


def resolved_payload() -> dict[str, Any]:
    return {
        **normal_payload(),
        "status": "resolved",
        "classification": "truePositive",
        "determination": "malware",
        "assignedTo": None,
        "resolvingComment": "Contained: device isolated, credentials reset & sessions revoked.",
        "lastModifiedBy": "kai@contoso.com",
    }


def malformed_payload() -> dict[str, Any]:
    """The normal incident with a field of each kind that does not parse, as a broken answer has them."""
    payload = normal_payload()
    payload.update(
        status={"odd": 1}, createdDateTime="yesterday", customTags="VIP", comments="see portal", severity=[3]
    )
    payload["alerts"] = [{"title": "an alert without an id"}, *payload["alerts"]]
    return payload


def unreadable_snapshot() -> IncidentSnapshot:
    return IncidentSnapshot(incident=read_incident(malformed_payload()).incident, fetched_at=FETCHED)


def _cards() -> dict[str, dict[str, Any]]:
    normal = snapshot(normal_payload())
    return {
        "card-normal": message(normal, context()),
        "card-beta": message(snapshot(beta_payload()), context()),
        "card-merged": message(snapshot(normal_payload(), merged_from=("4242",)), context()),
        "card-stale": message(snapshot(normal_payload(), stale=True), context()),
        "card-resolved": message(snapshot(resolved_payload()), context()),
        "card-live": message(snapshot(normal_payload()), context(live=True)),
        "card-sample-ephemeral": message(
            snapshot(beta_payload()), context(sample_data=True, shareable=True), user="U04JDOE0001"
        ),
        "card-hostile": message(snapshot(hostile_payload()), context()),
        "card-unreadable": message(unreadable_snapshot(), context()),
        "card-unfurl": {
            "channel": CHANNEL,
            "ts": "1700003700.001900",
            "unfurls": {UNFURL_URL: {"blocks": build_incident_card(normal, context(unfurl_url=UNFURL_URL))}},
        },
    }


CARDS = _cards()


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "unfurls" in body:
        return next(iter(body["unfurls"].values()))["blocks"]  # type: ignore[no-any-return]
    return body["blocks"]  # type: ignore[no-any-return]


def _actions(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    row = next(b for b in blocks if b.get("block_id") == BlockId.CARD_ACTIONS)
    return {element["action_id"]: element for element in row["elements"]}


def _all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_matches_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, CARDS[name])


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_is_within_slack_limits_and_valid_for_slack_sdk(name: str) -> None:
    blocks = _blocks(CARDS[name])
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)
    assert_no_raw_controls(CARDS[name])


def test_card_has_a_bounded_number_of_blocks_even_with_everything_present() -> None:
    snap = snapshot(hostile_payload(), merged_from=("4242", "4243"), stale=True)
    ctx = context(sample_data=True, shareable=True, unfurl_url=UNFURL_URL)
    blocks = build_incident_card(snap, ctx)
    assert len(snap.incident.alerts) == 30 and len(snap.incident.comments) == 20
    assert len(blocks) <= 16
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)


def test_hostile_card_shows_attacker_text_literally() -> None:
    blocks = _blocks(CARDS["card-hostile"])
    text = _all_text(blocks)
    assert (
        "&lt;!channel&gt; *bold* &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; friends" not in text
    )
    # the title is plain_text (never parsed by Slack), shown as Defender has it
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": HOSTILE_TITLE, "emoji": False},
    }
    assert "&lt;!here&gt; &amp;amp; &lt;@U123&gt;" in text  # the description's `&amp;` shows as typed
    assert "evil.example/incidents" not in text  # its incidentWebUrl is on another host: not used
    assert CARDS["card-hostile"]["text"].startswith("Incident 6666: &lt;!channel&gt; *bold* &lt;@U123&gt;")


def test_hostile_sections_are_cut_far_below_the_section_limit() -> None:
    for block in _blocks(CARDS["card-hostile"]):
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 1500, block["text"]["text"][:80]


def test_long_description_is_cut_with_a_link_to_defender() -> None:
    blocks = _blocks(CARDS["card-hostile"])
    description = next(
        b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith("*Desc")
    )
    url = incident_url(PORTAL, "6666", TENANT)
    assert description.endswith(f"…\n<{url}|Read more in Defender>")
    short = next(b["text"]["text"] for b in _blocks(CARDS["card-beta"]) if "*Summary*" in str(b))
    assert "Read more" not in short and "Not shown" not in short


def test_short_description_with_blank_lines_has_no_read_more_link() -> None:
    payload = {**normal_payload(), "description": "First paragraph.\n\n\nSecond paragraph.\n"}
    blocks = build_incident_card(snapshot(payload), context())
    assert {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Description*\nFirst paragraph.\nSecond paragraph."},
    } in blocks


def test_header_is_cut_to_150_characters() -> None:
    blocks = build_incident_card(snapshot({**normal_payload(), "displayName": "A" * 400}), context())
    header = next(b for b in blocks if b["type"] == "header")
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")


def test_card_of_a_bare_incident_is_valid() -> None:
    blocks = build_incident_card(snapshot({"id": "1"}), context())
    assert blocks[0]["text"]["text"] == "Incident 1"
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)


def test_fields_name_status_severity_and_assignee() -> None:
    fields = [f["text"] for f in next(b for b in _blocks(CARDS["card-normal"]) if "fields" in b)["fields"]]
    assert fields[:5] == [
        "*Status*\nActive",
        "*Severity*\n:red_circle: High",
        "*Classification*\nNot set",
        "*Determination*\nNot set",
        "*Assigned to*\nalice@contoso.com",
    ]
    assert fields[5] == "*Created*\n<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>"
    assert fields[7:] == ["*Tags*\n`Finance` `VIP`", "*System tags*\n`Ransomware`"]


def test_comments_are_newest_first_and_at_most_three() -> None:
    text = next(b["text"]["text"] for b in _blocks(CARDS["card-normal"]) if "*Latest comments*" in str(b))
    assert text.startswith("*Latest comments* (3 of 4)\n*Alice Analyst*")
    assert text.index("Collected") < text.index("Escalated") < text.index("Isolated")
    assert "Looking into it" not in text


def test_alerts_summary_counts_each_severity() -> None:
    text = next(b["text"]["text"] for b in _blocks(CARDS["card-hostile"]) if "30 alerts" in str(b))
    assert text.startswith(
        "*30 alerts:* 6 high · 6 medium · 6 low · 6 informational · 6 catastrophic&lt;!channel&gt;\n"
    )
    assert text.endswith("_25 more in Defender_")


def test_affected_assets_show_five_of_each_and_how_many_more() -> None:
    evidence = next(b for b in _blocks(CARDS["card-hostile"]) if "fields" in b and "*Devices*" in str(b))
    devices, users, techniques = (f["text"] for f in evidence["fields"])
    assert devices.startswith("*Devices* (37)\n") and devices.endswith("_32 more_")
    assert users.startswith("*Users* (31)\n") and users.endswith("_26 more_")
    assert techniques.startswith("*MITRE ATT&amp;CK* (31)\n`T1000` `&lt;!here&gt;`")


def test_buttons_carry_the_incident_ref_and_the_unfurl_url() -> None:
    actions = _actions(_blocks(CARDS["card-unfurl"]))
    for action_id, element in actions.items():
        if element["type"] == "button" and action_id != ActionId.OPEN:
            assert SEAL.open(element["value"]) == IncidentRef(id="2972395", url=UNFURL_URL)
    assert actions[ActionId.OPEN]["url"] == UNFURL_URL


def test_unfurl_url_too_long_for_a_button_value_is_left_out() -> None:
    long_url = f"{PORTAL}/incidents/2972395?tid={TENANT}&x={'a' * 2100}"
    for url in (long_url, "https://security.microsoft.com/incidents/1|<!here>"):
        actions = _actions(build_incident_card(snapshot(normal_payload()), context(unfurl_url=url)))
        assert SEAL.open(actions[ActionId.COMMENT]["value"]) == IncidentRef(id="2972395")


def test_active_card_offers_resolve_and_resolved_card_reopen() -> None:
    active = _actions(_blocks(CARDS["card-normal"]))
    resolved = _actions(_blocks(CARDS["card-resolved"]))
    assert ActionId.RESOLVE in active and ActionId.REOPEN not in active
    assert ActionId.REOPEN in resolved and ActionId.RESOLVE not in resolved
    assert "Resolving comment" in _all_text(_blocks(CARDS["card-resolved"]))


def test_share_button_only_on_shareable_cards_and_first() -> None:
    shareable = list(_actions(_blocks(CARDS["card-sample-ephemeral"])).values())
    assert shareable[0]["action_id"] == ActionId.SHARE and shareable[0]["style"] == "primary"
    assert ActionId.SHARE not in _actions(_blocks(CARDS["card-normal"]))
    assert sum(1 for e in shareable if e.get("style") == "primary") == 1


def test_overflow_options_encode_action_and_incident() -> None:
    more = _actions(_blocks(CARDS["card-normal"]))[ActionId.MORE]
    decoded = [SEAL.open_option(o["value"]) for o in more["options"]]
    assert decoded == [
        (ActionId.TAGS, "2972395"),
        (ActionId.IN_PROGRESS, "2972395"),
        (ActionId.UNASSIGN, "2972395"),
    ]
    resolved = _actions(_blocks(CARDS["card-resolved"]))[ActionId.MORE]
    assert [SEAL.open_option(o["value"])[0] for o in resolved["options"]] == [ActionId.TAGS]


def test_sample_merged_and_stale_notes() -> None:
    assert "Sample data" in _blocks(CARDS["card-sample-ephemeral"])[0]["elements"][0]["text"]
    merged = _blocks(CARDS["card-merged"])[0]["elements"][0]["text"]
    assert merged == ":link: Incident 4242 was merged into 2972395"
    stale = _blocks(CARDS["card-stale"])[-2]["text"]["text"]
    assert stale.startswith(":warning: *Data may be out of date*") and stale.endswith(", 23 min old")
    fresh = _blocks(CARDS["card-normal"])[-2]["elements"][0]["text"]
    assert fresh.startswith(":shield: Microsoft Defender · data as of <!date^")


def test_unreadable_fields_are_marked_unknown_and_named_once() -> None:
    blocks = _blocks(CARDS["card-unreadable"])
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in blocks[2]["fields"]}
    for label in ("*Status*", "*Severity*", "*Created*", "*Tags*"):
        assert fields[label] == "_unknown (unreadable)_", label
    assert fields["*Assigned to*"] != "_unknown (unreadable)_"
    [note] = [b for b in blocks if b["type"] == "context" and "could not be read" in _all_text([b])]
    assert "status, severity, created, tags, comments, alerts" in note["elements"][0]["text"]
    # the readable alerts are still on the card
    assert "alerts:*" in _all_text(blocks)


def test_stale_card_without_now_has_no_age() -> None:
    ctx = CardContext(portal_url=PORTAL, tenant_id=TENANT, seal=SEAL)
    stale = build_incident_card(snapshot(normal_payload(), stale=True), ctx)[-2]["text"]["text"]
    assert "old" not in stale and NOW  # the card reads no clock of its own


def test_incident_url_is_built_from_trusted_parts() -> None:
    assert incident_url("https://security.microsoft.com/", "2972395", TENANT) == UNFURL_URL
    assert incident_url(PORTAL, "1", None) == f"{PORTAL}/incidents/1"
    assert incident_url(PORTAL, "1", "a b&c") == f"{PORTAL}/incidents/1?tid=a%20b%26c"
    with pytest.raises(InvalidIncidentId):
        incident_url(PORTAL, "1/../../x", TENANT)


@pytest.mark.parametrize(
    "web_url",
    [
        f"{PORTAL}/incidents/2972395?tid=other",
        "https://evil.example\\@security.microsoft.com/incidents/2972395",  # a browser goes to evil.example
        "https://security.microsoft.com@evil.example/incidents/2972395",
        "https://security.microsoft.com.evil.example/incidents/2972395",
        "http://security.microsoft.com/incidents/2972395",
        "https://security.microsoft.com/incidents/2972395|<!here>",
        "https://[bad/incidents/1",
        None,
    ],
)
def test_the_portal_link_is_built_from_the_configured_portal_never_taken_from_the_api(
    web_url: str | None,
) -> None:
    blocks = build_incident_card(snapshot({**normal_payload(), "incidentWebUrl": web_url}), context())
    assert _actions(blocks)[ActionId.OPEN]["url"] == UNFURL_URL
    assert "evil" not in json.dumps(blocks)


def test_a_stale_card_says_its_age_in_seconds_when_younger_than_a_minute() -> None:
    fetched = snapshot(normal_payload()).fetched_at
    stale = snapshot(normal_payload(), stale=True)
    ctx = CardContext(
        portal_url="https://security.microsoft.com",
        tenant_id=None,
        seal=SEAL,
        now=fetched + timedelta(seconds=12),
    )
    blocks = build_incident_card(stale, ctx)
    text = json.dumps(blocks)
    assert "12 s old" in text and "busy or unavailable" in text
