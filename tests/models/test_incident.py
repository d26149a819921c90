"""Incident: one model for Graph v1.0, Graph beta and the legacy Defender API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bot.models import Incident, IncidentSnapshot
from tests.fakes import TENANT_ID

Load = Callable[[str], dict[str, Any]]
SHAPES = ["2972395.v1", "2972395.beta", "2972395.defender"]
MAIN_FIELDS = [
    "id",
    "displayName",
    "status",
    "severity",
    "classification",
    "determination",
    "assignedTo",
    "createdDateTime",
    "lastUpdateDateTime",
    "customTags",
    "comments",
    "incidentWebUrl",
    "redirectIncidentId",
]
ALERT_FIELDS = ["id", "title", "severity", "category", "createdDateTime", "mitreTechniques", "evidence"]


def main_fields(incident: Incident) -> dict[str, Any]:
    data = incident.to_json_dict()
    fields = {name: data[name] for name in MAIN_FIELDS}
    fields["alerts"] = [{name: alert[name] for name in ALERT_FIELDS} for alert in data["alerts"]]
    return fields


def test_all_three_shapes_parse_into_the_same_incident(load_fixture: Load) -> None:
    v1, beta, defender = (main_fields(Incident.model_validate(load_fixture(name))) for name in SHAPES)
    assert v1 == beta == defender
    assert v1["id"] == "2972395"
    assert v1["displayName"].startswith("Multi-stage incident involving Initial access")
    assert (v1["status"], v1["severity"]) == ("active", "high")
    assert (v1["classification"], v1["determination"]) == ("truePositive", "multiStagedAttack")
    assert v1["customTags"] == ["Demo"]
    assert v1["comments"][0] == {
        "comment": "Demo incident",
        "createdByDisplayName": "David Schmidt",
        "createdDateTime": "2021-09-30T12:07:37.275699Z",
    }


def test_defender_names_are_renamed_to_graph_names(load_fixture: Load) -> None:
    incident = Incident.model_validate(load_fixture("2972395.defender"))
    assert incident.id == "2972395"  # the legacy API sends an integer
    assert incident.custom_tags == ["Demo"]  # from `tags`
    assert incident.incident_web_url is not None and "/incidents/2972395" in incident.incident_web_url
    assert [c.created_by_display_name for c in incident.comments] == [
        "David Schmidt",
        "Kai Carter",
        "Megan Bowen",
    ]
    assert incident.alerts[0].id == "da637578995287051192_756343937"  # from alertId
    assert incident.alerts[0].created_date_time == datetime(2021, 8, 13, 8, 43, 33, 186666, tzinfo=UTC)


def test_an_old_defender_determination_normalises_to_the_current_name(load_fixture: Load) -> None:
    raw = load_fixture("2972395.defender") | {
        "classification": "TruePositive",
        "determination": "CompromisedUser",
    }
    incident = Incident.model_validate(raw)
    assert (incident.classification, incident.determination) == ("truePositive", "compromisedAccount")


def test_tenant_id_comes_from_aad_tenant_id_on_beta(load_fixture: Load) -> None:
    assert Incident.model_validate(load_fixture("2972395.beta")).tenant_id == TENANT_ID
    assert Incident.model_validate(load_fixture("2972395.v1")).tenant_id == TENANT_ID


def test_alert_evidence_is_summarised_for_every_kind(load_fixture: Load) -> None:
    for shape in SHAPES:
        first, second, third = Incident.model_validate(load_fixture(shape)).alerts
        assert first.evidence.devices == ["wkstn-0042.contoso.com"]
        assert first.evidence.users == ["KaiC@contoso.onmicrosoft.com"]
        assert first.evidence.files == ["rr_loader.dll"]
        assert first.evidence.processes == ["msiexec.exe (pid 4780)"]
        assert first.mitre_techniques == ["T1059.003", "T1091", "T1218.007"]
        assert second.evidence.ips == ["203.0.113.77"]
        assert second.evidence.urls == ["http://q9.example:8080/Vgbp9QfQ0Ha/WKSTN-0042?admin"]
        assert third.evidence.mailboxes == ["MeganB@contoso.onmicrosoft.com"]
        assert [a.severity for a in (first, second, third)] == ["high", "medium", "low"]


def test_alert_status_is_normalised_like_the_incident_status(load_fixture: Load) -> None:
    graph = [a.status for a in Incident.model_validate(load_fixture("2972395.v1")).alerts]
    legacy = [a.status for a in Incident.model_validate(load_fixture("2972395.defender")).alerts]
    assert legacy == graph == ["inProgress", "new", "resolved"]


def test_beta_brings_incident_level_actions_and_hunting_queries(load_fixture: Load) -> None:
    incident = Incident.model_validate(load_fixture("2972395.beta"))
    assert len(incident.recommended_actions) == 1
    assert incident.recommended_actions[0].startswith("Immediate Recommendations:")
    assert [q.kql_text.split()[0] for q in incident.recommended_hunting_queries] == [
        "AlertInfo",
        "DeviceNetworkEvents",
    ]
    assert incident.to_json_dict()["recommendedHuntingQueries"][1]["kqlText"].startswith(
        "DeviceNetworkEvents"
    )


def test_recommended_actions_are_gathered_from_alerts_when_the_incident_has_none(load_fixture: Load) -> None:
    incident = Incident.model_validate(load_fixture("2972395.v1"))
    assert [a.split()[0] for a in incident.recommended_actions] == ["Collect", "Block", "Review"]
    repeated = {
        "id": "1",
        "alerts": [
            {"id": "a", "recommendedActions": " Isolate the device. "},
            {"id": "b", "recommendedActions": "Isolate the device."},
            {"id": "c", "recommendedActions": "   "},
            {"id": "d", "recommendedActions": None},
        ],
    }
    assert Incident.model_validate(repeated).recommended_actions == ["Isolate the device."]
    assert Incident.model_validate({"id": "1", "recommendedActions": ""}).recommended_actions == []


def test_seven_digit_fractional_seconds_parse_to_microseconds(load_fixture: Load) -> None:
    incident = Incident.model_validate(load_fixture("2972395.v1"))
    assert incident.created_date_time == datetime(2021, 8, 13, 8, 43, 35, 553333, tzinfo=UTC)
    assert incident.comments[0].created_date_time == datetime(2021, 9, 30, 12, 7, 37, 275699, tzinfo=UTC)
    assert Incident.model_validate(load_fixture("7001.v1")).created_date_time == datetime(
        2027, 1, 15, 6, 30, 0, 123456, tzinfo=UTC
    )


@pytest.mark.parametrize("name", [*SHAPES, "4242.v1", "5001.v1", "7001.v1", "666.v1"])
def test_to_json_dict_round_trips_through_model_validate(load_fixture: Load, name: str) -> None:
    incident = Incident.model_validate(load_fixture(name))
    data = incident.to_json_dict()
    assert Incident.model_validate(data) == incident
    assert Incident.model_validate_json(incident.model_dump_json(by_alias=True)) == incident
    assert isinstance(data["id"], str) and "display_name" not in data and "displayName" in data


def test_the_documented_camel_case_names_are_the_serialized_form(load_fixture: Load) -> None:
    data = Incident.model_validate(load_fixture("2972395.v1")).to_json_dict()
    documented = [
        "id",
        "displayName",
        "status",
        "severity",
        "classification",
        "determination",
        "assignedTo",
        "tenantId",
        "createdDateTime",
        "lastUpdateDateTime",
        "customTags",
        "systemTags",
        "description",
        "summary",
        "recommendedActions",
        "comments",
        "incidentWebUrl",
        "redirectIncidentId",
        "alerts",
    ]
    assert set(documented) <= set(data)
    assert set(data["alerts"][0]) >= {"id", "title", "severity", "mitreTechniques", "evidence"}


def test_incidents_are_frozen(load_fixture: Load) -> None:
    incident = Incident.model_validate(load_fixture("2972395.v1"))
    with pytest.raises(ValidationError, match="frozen"):
        incident.status = "resolved"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        incident.alerts[0].title = "changed"  # type: ignore[misc]


def test_hostile_text_is_kept_for_the_renderer_to_escape_but_loses_controls_and_bidi(
    load_fixture: Load,
) -> None:
    raw = load_fixture("666.v1")
    incident = Incident.model_validate(raw)
    assert incident.display_name == raw["displayName"]  # <, >, & and mentions: the renderer escapes them
    assert incident.custom_tags == raw["customTags"]
    assert incident.summary is not None and "\u202e" in raw["summary"] and "\u202e" not in incident.summary


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Ransomware\x00 on \x1b[31mHOST\x07\x08", "Ransomware on [31mHOST"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u2066isolated\u2069 \u202a\u202b\u202c\u202d", "isolated "),
        ("C1\x85\x9b controls", "C1 controls"),
        ("line one\r\nline two\ttabbed", "line one\nline two\ttabbed"),
        ("Ünïcödé 日本語 עברית emoji 🛡️ \u200f", "Ünïcödé 日本語 עברית emoji 🛡️ \u200f"),
    ],
)
def test_incident_text_drops_control_and_bidi_characters_and_keeps_other_unicode(raw: str, kept: str) -> None:
    incident = Incident.model_validate(
        {"id": "1", "displayName": raw, "customTags": [raw], "comments": [{"comment": raw}],
         "alerts": [{"id": "a1", "title": raw}]}
    )  # fmt: skip
    assert incident.display_name == kept and incident.custom_tags == [kept]
    assert incident.comments[0].comment == kept and incident.alerts[0].title == kept


def test_nulls_become_empty_lists_and_unknown_fields_are_ignored() -> None:
    incident = Incident.model_validate(
        {"id": 7, "customTags": None, "comments": None, "alerts": None, "priorityScore": 3, "x": {}}
    )
    assert incident.id == "7" and incident.custom_tags == [] and incident.alerts == []
    assert "priorityScore" not in incident.to_json_dict()


def test_a_redirected_incident_names_its_target(load_fixture: Load) -> None:
    merged = Incident.model_validate(load_fixture("4242.v1"))
    assert merged.is_redirected and merged.redirect_incident_id == "2972395"
    assert not Incident.model_validate({"id": "1", "status": "redirected"}).is_redirected
    assert not Incident.model_validate(load_fixture("2972395.v1")).is_redirected


def test_snapshot_age_is_measured_from_fetch_time(load_fixture: Load) -> None:
    fetched = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    snapshot = IncidentSnapshot(incident=Incident.model_validate(load_fixture("4242.v1")), fetched_at=fetched)
    assert snapshot.age_seconds(datetime(2026, 1, 1, 12, 1, 30, tzinfo=UTC)) == 90.0
    assert snapshot.age_seconds(datetime(2026, 1, 1, 11, 0, tzinfo=UTC)) == 0.0  # clock skew: never negative
    assert (snapshot.stale, snapshot.merged_from) == (False, ())
