"""Alert ids (the forms real answers show, nothing else) and AlertDetail, read from Graph v1.0 and from
the legacy Defender for Endpoint API, field by field."""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidIncidentId, UnreadableAnswer
from bot.models import validate_incident_id
from bot.models.alert_ids import (
    ALERT_ID_PATTERN,
    MAX_ALERT_ID_CHARS,
    AlertDetail,
    InvalidAlertId,
    is_alert_id,
    read_alert,
    validate_alert_id,
)

from .test_reading import nullable_properties

GRAPH = Path(__file__).parent.parent / "data" / "graph"
DOCS_ID = "da637551227677560813_-961444813"
GRAPH_ID = "da637578995287051192_756343937"
LEGACY_ID = "da637472900382838869_1364969609"
HOSTILE_ID = "da6660000000000000_666"


def fixture(alert_id: str, flavor: str = "v1") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAPH / f"alert_{alert_id}.{flavor}.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize(
    "alert_id",
    [
        DOCS_ID,  # Graph "List alerts_v2"
        GRAPH_ID,  # Graph "Get alert"
        "ed639047114220050398_-1516486255",  # Graph "List incidents": a custom detection
        LEGACY_ID,  # Defender for Endpoint "Alert resource type"
        "da09e47ccc-b74a-45bb-985f-8d6c077b70b6_1",  # Graph "List incidents": providerAlertId GUID_1
        "fa410e4342-4bfc-80a3-9600-08dd53ec811c",  # Defender for Office 365
        "daefa1828b-dd4e-405c-8a3b-aa28596830dd_1",
        "50c27011-725c-41d8-9090-efd4c10132c2",  # a Sentinel alert's portal link: a bare GUID
        "ad3ef58dc561c3234527be2d9ff82524a967a5fb1c",  # Entra ID Protection
        "adda21de253ca551df2175818825088751ac4ed5e365dae35a1a",  # Defender for Cloud Apps
        # the ids of this repository's incident fixtures
        "da637579021446432197_-1420133722",
        "fa6e7ba1a4-8a4b-6a7c-1f00-08d95e3b9d41",
        HOSTILE_ID,
        "ai638721234567890123_1",
    ],
)
def test_the_published_forms_are_alert_ids(alert_id: str) -> None:
    assert validate_alert_id(alert_id) == alert_id and is_alert_id(alert_id)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "2972395",  # an incident id
        "1234567890123456789",
        "da",
        "da_1",
        "da637551227677560813_",  # no hash after the _
        "da637551227677560813_--1",
        "d637551227677560813_1",  # a one-letter prefix
        "dab637551227677560813_1",
        "DA637551227677560813_1",  # Graph's prefixes are lowercase
        f"{DOCS_ID}/comments",
        f"{DOCS_ID}?$select=id",
        f"{DOCS_ID}#top",
        f"{DOCS_ID}/",
        f"{DOCS_ID}%2F..",
        "..",
        "../incidents/1",
        f" {DOCS_ID}",
        f"{DOCS_ID} ",
        f"{DOCS_ID}\n",
        f"{DOCS_ID}\x00",
        "da６３７５５１２２７６７７５６０８１３_1",  # fullwidth digits
        "da637551227677560813_-961444813\u200b",
        "fa410e4342-4bfc-80a3-9600-08dd53ec811",  # a GUID one digit short
        "fa410e4342-4bfc-80a3-9600_08dd53ec811c",
        "50C27011-725C-41D8-9090-EFD4C10132C2",
        "adxyz",
        "ad" + "f" * 15,  # too short for a hash
        "ad" + "f" * 121,
        "da" + "1" * 200 + "_1",
        "<!channel>",
        "da1_1;rm",
    ],
)
def test_anything_else_is_not_an_alert_id(raw: str) -> None:
    with pytest.raises(InvalidAlertId):
        validate_alert_id(raw)
    assert not is_alert_id(raw)


@pytest.mark.parametrize("raw", [None, 123, 1.5, b"da1_1", ["da1_1"], {"id": "da1_1"}, True])
def test_only_strings_are_alert_ids(raw: object) -> None:
    with pytest.raises(InvalidAlertId):
        validate_alert_id(raw)


