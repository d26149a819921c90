"""Incidents to render (normal, beta, merged, stale, resolved, hostile) and checkers for built Block Kit."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.incident import CardContext
from bot.blocks.refs import is_safe_url
from bot.blocks.seal import CardSeal
from bot.models import Incident, IncidentSnapshot

GOLDEN = Path(__file__).parent.parent / "golden"
PORTAL = "https://security.microsoft.com"
TENANT = "7f3c0a52-1d2e-4b6a-9c1f-2f0e8d1a5b33"
CREATED = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1700000000
FETCHED = datetime(2023, 11, 14, 23, 50, tzinfo=UTC)
NOW = datetime(2023, 11, 15, 0, 13, 20, tzinfo=UTC)  # 1700007200, the renderer's --now
HOSTILE_TITLE = "<!channel> *bold* <@U123> <https://evil.example|click> & friends"
RAW_CONTROLS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil")


def _at(minutes: int) -> str:
    return (CREATED + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _alert(
    number: int, severity: str, title: str, devices: list[str], users: list[str], **extra: Any
) -> dict[str, Any]:
    evidence: list[dict[str, Any]] = [
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": d} for d in devices
    ]
    evidence += [
        {"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": {"userPrincipalName": u}}
        for u in users
    ]
    return {
        "id": f"da63{number:04d}",
        "title": title,
        "severity": severity,
        "status": "new",
        "createdDateTime": _at(number),
        "evidence": evidence,
        **extra,
    }


def normal_payload() -> dict[str, Any]:
    """A Graph v1.0 incident as `GET /security/incidents/{id}?$expand=alerts` returns it."""
    return {
        "id": "2972395",
        "tenantId": TENANT,
        "displayName": "Multi-stage incident involving Initial access & Lateral movement on one endpoint",
        "status": "active",
        "severity": "high",
        "classification": "unknown",
        "determination": "unknown",
        "assignedTo": "alice@contoso.com",
        "createdDateTime": _at(0),
        "lastUpdateDateTime": _at(60),
        "customTags": ["Finance", "VIP"],
        "systemTags": ["Ransomware"],
        "description": "A PowerShell download cradle ran on WS-FIN-042, "
        "then PsExec created a service on SRV-DC-01.",
        "incidentWebUrl": f"{PORTAL}/incidents/2972395?tid={TENANT}",
        "comments": [
            {
                "comment": "Isolated WS-FIN-042.",
                "createdByDisplayName": "Alice Analyst",
                "createdDateTime": _at(30),
            },
            {"comment": "Looking into it.", "createdByDisplayName": "Bob", "createdDateTime": _at(10)},
            {
                "comment": "Collected the investigation package; reset jdoe's password & revoked sessions.",
                "createdByDisplayName": "Alice Analyst",
                "createdDateTime": _at(50),
            },
            {"comment": "Escalated to IR.", "createdByDisplayName": "Carol", "createdDateTime": _at(40)},
        ],
        "alerts": [
            _alert(
                1,
                "high",
                "Suspicious PowerShell download cradle",
                ["ws-fin-042.contoso.com"],
                ["jdoe@contoso.com"],
                mitreTechniques=["T1059.001", "T1105"],
                recommendedActions="1. Isolate the device.\n2. Reset the user's password.",
            ),
            _alert(
                2,
                "high",
                "New service installed via PsExec",
                ["srv-dc-01.contoso.com"],
                ["jdoe@contoso.com"],
                mitreTechniques=["T1569.002"],
            ),
            _alert(
                3,
                "medium",
                "Suspicious WMI process creation",
                ["srv-dc-01.contoso.com"],
                [],
                mitreTechniques=["T1047"],
            ),
        ],
    }


def beta_payload() -> dict[str, Any]:
    """A Graph beta incident: summary and recommended hunting queries, no alerts expanded."""
    return {
        "id": "2972396",
        "displayName": "Phishing campaign with credential theft",
        "status": "inProgress",
        "severity": "medium",
        "classification": "truePositive",
        "determination": "phishing",
        "createdDateTime": _at(5),
        "lastUpdateDateTime": _at(65),
        "summary": "Three users clicked a link in a phishing email; "
        "one entered credentials on a fake sign-in page.",
        "description": "Not shown: the summary wins.",
        "recommendedActions": "A. Validate the alert.\n1. Block the sender.\n2. Reset passwords.\n"
        "3. Revoke sessions.\n4. Search for similar emails.\n5. Report the URL.\n6. Review sign-ins.",
        "recommendedHuntingQueries": [
            {
                "kqlText": "EmailEvents\n| where Timestamp > ago(7d)\n"
                '| where SenderFromAddress =~ "billing@contoso-payments.example"'
                "\n| project Timestamp, RecipientEmailAddress, Subject, DeliveryAction"
            },
            {
                "kqlText": 'UrlClickEvents\n| where Url has "contoso-payments"\n'
                "| summarize Clicks = count() by AccountUpn"
            },
            {"kqlText": "IdentityLogonEvents | take 10"},
        ],
    }


def hostile_payload() -> dict[str, Any]:
    """Everything an attacker can put into an incident, at sizes no real incident has."""
    line = "Attacker text <!here> &amp; <@U123> <https://evil.example|portal> *bold* _it_ ~s~ `c`\n"
    description = (line * 80)[:5000]
    comments = [
        {
            "comment": f"<!everyone> approve <https://evil.example|this> & <@U123> #{n}\n" + "x" * 600,
            "createdByDisplayName": f"<@U123> *Mallory* {n}",
            "createdDateTime": _at(n),
        }
        for n in range(20)
    ]
    alerts = [
        _alert(
            n,
            ["high", "medium", "low", "informational", "catastrophic<!channel>"][n % 5],
            f"<!here> Alert {n} <@U123> & co " + "y" * 150,
            [f"ws-{n:02d}-<!channel>.contoso.com", f"srv-{n % 7}.contoso.com"],
            [f"<@U123>user{n}@evil.example", "`root`"],
            mitreTechniques=[f"T1{n:03d}", "<!here>"],
        )
        for n in range(30)
    ]
    return {
        "id": "6666",
        "tenantId": TENANT,
        "displayName": HOSTILE_TITLE,
        "status": "active<!here>",
        "severity": "high",
        "classification": "<!channel>",
        "determination": "notMalicious",
        "assignedTo": "<!channel> <@U123>@evil.example",
        "createdDateTime": _at(0),
        "lastUpdateDateTime": _at(1),
        "customTags": [
            "<!channel>",
            "`break`out",
            "x & y",
            "*bold*",
            "t" * 200,
            *[f"tag{n}" for n in range(10)],
        ],
        "systemTags": ["<@U123>"],
        "description": description,
        "incidentWebUrl": "https://evil.example/incidents/6666",
        "recommendedActions": ["<!channel> do *this* & <https://evil.example|that>", "z" * 1000],
        "recommendedHuntingQueries": [
            {
                "kqlText": "DeviceEvents | where X == '```' <!channel>\n```\n<!here> & <@U123>\n"
                + "| take 1\n" * 40
            },
        ],
        "comments": comments,
        "alerts": alerts,
    }


def snapshot(payload: dict[str, Any], **extra: Any) -> IncidentSnapshot:
    """The snapshot the incident service would hand over, fetched at a fixed time."""
    return IncidentSnapshot(incident=Incident.model_validate(payload), fetched_at=FETCHED, **extra)


# The seal of the golden cards and modals: a fixed secret, so their values are the same every run.
SEAL = CardSeal("golden-signing-secret")


def context(**extra: Any) -> CardContext:
    """The card context of the usual tenant, with the renderer's fixed `now`."""
    return CardContext(portal_url=PORTAL, tenant_id=TENANT, seal=SEAL, now=NOW, **extra)


