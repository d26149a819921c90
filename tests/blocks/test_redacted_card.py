"""The redacted card (bot/blocks/redacted.py): what a conversation with outsiders sees of an incident.

The core test walks every string of the fixture incidents (normal, beta, hostile, and one with every
kind of evidence) and finds none of them on the redacted card, but the title where it is shown.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import CardContext, build_incident_card, incident_url
from bot.blocks.redacted import build_redacted_card, redacted_fallback_text
from bot.blocks.refs import IncidentRef
from bot.blocks.text import (
    classification_label,
    determination_label,
    escape_mrkdwn,
    one_line,
)
from bot.models import IncidentSnapshot
from bot.models.reading import read_incident

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
    context,
    hostile_payload,
    normal_payload,
    sdk_round_trip_blocks,
    snapshot,
    strings,
)

CHANNEL = "C05SOCPUB01"
UNFURL_TS = "1700003700.001900"
UNFURL_URL = f"{PORTAL}/incidents/2972395?tid={TENANT}"
HOSTILE_URL = f"{PORTAL}/incidents/6666?tid={TENANT}"


def exposed_payload() -> dict[str, Any]:
    """The normal incident resolved, with every kind of evidence, a summary and hunting queries:
    everything a redacted card must leave out, in one incident."""
    payload = normal_payload()
    evidence = [
        {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "203.0.113.77"},
        {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "2001:db8::4242"},
        {"@odata.type": "#microsoft.graph.security.mailboxEvidence", "primaryAddress": "ceo@contoso.com"},
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "https://contoso-pay.example/login"},
        {
            "@odata.type": "#microsoft.graph.security.fileEvidence",
            "fileDetails": {"fileName": "invoice.pdf.exe"},
        },
        {
            "@odata.type": "#microsoft.graph.security.processEvidence",
            "imageFile": {"fileName": "rundll32.exe"},
            "processId": 4242,
        },
        {
            "@odata.type": "#microsoft.graph.security.userEvidence",
            "userAccount": {"accountName": "svc-backup", "domainName": "CONTOSO"},
        },
    ]
    payload["alerts"].append(
        {
            "id": "da63000099",
            "title": "Connection to a known command-and-control address",
            "severity": "high",
            "status": "resolved",
            "category": "CommandAndControl",
            "createdDateTime": _at(70),
            "evidence": evidence,
        }
    )
    payload.update(
        status="resolved",
        classification="truePositive",
        determination="compromisedAccount",
        resolvingComment="Contained: reset svc-backup, blocked 203.0.113.77.",
        lastModifiedBy="kai@contoso.com",
        summary="svc-backup signed in from 203.0.113.77 and mailed ceo@contoso.com.",
        recommendedHuntingQueries=[{"kqlText": 'DeviceNetworkEvents | where RemoteIP == "203.0.113.77"'}],
    )
    return payload


PAYLOADS: dict[str, Callable[[], dict[str, Any]]] = {
    "normal": normal_payload,
    "beta": beta_payload,
    "hostile": hostile_payload,
    "exposed": exposed_payload,
}


def unfurl(snap: IncidentSnapshot, url: str, *, show_title: bool, **ctx: Any) -> dict[str, Any]:
    """The chat.unfurl body of one link, as the unfurl handler sends it."""
    blocks = build_redacted_card(snap, context(unfurl_url=url, **ctx), show_title=show_title)
    return {"channel": CHANNEL, "ts": UNFURL_TS, "unfurls": {url: {"blocks": blocks}}}


def _cards() -> dict[str, dict[str, Any]]:
    normal, hostile = snapshot(normal_payload()), snapshot(hostile_payload())
    live = snapshot({**normal_payload(), "assignedTo": None}, merged_from=("4242",))
    return {
        "card-redacted-normal": unfurl(normal, UNFURL_URL, show_title=False),
        "card-redacted-normal-title": unfurl(normal, UNFURL_URL, show_title=True),
        "card-redacted-hostile": unfurl(hostile, HOSTILE_URL, show_title=False),
        "card-redacted-hostile-title": unfurl(hostile, HOSTILE_URL, show_title=True),
        # a live card's redraw (chat.update): merged from another id, unassigned, its fallback text
        "card-redacted-live": {
            "channel": CHANNEL,
            "ts": UNFURL_TS,
            "text": redacted_fallback_text(live),
            "blocks": build_redacted_card(live, context(live=True), show_title=False),
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


def _fields(blocks: list[dict[str, Any]]) -> dict[str, str]:
    section = next(b for b in blocks if "fields" in b)
    return dict(f["text"].split("\n", 1) for f in section["fields"])


# --- what outsiders must not read --------------------------------------------------------------------

# Top-level fields the card may show (id, status, severity, when it was opened) or that are checked on
# their own below (the tenant is in every portal link; the API's own link is never used; the
# classification and determination, by their labels).
_SHOWN_KEYS = {
    "id",
    "tenantId",
    "status",
    "severity",
    "createdDateTime",
    "lastUpdateDateTime",
    "incidentWebUrl",
    "classification",
    "determination",
}
# Inside alerts, comments and evidence: enum values and times, which say nothing of anyone, and which
# the card's own words ("High", "Active") would match.
_NESTED_SHOWN_KEYS = {"@odata.type", "severity", "status", "createdDateTime"}
# What in a string looks like a name of something: a host, an address, a file, an id.
_IDENTIFIER = re.compile(r"[\w.@\\-]{4,}")
_MARKS = re.compile(r"[0-9@.\\_-]")
# Words of the fixtures that name people, hosts and organisations, whatever the string they are in.
_NAMES = ("alice", "jdoe", "bob", "carol", "mallory", "kai@", "contoso", "evil.example", "ws-fin", "srv-dc")


def payload_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) of every string in an incident payload but the fields the card may show."""
    if isinstance(node, dict):
        for key, value in node.items():
            shown = _SHOWN_KEYS if not path else _NESTED_SHOWN_KEYS
            if key not in shown:
                yield from payload_strings(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from payload_strings(value, f"{path}[{index}]")
    elif isinstance(node, str | int) and not isinstance(node, bool):
        yield path, str(node)


def needles(value: str) -> set[str]:
    """The forms a string could take on a card: as sent, on one line, escaped, cut; and the
    identifier-like words in it (host names, addresses, file names, techniques)."""
    line = one_line(value)
    forms = {line, escape_mrkdwn(line)}
    forms |= {form[:24] for form in list(forms) if len(form) > 24}
    forms = {form for form in forms if len(form) >= 3}
    words = (word.strip(".-_") for word in _IDENTIFIER.findall(value) if _MARKS.search(word))
    forms |= {word for word in words if len(word) >= 4}
    return {form.lower() for form in forms}


def haystack(body: dict[str, Any], *, header: str | None = None) -> str:
    """Every string of the body (button values and URLs too: Slack clients receive them), lowered;
    the header's text left out when it is the title the deployment allows."""
    found = []
    for path, value, _ in strings(body):
        if header is not None and path.endswith("blocks[0].text.text") and value == header:
            continue
        found.append(value)
    return "\n".join(found).lower()


@pytest.mark.parametrize("show_title", [False, True], ids=["title-hidden", "title-shown"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_no_string_of_the_incident_is_on_the_redacted_card(name: str, show_title: bool) -> None:
    payload = PAYLOADS[name]()
    snap = snapshot(payload)
    url = incident_url(PORTAL, payload["id"], TENANT)
    body = unfurl(snap, url, show_title=show_title)
    body["text"] = redacted_fallback_text(snap)
    header = _blocks(body)[0]["text"]["text"]
    if show_title:
        assert header == one_line(payload["displayName"])[:150]
    else:
        assert header == f"Incident {payload['id']}"
    text = haystack(body, header=header if show_title else None)
    checked = 0
    for path, value in payload_strings(payload):
        if show_title and path == "displayName":
            continue
        for needle in needles(value):
            assert needle not in text, f"{name}: {path} ({needle!r}) is on the redacted card"
            checked += 1
    for word in _NAMES:
        assert word not in text, f"{name}: {word!r} is on the redacted card"
    assert checked > 20  # the walk found the fixture's strings


def test_the_walk_finds_what_the_full_card_shows() -> None:
    """The check above is not vacuous: on the full card it finds titles, names, hosts, comments, tags."""
    for name in ("normal", "hostile", "exposed"):
        payload = PAYLOADS[name]()
        text = haystack({"blocks": build_incident_card(snapshot(payload), context())})
        found = {
            re.split(r"[.\[]", path)[0]
            for path, value in payload_strings(payload)
            if any(needle in text for needle in needles(value))
        }
        assert {"displayName", "assignedTo", "customTags", "comments", "alerts"} <= found, name


def test_classification_and_determination_are_left_out() -> None:
    payload = exposed_payload()
    text = haystack(unfurl(snapshot(payload), UNFURL_URL, show_title=True))
    for value in (
        classification_label(payload["classification"]),
        determination_label(payload["determination"]),
        payload["classification"],
        payload["determination"],
        "classification",
        "determination",
    ):
        assert value.lower() not in text, value


def test_the_apis_own_link_is_never_used() -> None:
    text = json.dumps(CARDS["card-redacted-hostile-title"], ensure_ascii=False)
    assert "evil.example/incidents" not in text
    assert _actions(_blocks(CARDS["card-redacted-hostile"]))[ActionId.OPEN]["url"] == HOSTILE_URL


# --- the card ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CARDS))
def test_redacted_card_matches_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, CARDS[name])


@pytest.mark.parametrize("name", sorted(CARDS))
def test_redacted_card_is_within_slack_limits_and_valid_for_slack_sdk(name: str) -> None:
    blocks = _blocks(CARDS[name])
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)
    assert_no_raw_controls(CARDS[name])


def test_the_card_has_a_bounded_number_of_blocks_even_with_everything_present() -> None:
    snap = snapshot(hostile_payload(), merged_from=("4242", "4243"), stale=True)
    ctx = context(sample_data=True, shareable=True, unfurl_url=HOSTILE_URL, live=True)
    blocks = build_redacted_card(snap, ctx, show_title=True)
    assert len(blocks) == 8
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)
    assert_no_raw_controls(blocks)