def test_a_bad_alert_id_is_answered_as_a_bad_incident_id_is_in_its_own_words() -> None:
    with pytest.raises(InvalidIncidentId) as caught:
        validate_alert_id("x" * 500)
    error = caught.value
    assert isinstance(error, InvalidAlertId) and isinstance(error, ValueError)
    assert "is not an alert id" in str(error) and DOCS_ID in str(error)
    assert len(str(error)) < 200 and error.raw == "x" * 500


@given(st.from_regex(ALERT_ID_PATTERN, fullmatch=True))
def test_every_accepted_id_is_url_safe_bounded_and_never_an_incident_id(alert_id: str) -> None:
    assert len(alert_id) <= MAX_ALERT_ID_CHARS
    assert validate_alert_id(alert_id) == alert_id
    assert set(alert_id) <= set(string.ascii_letters + string.digits + "_-")
    assert quote(alert_id, safe="") == alert_id
    with pytest.raises(InvalidIncidentId):
        validate_incident_id(alert_id)


@given(st.text(max_size=140))
def test_arbitrary_text_is_accepted_only_in_a_published_form(text: str) -> None:
    if is_alert_id(text):
        assert set(text) <= set(string.ascii_letters + string.digits + "_-")
        assert not text.isdigit() and len(text) <= MAX_ALERT_ID_CHARS


# ---- AlertDetail ---------------------------------------------------------------------------------


def test_microsofts_example_alert_reads_whole() -> None:
    alert = read_alert(fixture(DOCS_ID))
    assert alert.unreadable_fields == ()
    assert (alert.id, alert.incident_id, alert.status, str(alert.severity)) == (
        DOCS_ID,
        "28282",
        "new",
        "low",
    )
    assert (alert.category, alert.detection_source, alert.service_source) == (
        "DefenseEvasion",
        "antivirus",
        "microsoftDefenderForEndpoint",
    )
    assert alert.mitre_techniques == ["T1564.001"]
    assert alert.first_activity_date_time is not None and alert.last_activity_date_time is not None
    assert alert.first_activity_date_time < alert.last_activity_date_time
    assert alert.evidence.devices == ["tempDns"] and alert.evidence.files == ["MsSense.exe"]
    # the registry key has no place in the summary; it is counted all the same
    assert alert.evidence_kinds == {"device": 1, "file": 1, "process": 1, "registryKey": 1}