def strings(node: Any, path: str = "$") -> Iterator[tuple[str, str, bool]]:
    """Every string in a Block Kit payload: (path, value, inside a plain_text object)."""
    if isinstance(node, dict):
        is_plain = node.get("type") == "plain_text"
        for key, value in node.items():
            if isinstance(value, str):
                yield f"{path}.{key}", value, is_plain and key == "text"
            else:
                yield from strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, f"{path}[{index}]")


@pytest.fixture
def golden() -> Callable[[str, Any], None]:
    """Compare with tests/golden/<name>.json; UPDATE_GOLDEN=1 rewrites the file instead."""

    def check(name: str, payload: Any) -> None:
        path = GOLDEN / f"{name}.json"
        text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"missing golden {path}: run with UPDATE_GOLDEN=1"
        assert text == path.read_text(encoding="utf-8"), (
            f"{name} differs from {path} (UPDATE_GOLDEN=1 to accept)"
        )

    return check


def sdk_round_trip_blocks(blocks: list[dict[str, Any]]) -> None:
    """slack_sdk parses every block back to the same JSON and its validators accept it."""
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
        assert parsed.to_dict() == block


def sdk_round_trip_view(view: dict[str, Any]) -> None:
    """slack_sdk's View accepts the modal and serializes it back unchanged."""
    parsed = View(**view)
    parsed.validate_json()
    assert parsed.to_dict() == view


