"""Typed jobs: what listeners hand to workers, stored as JSON, read back typed; older shapes upgraded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.blocks.ids import ActionId
from bot.blocks.refs import IncidentRef
from bot.jobs import (
    AddComment,
    AssignTo,
    FillModal,
    JobUnreadable,
    RefreshCard,
    Resolve,
    SetTags,
    ShareIncident,
    ShowIncident,
    UnfurlLinks,
    WriteIncident,
    parse_job,
    reply_address,
)
from bot.models import Classification, Determination

REF = IncidentRef(
    id="2972395", channel="C0SOC", ts="1700000000.000100", response_url="https://hooks.slack.com/a"
)
JOBS = [
    ShowIncident(
        incident_id="2972395", user_id="U0W", channel_id="C0SOC", response_url="https://hooks.slack.com/a"
    ),
    ShareIncident(user_id="U0W", ref=REF, channel_id="C0SOC", click="U0W:incident-share:1.2"),
    UnfurlLinks(
        event_id="Ev1", channel="C0SOC", message_ts="1.2", links=("https://security.microsoft.com/x",)
    ),
    RefreshCard(user_id="U0W", ref=REF),
    WriteIncident(user_id="U0W", ref=REF, key="view:V1", change=AddComment(text="seen")),
    WriteIncident(
        user_id="U0W",
        ref=REF,
        key="view:V2",
        change=Resolve(classification=Classification.TRUE_POSITIVE, determination=Determination.MALWARE),
    ),
    FillModal(
        user_id="U0W", modal=ActionId.RESOLVE, ref=REF, view_id="V0VIEW", classification="truePositive"
    ),
]


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.kind)
def test_every_job_reads_back_as_stored(job: Any) -> None:
    stored = job.model_dump(mode="json")
    assert stored["v"] == 1 and stored["kind"] == job.kind
    assert parse_job(job.kind, json.dumps(stored)) == job  # from the stream's text
    assert parse_job(job.kind, stored) == job  # from memory


V0 = "https://hooks.slack.com/old"


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        (
            "command",
            {"incident_id": "2972395", "user_id": "U0W", "channel_id": "C0SOC", "response_url": V0},
            ShowIncident(incident_id="2972395", user_id="U0W", channel_id="C0SOC", response_url=V0),
        ),
        (
            "share",
            {"incident_id": "2972395", "user_id": "U0W", "channel_id": "C0SOC", "response_url": V0,
             "action_key": "U0W:incident-share:1.2"},
            ShareIncident(user_id="U0W", ref=IncidentRef(id="2972395", channel="C0SOC", response_url=V0),
                          channel_id="C0SOC", click="U0W:incident-share:1.2"),
        ),
        (
            "unfurl",
            {"event_id": "Ev1", "channel": "C0SOC", "message_ts": "1.2", "unfurl_id": None, "source": None,
             "links": ["https://security.microsoft.com/incidents/1"]},
            UnfurlLinks(event_id="Ev1", channel="C0SOC", message_ts="1.2",
                        links=("https://security.microsoft.com/incidents/1",)),
        ),
        ("refresh", {"ref": REF.dumps(), "user_id": "U0W"}, RefreshCard(user_id="U0W", ref=REF)),
        (
            "write",
            {"op": "assign", "ref": REF.dumps(), "user_id": "U0W", "key": "k",
             "args": {"assignee": "a@b.co"}},
            WriteIncident(user_id="U0W", ref=REF, key="k", change=AssignTo(assignee="a@b.co")),
        ),
        (
            "write",
            {"op": "tags", "ref": REF.dumps(), "user_id": "U0W", "key": "k", "args": {"tags": ["VIP"]}},
            WriteIncident(user_id="U0W", ref=REF, key="k", change=SetTags(tags=("VIP",))),
        ),
        (
            "write",
            {"op": "resolve", "ref": REF.dumps(), "user_id": "U0W", "key": "k",
             "args": {"classification": "falsePositive", "determination": "notMalicious", "comment": ""}},
            WriteIncident(user_id="U0W", ref=REF, key="k", change=Resolve(
                classification=Classification.FALSE_POSITIVE, determination=Determination.NOT_MALICIOUS)),
        ),
    ],
    ids=["command", "share", "unfurl", "refresh", "assign", "tags", "resolve"],
)  # fmt: skip
def test_the_previous_releases_payloads_are_upgraded(
    kind: str, payload: dict[str, Any], expected: Any
) -> None:
    assert parse_job(kind, json.dumps(payload)) == expected


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        ("command", "not json"),
        ("command", "[1, 2]"),
        ("teleport", "{}"),
        ("write", json.dumps({"v": 1, "kind": "write", "user_id": "U0W", "ref": REF.dumps(), "key": "k",
                              "change": {"op": "delete_everything"}})),
        ("show", json.dumps({"v": 2, "kind": "show"})),
        ("show", json.dumps({"v": 1, "kind": "show", "incident_id": "../etc", "user_id": "U0W",
                             "channel_id": "C0SOC", "response_url": V0})),
        ("show", json.dumps({"v": 1, "kind": "show", "incident_id": "1", "user_id": "U0W",
                             "channel_id": "C0SOC", "response_url": "https://evil.example/x y"})),
    ],
    ids=["text", "array", "unknown-kind", "unknown-op", "future-version", "bad-id", "bad-response-url"],
)  # fmt: skip
def test_a_job_no_version_explains_is_unreadable(kind: str, stored: str) -> None:
    with pytest.raises(JobUnreadable):
        parse_job(kind, stored)


def test_the_person_of_an_unreadable_job_can_still_be_told() -> None:
    assert reply_address({"ref": IncidentRef(id="1", response_url=V0).dumps(), "op": "?"}) == V0
    assert reply_address({"response_url": V0}) == V0
    assert reply_address({"response_url": "javascript:alert(1)"}) is None
    assert reply_address("garbage") is None