def test_the_title_is_shown_only_when_allowed() -> None:
    hidden, shown = _blocks(CARDS["card-redacted-normal"]), _blocks(CARDS["card-redacted-normal-title"])
    assert hidden[0]["text"]["text"] == "Incident 2972395"
    assert shown[0]["text"]["text"] == normal_payload()["displayName"]
    assert hidden[1:] == shown[1:]  # the title is the only difference
    assert _blocks(CARDS["card-redacted-hostile-title"])[0]["text"] == {
        "type": "plain_text",
        "text": HOSTILE_TITLE,  # plain_text, never parsed, as on the full card
        "emoji": False,
    }
    blank = build_redacted_card(snapshot({"id": "1", "displayName": "  "}), context(), show_title=True)
    assert blank[0]["text"]["text"] == "Incident 1"


def test_fields_say_status_severity_whether_assigned_and_when_opened() -> None:
    assert _fields(_blocks(CARDS["card-redacted-normal"])) == {
        "*Status*": "Active",
        "*Severity*": ":red_circle: High",
        "*Assignment*": "Assigned",
        # Slack keeps "2 hours ago" current for each reader; the fallback is the absolute time
        "*Opened*": "<!date^1700000000^{ago}|2023-11-14 22:13 UTC>",
    }
    assert _fields(_blocks(CARDS["card-redacted-live"]))["*Assignment*"] == "_Unassigned_"
    bare = _fields(build_redacted_card(snapshot({"id": "1"}), context(), show_title=False))
    assert bare == {
        "*Status*": "Active",
        "*Severity*": ":white_circle: Unknown",
        "*Assignment*": "_Unassigned_",
        "*Opened*": "—",
    }