_SELECTS = ("static_select", "multi_static_select")


def _check_text(obj: dict[str, Any] | None, limit: int, where: str) -> None:
    if obj is not None:
        assert 1 <= len(obj["text"]) <= limit, f"{where}: {len(obj['text'])} chars (limit {limit})"


def _check_option(opt: dict[str, Any], where: str) -> None:
    _check_text(opt["text"], 75, f"{where} option text")
    assert 1 <= len(opt["value"]) <= 150, f"{where} option value"


def _check_element(element: dict[str, Any], where: str) -> None:
    kind = element["type"]
    assert len(element.get("action_id", "")) <= 255, where
    _check_text(element.get("placeholder"), 150, f"{where} placeholder")
    if kind == "button":
        _check_text(element["text"], 75, f"{where} button text")
        assert len(element.get("value", "")) <= 2000, f"{where} button value"
        if "url" in element:
            assert is_safe_url(element["url"], 3000), f"{where} url {element['url']!r}"
    elif kind == "overflow":
        assert 1 <= len(element["options"]) <= 5, f"{where} overflow options"
        for opt in element["options"]:
            _check_option(opt, where)
    elif kind in _SELECTS:
        groups = element.get("option_groups", [])
        options = element.get("options", []) + [o for g in groups for o in g["options"]]
        assert 1 <= len(options) <= 100 and len(groups) <= 100, f"{where} options"
        for opt in options:
            _check_option(opt, where)
        for group in groups:
            _check_text(group["label"], 75, f"{where} group label")
        initial = element.get("initial_options", []) + (
            [element["initial_option"]] if "initial_option" in element else []
        )
        assert all(opt in options for opt in initial), f"{where}: initial option not among the options"
    elif kind == "plain_text_input":
        assert element.get("max_length", 3000) <= 3000, where


def assert_within_limits(blocks: list[dict[str, Any]], max_blocks: int = 50) -> None:
    """Every Block Kit limit the bot relies on, checked independently of slack_sdk and the renderer."""
    assert 1 <= len(blocks) <= max_blocks
    for index, block in enumerate(blocks):
        where = f"blocks[{index}] {block['type']}"
        assert len(block.get("block_id", "")) <= 255, where
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text", where
            _check_text(block["text"], 150, where)
        elif block["type"] == "section":
            _check_text(block.get("text"), 3000, where)
            fields = block.get("fields", [])
            assert len(fields) <= 10, where
            for field in fields:
                _check_text(field, 2000, f"{where} field")
            if "accessory" in block:
                _check_element(block["accessory"], where)
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10, where
            for element in block["elements"]:
                _check_text(element, 3000, where)
        elif block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25, where
            for element in block["elements"]:
                _check_element(element, where)
        elif block["type"] == "input":
            _check_text(block["label"], 2000, where)
            _check_text(block.get("hint"), 2000, where)
            _check_element(block["element"], where)


def assert_view_within_limits(view: dict[str, Any]) -> None:
    """A modal's own limits, then its blocks' (at most 100 in a modal)."""
    _check_text(view["title"], 24, "title")
    for key in ("submit", "close"):  # a view with nothing to submit has no submit button
        if key in view:
            _check_text(view[key], 24, key)
    assert len(view.get("private_metadata", "")) <= 3000
    assert len(view.get("callback_id", "")) <= 255
    assert_within_limits(view["blocks"], max_blocks=100)


def assert_no_raw_controls(payload: Any) -> None:
    """No mention or link control sequence in any text Slack parses. plain_text is never parsed, and
    `value`s (buttons, options) are opaque data handed back to the app, never shown."""
    for path, value, is_plain in strings(payload):
        if not is_plain and not path.endswith(".value"):
            for raw in RAW_CONTROLS:
                assert raw not in value, f"{path} has raw {raw!r}: {value[:200]!r}"
