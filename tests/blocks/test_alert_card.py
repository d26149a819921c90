"""The alert card (bot/blocks/alert_card.py): golden cards, limits, escaping, the incident and its button."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.alert_card import (
    alert_fallback_text,
    alert_url,
    build_alert_card,
    category_label,
    defang,
)
from bot.blocks.ids import ActionId, BlockId
from bot.blocks.incident import CardContext
from bot.blocks.refs import IncidentRef
from bot.models import IncidentSnapshot
from bot.models.alert_ids import AlertDetail, InvalidAlertId, read_alert
from bot.models.reading import read_incident

from .conftest import (
    FETCHED,
    PORTAL,
    RAW_CONTROLS,
    SEAL,
    TENANT,
    assert_no_raw_controls,
    assert_within_limits,
    context,
    sdk_round_trip_blocks,
    strings,
)

GRAPH = Path(__file__).parent.parent / "data" / "graph"
SHOW_ALERT_INCIDENT = ActionId.SHOW_ALERT_INCIDENT.value
ALERT_CARD_ACTIONS = BlockId.ALERT_CARD_ACTIONS.value
CHANNEL = "C05SOCINC01"
GRAPH_ID = "da637578995287051192_756343937"
DOCS_ID = "da637551227677560813_-961444813"
LEGACY_ID = "da637472900382838869_1364969609"
HOSTILE_ID = "da6660000000000000_666"
_LINK = re.compile(r"<(https?://[^|>]*)[|>]")


def alert(alert_id: str, flavor: str = "v1", **changes: Any) -> AlertDetail:
    raw = json.loads((GRAPH / f"alert_{alert_id}.{flavor}.json").read_text("utf-8"))
    return read_alert(raw | changes)


def incident(incident_id: str, **extra: Any) -> IncidentSnapshot:
    raw = json.loads((GRAPH / f"incident_{incident_id}.v1.json").read_text("utf-8"))
    return IncidentSnapshot(incident=read_incident(raw).incident, fetched_at=FETCHED, **extra)


def message(detail: AlertDetail, snap: IncidentSnapshot | None, ctx: CardContext) -> dict[str, Any]:
    return {
        "channel": CHANNEL,
        "text": alert_fallback_text(detail),
        "blocks": build_alert_card(detail, snap, ctx),
    }


def _cards() -> dict[str, dict[str, Any]]:
    unreadable = alert(GRAPH_ID, status={"odd": 1}, firstActivityDateTime="yesterday", mitreTechniques="T1")
    return {
        "alert-normal": message(alert(GRAPH_ID), incident("2972395"), context()),
        "alert-no-incident": message(alert(DOCS_ID), None, context()),
        "alert-legacy": message(alert(LEGACY_ID, "defender"), None, context(sample_data=True)),
        "alert-hostile": message(alert(HOSTILE_ID), incident("666"), context()),
        "alert-unreadable": message(unreadable, incident("2972395"), context()),
    }


CARDS = _cards()


@pytest.mark.parametrize("name", sorted(CARDS))
def test_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, CARDS[name])


@pytest.mark.parametrize("name", sorted(CARDS))
def test_within_slack_limits_and_parsed_back_by_slack_sdk(name: str) -> None:
    blocks = CARDS[name]["blocks"]
    assert_within_limits(blocks)
    sdk_round_trip_blocks(blocks)
    assert_no_raw_controls(CARDS[name])
    assert len(blocks) <= 9


def test_the_card_shows_what_an_analyst_needs_of_the_alert() -> None:
    text = json.dumps(CARDS["alert-no-incident"]["blocks"], ensure_ascii=False)
    for expected in (
        "Suspicious execution of hidden file",
        "New",
        ":large_yellow_circle: Low",
        "Defense evasion",
        "Antivirus · Defender for Endpoint",
        "`T1564.001`",
        "<!date^1619423150^",  # first activity, 2021-04-26T07:45:50Z
        "<!date^1619942218^",  # last activity
        "*Evidence* (4): 1 device · 1 file · 1 process · 1 registry key",
        "Devices: `tempDns`",
        "Files: `MsSense.exe`",
    ):
        assert expected in text, expected


def test_part_of_its_incident_with_a_sealed_show_incident_button() -> None:
    blocks = CARDS["alert-normal"]["blocks"]
    [section] = [b for b in blocks if b.get("accessory", {}).get("action_id") == SHOW_ALERT_INCIDENT]
    text = section["text"]["text"]
    assert text.startswith(f":link: Part of <{PORTAL}/incidents/2972395?tid={TENANT}|incident 2972395>: *")
    assert text.endswith("(Active)")
    button = section["accessory"]
    assert button["text"]["text"] == "Show incident" and "style" not in button
    assert SEAL.open(button["value"]) == IncidentRef(id="2972395")


def test_without_the_incident_the_button_still_shows_it_by_its_id() -> None:
    blocks = CARDS["alert-no-incident"]["blocks"]
    [section] = [b for b in blocks if "accessory" in b]
    assert section["text"]["text"] == f":link: Part of <{PORTAL}/incidents/28282?tid={TENANT}|incident 28282>"
    assert SEAL.open(section["accessory"]["value"]).id == "28282"


def test_an_alert_of_no_incident_has_no_incident_section() -> None:
    blocks = build_alert_card(alert(DOCS_ID, incidentId=None), None, context())
    assert not [b for b in blocks if "accessory" in b]
    blocks = build_alert_card(alert(DOCS_ID, incidentId="<!channel>"), None, context())
    assert not [b for b in blocks if "accessory" in b]


def test_a_merged_incident_is_shown_with_the_alerts_own() -> None:
    redirected = incident("2972395", merged_from=("4242",))
    blocks = build_alert_card(alert(GRAPH_ID, incidentId="4242"), redirected, context())
    [section] = [b for b in blocks if "accessory" in b]
    assert "incident 2972395>" in section["text"]["text"]
    assert "the alert's incident 4242 was merged into it" in section["text"]["text"]
    assert SEAL.open(section["accessory"]["value"]).id == "2972395"


def test_links_come_from_the_portal_and_the_checked_id_never_from_the_answer() -> None:
    hostile = CARDS["alert-hostile"]
    targets = [
        target
        for path, value, is_plain in strings(hostile)
        if not is_plain
        for target in ([value] if path.endswith(".url") else _LINK.findall(value))
    ]
    assert len(targets) == 3  # the alert (its link and its button) and the incident
    assert all(target.startswith(f"{PORTAL}/") for target in targets), targets
    [actions] = [b for b in hostile["blocks"] if b.get("block_id") == ALERT_CARD_ACTIONS]
    [button] = actions["elements"]
    assert button["action_id"] == ActionId.OPEN.value
    assert button["url"] == f"{PORTAL}/alerts/{HOSTILE_ID}?tid={TENANT}"
    assert "https://evil.example/incidents/666" not in json.dumps(hostile)


def test_hostile_text_is_shown_escaped_and_never_as_a_mention_or_a_link() -> None:
    text = json.dumps(CARDS["alert-hostile"]["blocks"], ensure_ascii=False)
    assert "&lt;Execution&gt;" in text  # the category, escaped
    assert "`&lt;@U123&gt;`" in text  # a "MITRE technique"
    assert "`&lt;!here&gt;-ws.contoso.com &lt;hxxps://evil.example|fix-me&gt;`" in text  # a device name
    assert "URLs: `hxxps://evil[.]example/a?b=&lt;c&gt;&amp;d=|e|`" in text  # defanged: never a link
    assert "https://evil.example/a" not in text
    assert "&lt;hxxps://evil.example|click&gt;" in text  # in the incident's title
    assert "*Evidence* (8):" in text and "1 other item" in text
    header = CARDS["alert-hostile"]["blocks"][0]
    assert header["text"]["text"] == "<https://evil.example|Open> me *now* <!here>"  # plain_text, as is
    for _, value, is_plain in strings(CARDS["alert-hostile"]):
        if not is_plain:
            assert "<!subteam" not in value and "<@" not in value
            assert "<!" not in value.replace("<!date^", "")


def test_what_could_not_be_read_is_marked_unknown_and_named() -> None:
    blocks = CARDS["alert-unreadable"]["blocks"]
    fields = {f["text"].split("\n")[0]: f["text"] for f in blocks[2]["fields"]}
    assert fields["*Status*"].endswith("_unknown (unreadable)_")
    assert fields["*First activity*"].endswith("_unknown (unreadable)_")
    assert fields["*MITRE ATT&amp;CK*"].endswith("_unknown (unreadable)_")
    note = next(b for b in blocks if b["type"] == "context" and ":warning:" in b["elements"][0]["text"])
    named = note["elements"][0]["text"].split("(", 1)[1].split(")", 1)[0]
    assert set(named.split(", ")) == {"status", "first activity", "MITRE techniques"}


def test_an_id_of_an_unknown_form_gets_no_link_and_no_open_button() -> None:
    odd = alert(DOCS_ID, id="zz-new-source/format")
    blocks = build_alert_card(odd, None, context())
    assert not [b for b in blocks if b["type"] == "actions"]
    assert (
        blocks[1]["text"]["text"] == ":large_yellow_circle: Alert zz-new-source/format in Microsoft Defender"
    )
    with pytest.raises(InvalidAlertId):
        alert_url(PORTAL, odd.id, TENANT)


def test_no_alert_pushes_the_card_past_slacks_limits() -> None:
    evidence = [
        {"@odata.type": f"#microsoft.graph.security.{kind}Evidence", "deviceDnsName": "<!here>" * 200,
         "ipAddress": f"10.0.0.{n}", "url": "https://evil.example/" + "&" * 3000}
        for n in range(300)
        for kind in ("device", "ip", "url", f"kind{n % 40}")
    ]  # fmt: skip
    huge = read_alert(
        {
            "id": DOCS_ID,
            "incidentId": "2972395",
            "title": "<!channel> " * 1000,
            "category": "&" * 5000,
            "detectionSource": "<" * 5000,
            "serviceSource": ">" * 5000,
            "status": "x" * 5000,
            "severity": "<!here>" * 500,
            "mitreTechniques": [f"T{n}<&>" * 20 for n in range(500)],
            "evidence": evidence,
        }
    )
    big_incident = incident("666")
    for snap in (None, big_incident):
        card: dict[str, Any] = {
            "text": alert_fallback_text(huge),
            "blocks": build_alert_card(huge, snap, context(sample_data=True)),
        }
        assert_within_limits(card["blocks"])
        sdk_round_trip_blocks(card["blocks"])
        assert_no_raw_controls(card)
        assert len(card["text"]) < 400 and not any(raw in card["text"] for raw in RAW_CONTROLS)


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("DefenseEvasion", "Defense evasion"),
        ("CommandAndControl", "Command and control"),
        ("InitialAccess", "Initial access"),
        ("Execution", "Execution"),
        ("SuspiciousActivity", "Suspicious activity"),
        ("<Execution>", "&lt;Execution&gt;"),
        ("Lateral movement & more", "Lateral movement &amp; more"),
    ],
)
def test_categories_read_as_words(raw: str, label: str) -> None:
    assert category_label(raw) == label


def test_the_fallback_text_names_the_alert() -> None:
    assert (
        alert_fallback_text(alert(DOCS_ID))
        == f"Alert {DOCS_ID}: Suspicious execution of hidden file (Low, New)"
    )
    hostile = alert_fallback_text(alert(HOSTILE_ID))
    assert "&lt;!here&gt;" in hostile and "<!here>" not in hostile


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://evil.example/a.php?x=1", "hxxps://evil[.]example/a[.]php?x=1"),
        ("HTTP://evil.example", "hxxp://evil[.]example"),
        ("evil.example/login", "evil[.]example/login"),
        ("ftp://files.example", "ftp://files[.]example"),
    ],
)
def test_evidence_urls_are_defanged(url: str, shown: str) -> None:
    assert defang(url) == shown
