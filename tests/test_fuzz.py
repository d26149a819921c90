"""Property tests (hypothesis) of what parses outside input: links, command text, the HTTP door, stored
jobs, button values and incident answers. Each may refuse, never crash, and what it accepts is what it claims.
Bounded (a few hundred examples each, no deadline), so CI time stays small and the same each run."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from bot.blocks.refs import IncidentRef
from bot.blocks.seal import CardOutOfDate, CardSeal
from bot.errors import InvalidIncidentId, UnreadableAnswer
from bot.incidents.links import parse_command_text, parse_incident_link
from bot.jobs import JobUnreadable, parse_job
from bot.models.reading import read_incident
from bot.slack.ingress import Ingress, Refusal

HOST = "security.microsoft.com"
SECRET = "fuzz-signing-secret"
SEAL = CardSeal(SECRET)
BOUNDED = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# Text that looks like URLs: the characters browsers and parsers disagree on, plus anything else.
URLISH = st.text(
    alphabet=st.sampled_from(list("\\/@:?#%.-_~=&[]\t\n\r\x00\u202e aZ09")) | st.characters(), max_size=80
)
PORTALISH = st.builds(
    lambda prefix, middle, path: prefix + middle + path,
    st.sampled_from(["https://", "https://security.microsoft.com", "HTTPS://", "https://evil.example"]),
    URLISH,
    st.sampled_from(["/incidents/2972395", "/incident2/7/overview?tid=x", "", "/incidents/12ab"]),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@BOUNDED
@given(PORTALISH | URLISH)
def test_a_link_is_refused_or_is_exactly_a_portal_link(url: str) -> None:
    link = parse_incident_link(url, HOST)
    if link is None:
        return
    parts = urlsplit(url)
    assert parts.scheme == "https" and (parts.hostname or "").lower() == HOST
    assert "@" not in parts.netloc and "\\" not in url and url.isprintable() and " " not in url
    assert link.incident_id.isdigit() and link.url == url


@BOUNDED
@given(PORTALISH | URLISH)
def test_command_text_is_an_id_or_a_clear_refusal(text: str) -> None:
    try:
        incident_id = parse_command_text(text, HOST)
    except InvalidIncidentId:
        return
    assert incident_id.isdigit() and len(incident_id) <= 20


HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "X-Slack-Request-Timestamp": st.text(max_size=20) | st.just(str(int(time.time()))),
        "X-Slack-Signature": st.text(max_size=80) | st.just("v0=" + "0" * 64),
        "Content-Type": st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/x"]),
    },
)


@BOUNDED
@given(st.binary(max_size=300), HEADERS)
def test_the_door_refuses_what_is_not_signed_and_never_raises(raw: bytes, headers: dict[str, str]) -> None:
    assert isinstance(Ingress(SECRET).read(raw, headers), Refusal)


@BOUNDED
@given(st.binary(max_size=300) | JSONISH.map(lambda v: json.dumps(v).encode()), st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded"]))  # fmt: skip
def test_a_signed_body_is_read_only_when_it_is_a_slack_payload(raw: bytes, content_type: str) -> None:
    timestamp = str(int(time.time()))
    try:
        signature = SignatureVerifier(SECRET).generate_signature(
            timestamp=timestamp, body=raw.decode("utf-8")
        )
    except UnicodeDecodeError:
        signature = "v0=" + "0" * 64
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": str(signature),
        "Content-Type": content_type,
    }
    read = Ingress(SECRET).read(raw, headers)
    if isinstance(read, str) and content_type == "application/json":
        assert isinstance(json.loads(read), dict)


@BOUNDED
@given(st.sampled_from(["show", "share", "unfurl", "refresh", "write", "fill_modal", "command", "x"]),
       JSONISH | st.text(max_size=50))  # fmt: skip
def test_a_stored_job_reads_as_a_job_or_as_unreadable(kind: str, stored: Any) -> None:
    text = stored if isinstance(stored, str) else json.dumps(stored)
    try:
        job = parse_job(kind, text)
    except JobUnreadable:
        return
    assert job.v == 1


@BOUNDED
@given(st.text(max_size=200) | JSONISH.map(json.dumps))
def test_a_button_value_is_sealed_by_us_or_out_of_date(value: str) -> None:
    try:
        ref = SEAL.open(value)
    except CardOutOfDate:
        return
    assert ref.id.isdigit() and len(ref.dumps()) <= 3000


@BOUNDED
@given(
    st.builds(IncidentRef, id=st.from_regex(r"[0-9]{1,20}", fullmatch=True)),
    st.integers(0, 60),
    st.text(max_size=3),
)
def test_a_sealed_value_opens_and_any_change_to_it_does_not(ref: IncidentRef, at: int, junk: str) -> None:
    value = SEAL.value(ref)
    assert SEAL.open(value) == ref
    changed = value[:at] + junk + value[at + 1 :]
    if changed != value:
        with contextlib.suppress(CardOutOfDate):
            assert SEAL.open(changed) == ref  # only a change JSON reads the same way may open


INCIDENT_FIELDS = [
    "id", "displayName", "status", "severity", "classification", "determination", "assignedTo",
    "createdDateTime", "lastUpdateDateTime", "customTags", "systemTags", "comments", "alerts",
    "recommendedActions", "recommendedHuntingQueries", "incidentId", "tags", "createdTime",
]  # fmt: skip
ANSWERS = (
    st.dictionaries(st.sampled_from(INCIDENT_FIELDS), JSONISH, max_size=8).map(
        lambda d: {**d, "id": d.get("id", "2972395")}
    )
    | JSONISH
)


@BOUNDED
@given(ANSWERS)
def test_an_answer_reads_as_an_incident_or_as_unreadable(raw: Any) -> None:
    try:
        reading = read_incident(raw)
    except UnreadableAnswer:
        return
    incident = reading.incident
    assert incident.id.isdigit()
    assert set(incident.unreadable_fields) <= {p.path.split(".")[0].split("[")[0] for p in reading.problems}
    json.dumps(incident.to_json_dict())  # what the cache stores