def test_evidence_is_counted_before_it_is_summarised() -> None:
    """AlertDetail's before-validator must run ahead of Alert's (pydantic's order for a subclass): the
    evidence list is still a list there. If a pydantic release changed the order, kinds would be lost."""
    raw = {
        "id": DOCS_ID,
        "evidence": [{"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "x"}],
    }
    alert = AlertDetail.model_validate(raw)
    assert alert.evidence.ips == ["x"] and alert.evidence_kinds == {"ip": 1}


def test_the_legacy_alert_reads_under_graph_names() -> None:
    alert = read_alert(fixture(LEGACY_ID, "defender"))
    assert alert.unreadable_fields == ()
    assert (alert.id, alert.incident_id, alert.tenant_id) == (
        LEGACY_ID,
        "1126093",
        "a839b112-1253-6432-9bf6-94542403f21c",
    )
    assert (str(alert.severity), alert.status, alert.detection_source) == ("low", "new", "windowsDefenderAtp")
    assert alert.created_date_time is not None and alert.last_update_date_time is not None
    assert alert.first_activity_date_time is not None and alert.last_activity_date_time is not None
    assert alert.evidence.devices == ["temp123.middleeast.corp.microsoft.com"]
    assert alert.evidence.users == ["temp123@microsoft.com"]
    assert alert.evidence.processes == ["rundll32.exe (pid 3276)"]
    assert alert.evidence.files == ["suspicious.dll"]
    assert alert.evidence_kinds == {"device": 1, "user": 1, "process": 1, "file": 1}


def test_an_alert_of_an_incident_reads_the_same_alone() -> None:
    embedded = json.loads((GRAPH / "incident_2972395.v1.json").read_text("utf-8"))["alerts"][0]
    alone = read_alert(fixture(GRAPH_ID))
    assert alone.id == embedded["id"] and alone.incident_id == "2972395"
    assert alone.evidence.devices == ["wkstn-0042.contoso.com"]


def test_the_cached_form_reads_back_to_the_same_alert() -> None:
    for alert in (read_alert(fixture(DOCS_ID)), read_alert(fixture(LEGACY_ID, "defender"))):
        again = AlertDetail.model_validate(alert.model_dump(mode="json", by_alias=True))
        assert again == alert


def test_control_and_bidi_characters_are_dropped() -> None:
    raw = fixture(DOCS_ID) | {"title": "a\x1b[31mb\u202ec\x00", "category": "Exe\u2066cution"}
    alert = read_alert(raw)
    assert (alert.title, alert.category) == ("a[31mbc", "Execution")


@pytest.mark.parametrize(
    ("changes", "unknown"),
    [
        ({"firstActivityDateTime": "yesterday"}, "firstActivityDateTime"),
        ({"lastActivityDateTime": 1.5e300}, "lastActivityDateTime"),
        ({"mitreTechniques": "T1059"}, "mitreTechniques"),
        ({"mitreTechniques": [{"id": "T1059"}]}, "mitreTechniques"),
        ({"status": {"odd": 1}}, "status"),
        ({"severity": ["high"]}, "severity"),
        ({"title": ["a", "b"]}, "title"),
        ({"incidentId": {"id": 1}}, "incidentId"),
        ({"detectionSource": ["antivirus"]}, "detectionSource"),
        ({"classification": True}, "classification"),
    ],
)
def test_one_malformed_field_is_unknown_and_the_rest_is_read(changes: dict[str, Any], unknown: str) -> None:
    alert = read_alert(fixture(DOCS_ID) | copy.deepcopy(changes))
    assert alert.unreadable_fields == (unknown,)
    assert alert.id == DOCS_ID and (alert.title != "" or unknown == "title")
    assert alert.evidence_kinds == {"device": 1, "file": 1, "process": 1, "registryKey": 1}


@pytest.mark.parametrize(
    "raw",
    [None, [], "da1_1", 7, {}, {"title": "no id"}, {"id": None}, {"id": ""}, {"id": "   "}, {"id": {"x": 1}}],
)
def test_an_answer_without_an_alert_is_unreadable(raw: Any) -> None:
    with pytest.raises(UnreadableAnswer):
        read_alert(raw)


def test_nesting_past_the_recursion_limit_is_unreadable_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(UnreadableAnswer):
        read_alert({"id": DOCS_ID, "title": deep})


def test_every_property_graph_lets_be_null_is_read_as_not_set() -> None:
    modelled = {field.alias or name for name, field in AlertDetail.model_fields.items()}
    nulls = [p for p in nullable_properties("alert") if p in modelled and p != "id"]
    assert {"incidentId", "detectionSource", "firstActivityDateTime", "evidence", "mitreTechniques"} <= set(
        nulls
    )
    raw = fixture(DOCS_ID) | dict.fromkeys(nulls)
    raw["mitreTechniques"] = ["T1564.001", None]  # elements of Collection(Edm.String) too
    alert = read_alert(raw)
    assert alert.unreadable_fields == ()
    assert alert.mitre_techniques == ["T1564.001"] and alert.incident_id is None
    assert alert.evidence_kinds == {} and alert.evidence.devices == []


def test_evidence_kinds_the_bot_does_not_know_are_counted_as_they_are_or_as_other() -> None:
    evidence = [
        {"@odata.type": "#microsoft.graph.security.cloudLogonSessionEvidence"},
        {"@odata.type": "#microsoft.graph.security.<!here>Evidence"},
        {"@odata.type": None},
        {"no type": 1},
        "not an item",
    ]
    alert = read_alert({"id": DOCS_ID, "evidence": evidence})
    assert alert.evidence_kinds == {"cloudLogonSession": 1, "other": 3}
