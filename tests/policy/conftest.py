"""A bot whose fake Slack answers conversations.info per channel with Slack's documented answers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.slack_api import FakeSlackApi, documented_conversation
from tests.listeners.conftest import (  # noqa: F401 (fixtures)
    READER,
    fake_slack,
    slack_overrides,
    start_world,
    world,
)

GRAPH_DATA = Path(__file__).parent.parent / "data" / "graph"
OUR_TEAM = "T0001"  # the fake auth.test's team
OTHER_TEAM = "T0FABRIKAM"
# channel → its kind, as conversations.info says (Slack's documented examples, our team's ids)
ROOMS = {
    "C0PRIV": "private",
    "C0PUBLIC": "public",
    "C0PARTNER": "shared",
    "D0DM": "dm",
    "G0GROUPDM": "group_dm",
}
BROKEN = "C0NOSCOPE"  # conversations.info answers missing_scope
OUTSIDER = "U0OUTSIDER"  # a Slack Connect guest from another organisation
NOT_A_READER = "U0NOTREADER"  # one of ours, not in INCIDENT_READERS
_DATE = r"\d{4}-\d\d-\d\dT[\d:.]+Z"


def add_rooms(slack: FakeSlackApi) -> None:
    for channel, kind in ROOMS.items():
        slack.conversations[channel] = documented_conversation(kind, channel, team=OUR_TEAM)
    slack.conversations[BROKEN] = {"ok": False, "error": "missing_scope", "needed": "channels:read"}
    slack.users[READER]["team_id"] = OUR_TEAM
    slack.users[OUTSIDER] = person(OUTSIDER, OTHER_TEAM, "Eve Guest", "eve@fabrikam.com")
    slack.users[NOT_A_READER] = person(NOT_A_READER, OUR_TEAM, "Nat Other", "nat@contoso.com")


def person(user_id: str, team: str, name: str, email: str) -> dict[str, Any]:
    return {"id": user_id, "team_id": team, "name": name, "profile": {"real_name": name, "email": email}}


@pytest.fixture(autouse=True)
def rooms(fake_slack: FakeSlackApi) -> Iterator[None]:  # noqa: F811
    add_rooms(fake_slack)
    yield


_SENSITIVE = {
    "displayName", "assignedTo", "lastModifiedBy", "customTags", "systemTags", "description", "summary",
    "resolvingComment", "comments", "title", "recommendedActions", "threatDisplayName", "threatFamilyName",
    "evidence",
}  # fmt: skip
_WORD = r"[a-z][A-Za-z0-9]*"


def private_strings(payload: Any, inside: bool = False) -> set[str]:
    """Every string of an incident answer that names someone or something: titles, descriptions,
    comments, tags, assignees, and every value of the evidence (names, hosts, addresses, paths),
    leaving out enum-like single words and timestamps (status words the redacted card may show)."""
    found: set[str] = set()
    if isinstance(payload, dict):
        for key, value in payload.items():
            found |= private_strings(value, inside or key in _SENSITIVE)
    elif isinstance(payload, list):
        for value in payload:
            found |= private_strings(value, inside)
    elif isinstance(payload, str) and inside:
        text = payload.strip()
        if len(text) >= 3 and not re.fullmatch(_WORD, text) and not re.fullmatch(_DATE, text):
            found.add(text)
    return found


def fixture_strings(incident_id: str) -> set[str]:
    answer = json.loads((GRAPH_DATA / f"incident_{incident_id}.v1.json").read_text(encoding="utf-8"))
    return private_strings(answer)


def leaks(sent: Any, strings: set[str]) -> list[str]:
    """The strings of `strings` found in what was sent: as is, JSON-escaped, or mrkdwn-escaped."""
    text = json.dumps(sent, ensure_ascii=False)
    found = []
    for item in strings:
        forms = {item, json.dumps(item, ensure_ascii=False)[1:-1],
                 item.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}  # fmt: skip
        if any(form in text for form in forms):
            found.append(item)
    return sorted(found)
