"""Reading API answers field by field: a field that does not parse is unknown, the rest stands.

Nullability follows Microsoft Graph's CSDL for microsoft.graph.security, shipped in tests/data/graph/
(see its README): a property without Nullable="false" may be null, and so may the elements of a
Collection(Edm.String).
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bot.errors import UnreadableAnswer
from bot.models import Alert, AlertComment, Incident, Status
from bot.models.reading import read_incident

GRAPH = Path(__file__).parent.parent / "data" / "graph"


def fixture(name: str = "2972395.v1") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAPH / f"incident_{name}.json").read_text("utf-8"))
    return data


def with_(changes: dict[str, Any], base: str = "2972395.v1") -> dict[str, Any]:
    data = fixture(base)
    data.update(copy.deepcopy(changes))
    return data


def test_a_healthy_answer_reads_in_one_pass_with_nothing_unknown() -> None:
    reading = read_incident(fixture())
    assert reading.problems == ()
    assert reading.incident.unreadable_fields == ()


@pytest.mark.parametrize(
    ("changes", "unknown"),
    [
        ({"createdDateTime": "not a date"}, "createdDateTime"),
        ({"lastUpdateDateTime": "2026-13-45T99:00:00Z"}, "lastUpdateDateTime"),
        ({"createdDateTime": 1.5e300}, "createdDateTime"),
        ({"customTags": "VIP"}, "customTags"),
        ({"customTags": {"a": 1}}, "customTags"),
        ({"comments": "hello"}, "comments"),
        ({"alerts": {"id": "da1"}}, "alerts"),
        ({"alerts": 7}, "alerts"),
        ({"status": 5}, "status"),
        ({"severity": ["high"]}, "severity"),
        ({"classification": {"x": 1}}, "classification"),
        ({"determination": True}, "determination"),
        ({"assignedTo": {"upn": "x"}}, "assignedTo"),
        ({"displayName": ["a", "b"]}, "displayName"),
        ({"systemTags": 3}, "systemTags"),
        ({"recommendedHuntingQueries": "KQL"}, "recommendedHuntingQueries"),
    ],
)
def test_one_malformed_field_is_unknown_and_the_rest_is_read(changes: dict[str, Any], unknown: str) -> None:
    healthy = read_incident(fixture()).incident
    reading = read_incident(with_(changes))
    incident = reading.incident
    assert incident.unreadable_fields == (unknown,)
    assert [p.path for p in reading.problems] == [unknown]
    # everything else is as in the healthy answer (recommended actions come from the alerts)
    same = {k for k in type(incident).model_fields if k not in ("unreadable_fields",)}
    differing = {k for k in same if getattr(incident, k) != getattr(healthy, k)}
    allowed = {"recommended_actions"} if unknown == "alerts" else set()
    assert len(differing - allowed) <= 1


def test_an_unreadable_status_is_not_taken_for_active() -> None:
    incident = read_incident(with_({"status": {"odd": True}})).incident
    assert incident.status == "unknown" and incident.status != Status.ACTIVE


def test_one_bad_element_of_a_list_costs_that_element_only() -> None:
    raw = fixture()
    alerts = raw["alerts"]
    comments = [
        {"comment": "first", "createdDateTime": "2026-11-01T10:00:00Z"},
        {"comment": "second", "createdDateTime": "yesterday"},
        "not a comment",
        {"comment": "third"},
    ]
    raw.update(
        customTags=["VIP", {"x": 1}, "Finance"],
        comments=comments,
        alerts=[alerts[0], {"title": "no id"}, {**alerts[1], "createdDateTime": [2026]}, *alerts[2:]],
    )
    reading = read_incident(raw)
    incident = reading.incident
    assert incident.custom_tags == ["VIP", "Finance"]
    assert [c.comment for c in incident.comments] == ["first", "second", "third"]
    assert incident.comments[1].created_date_time is None
    assert len(incident.alerts) == len(alerts)  # the alert without an id is left out, the others kept
    assert incident.alerts[1].created_date_time is None and incident.alerts[1].title == alerts[1]["title"]
    assert set(incident.unreadable_fields) == {"customTags", "comments", "alerts"}
    assert {p.path for p in reading.problems} == {
        "customTags[1]",
        "comments[1].createdDateTime",
        "comments[2]",
        "alerts[1]",
        "alerts[2].createdDateTime",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"displayName": None},
        {"assignedTo": None, "description": None, "summary": None, "resolvingComment": None},
        {"customTags": None, "systemTags": None},
        {"customTags": ["VIP", None, "Finance"]},
        {"comments": [None, {"comment": None, "createdByDisplayName": None}]},
        {"recommendedHuntingQueries": [{"kqlText": None}, None]},
        {"incidentWebUrl": None, "redirectIncidentId": None, "tenantId": None},
        {"severity": None, "classification": None, "determination": None},
        {"alerts": None},
    ],
)
def test_nulls_the_schema_allows_are_read_as_not_set_not_as_unreadable(changes: dict[str, Any]) -> None:
    reading = read_incident(with_(changes))
    assert reading.problems == ()
    incident = reading.incident
    assert all(isinstance(tag, str) for tag in incident.custom_tags)
    assert all(isinstance(c.comment, str) for c in incident.comments)
    assert all(isinstance(q.kql_text, str) for q in incident.recommended_hunting_queries)


def test_numbers_where_strings_belong_are_read_as_their_digits() -> None:
    incident = read_incident(
        with_({"id": 2972395, "displayName": 404, "assignedTo": 7, "customTags": [1, "VIP"], "tenantId": 1})
    ).incident
    assert (incident.id, incident.display_name, incident.assigned_to) == ("2972395", "404", "7")
    assert incident.custom_tags == ["1", "VIP"]
    assert incident.unreadable_fields == ()


def test_enum_values_in_microsofts_example_casing_are_normalised() -> None:
    incident = read_incident(
        with_(
            {
                "status": "Active",
                "severity": "High",
                "classification": "UnknownFutureValue",
                "determination": "UnknownFutureValue",
            }
        )
    ).incident
    assert (incident.status, incident.severity) == ("active", "high")
    assert incident.classification == incident.determination == "unknownFutureValue"


def test_the_legacy_shape_is_repaired_under_its_own_names() -> None:
    raw = fixture("2972395.defender")
    raw["createdTime"] = "garbage"
    raw["tags"] = "one tag"
    reading = read_incident(raw)
    assert set(reading.incident.unreadable_fields) == {"createdDateTime", "customTags"}
    assert reading.incident.id == "2972395"
    assert reading.incident.alerts  # the rest of the legacy answer still reads


@pytest.mark.parametrize(
    "raw",
    [
        [],
        None,
        "2972395",
        {},
        {"id": None},
        {"id": {"x": 1}},
        {"id": "12a"},
        {"id": "1" * 21},
        {"id": "../2972395"},
        {"displayName": "no id at all", "status": "active"},
    ],
)
def test_an_answer_without_a_readable_incident_is_unreadable(raw: Any) -> None:
    with pytest.raises(UnreadableAnswer):
        read_incident(raw)


def test_nesting_past_the_recursion_limit_is_unreadable_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(UnreadableAnswer):
        read_incident({"id": "1", "displayName": deep})


def nullable_properties(type_name: str) -> list[str]:
    """The properties Graph's CSDL lets be null, of an EntityType or ComplexType of the excerpt."""
    text = (GRAPH / "security_incident_excerpt.xml").read_text("utf-8")
    root = ET.fromstring(f"<excerpt>{text}</excerpt>")
    [element] = [e for e in root if e.get("Name") == type_name]
    return [
        p.attrib["Name"]
        for p in element
        if p.tag in ("Property", "NavigationProperty") and p.get("Nullable") != "false"
    ]