def test_values_the_bot_does_not_know_are_not_shown_as_sent() -> None:
    fields = _fields(_blocks(CARDS["card-redacted-hostile"]))
    assert fields["*Status*"] == "Other"  # "active<!here>" as Defender sent it
    odd = snapshot({**normal_payload(), "severity": "catastrophic", "status": "awaitingAction"})
    fields = _fields(build_redacted_card(odd, context(), show_title=False))
    assert fields["*Severity*"] == ":white_circle: Other" and fields["*Status*"] == "Awaiting action"
    newer = snapshot({**normal_payload(), "status": "unknownFutureValue"})
    assert _fields(build_redacted_card(newer, context(), show_title=False))["*Status*"] == (
        "Unknown (newer value)"
    )


def test_unreadable_fields_are_unknown_never_unassigned() -> None:
    payload = {**normal_payload(), "status": {"odd": 1}, "assignedTo": ["x"], "createdDateTime": "yesterday"}
    reading = read_incident(payload)
    snap = IncidentSnapshot(incident=reading.incident, fetched_at=FETCHED)
    fields = _fields(build_redacted_card(snap, context(), show_title=False))
    for label in ("*Status*", "*Assignment*", "*Opened*"):
        assert fields[label] == "_unknown (unreadable)_", label
    assert fields["*Severity*"] == ":red_circle: High"
    assert redacted_fallback_text(snap) == "Incident 2972395 (High, unknown status)"


def test_the_context_line_says_details_are_limited() -> None:
    for name in CARDS:
        notes = [b for b in _blocks(CARDS[name]) if b["type"] == "context"]
        assert any("Details are limited in this conversation" in n["elements"][0]["text"] for n in notes)


def test_show_details_carries_the_sealed_ref_and_open_the_portal_link() -> None:
    actions = _actions(_blocks(CARDS["card-redacted-normal"]))
    assert list(actions) == [ActionId.SHOW_DETAILS, ActionId.OPEN]
    details = actions[ActionId.SHOW_DETAILS]
    assert details["text"]["text"] == "Show details" and details["style"] == "primary"
    assert SEAL.open(details["value"]) == IncidentRef(id="2972395", url=UNFURL_URL)
    assert details["value"] == SEAL.button_value("2972395", UNFURL_URL)  # what the full card's buttons carry
    assert actions[ActionId.OPEN] == {
        "type": "button",
        "action_id": ActionId.OPEN,
        "text": {"type": "plain_text", "text": "Open in Defender", "emoji": True},
        "url": UNFURL_URL,
    }
    live = _actions(_blocks(CARDS["card-redacted-live"]))[ActionId.SHOW_DETAILS]
    assert SEAL.open(live["value"]) == IncidentRef(id="2972395")  # not an unfurl: no link to re-unfurl


def test_no_write_or_share_button_even_on_a_shareable_context() -> None:
    blocks = build_redacted_card(snapshot(normal_payload()), context(shareable=True), show_title=False)
    assert list(_actions(blocks)) == [ActionId.SHOW_DETAILS, ActionId.OPEN]


def test_the_footer_says_live_or_as_of_and_a_stale_card_its_age() -> None:
    normal = snapshot(normal_payload())
    fresh = build_redacted_card(normal, context(), show_title=False)[-2]["elements"][0]["text"]
    assert fresh.startswith(":shield: Microsoft Defender · data as of <!date^")
    live = _blocks(CARDS["card-redacted-live"])[-2]["elements"][0]["text"]
    assert live.startswith(":shield: Microsoft Defender · Live · checked <!date^")
    stale = build_redacted_card(snapshot(normal_payload(), stale=True), context(), show_title=False)
    assert stale[-2]["text"]["text"].endswith(", 23 min old")
    assert stale[-2]["text"]["text"].startswith(":warning: *Data may be out of date*")


def test_the_card_reads_the_clock_only_for_a_stale_cards_age() -> None:
    """Like the full card, so a memo of drawn cards may key on `now` only for stale snapshots."""
    snap = snapshot(normal_payload())
    later = dataclasses.replace(context(), now=NOW + timedelta(days=3))
    assert build_redacted_card(snap, later, show_title=False) == build_redacted_card(
        snap, context(), show_title=False
    )
    no_clock = CardContext(portal_url=PORTAL, tenant_id=TENANT, seal=SEAL)
    assert build_redacted_card(snap, no_clock, show_title=False) == build_redacted_card(
        snap, context(), show_title=False
    )


def test_sample_and_merged_notes() -> None:
    live = _blocks(CARDS["card-redacted-live"])
    assert live[0]["elements"][0]["text"] == ":link: Incident 4242 was merged into 2972395"
    sample = build_redacted_card(snapshot(normal_payload()), context(sample_data=True), show_title=False)
    assert "Sample data" in sample[0]["elements"][0]["text"]


def test_fallback_text_names_id_severity_and_status_only() -> None:
    assert redacted_fallback_text(snapshot(normal_payload())) == "Incident 2972395 (High, Active)"
    assert redacted_fallback_text(snapshot(hostile_payload())) == "Incident 6666 (High, Other)"
    assert CARDS["card-redacted-live"]["text"] == "Incident 2972395 (High, Active)"