def modelled(model: type[Incident] | type[Alert] | type[AlertComment]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_every_property_graph_lets_be_null_is_read_as_not_set() -> None:
    incident_nulls = [p for p in nullable_properties("incident") if p in modelled(Incident)]
    alert_nulls = [p for p in nullable_properties("alert") if p in modelled(Alert)]
    comment_nulls = [p for p in nullable_properties("alertComment") if p in modelled(AlertComment)]
    assert {"displayName", "customTags", "comments", "assignedTo", "alerts"} <= set(incident_nulls)
    assert {"title", "createdDateTime", "recommendedActions"} <= set(alert_nulls)
    assert "comment" in comment_nulls
    raw = fixture()
    raw.update(dict.fromkeys(incident_nulls))
    raw["customTags"] = ["VIP", None]  # elements of Collection(Edm.String) too
    raw["comments"] = [{**dict.fromkeys(comment_nulls), "comment": "kept"}, dict.fromkeys(comment_nulls)]
    raw["alerts"] = [{**alert, **dict.fromkeys(alert_nulls)} for alert in fixture()["alerts"]]
    reading = read_incident(raw)
    assert reading.problems == ()
    assert reading.incident.custom_tags == ["VIP"]
    assert len(reading.incident.alerts) == len(fixture()["alerts"])
