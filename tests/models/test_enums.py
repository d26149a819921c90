"""Tolerant enums: Graph v1.0 spelling, legacy PascalCase and old names accepted, unknown values kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bot.models import (
    DETERMINATIONS_BY_CLASSIFICATION,
    Alert,
    Classification,
    Determination,
    Incident,
    Severity,
    Status,
)
from bot.models.enums import camel_value

Load = Callable[[str], dict[str, Any]]


def parsed(**fields: Any) -> Incident:
    return Incident.model_validate({"id": "1", **fields})


@pytest.mark.parametrize(
    ("field", "sent", "expected"),
    [
        ("status", "Active", Status.ACTIVE),
        ("status", "InProgress", Status.IN_PROGRESS),
        ("status", "Redirected", Status.REDIRECTED),
        ("severity", "High", Severity.HIGH),
        ("severity", "Informational", Severity.INFORMATIONAL),
        ("classification", "TruePositive", Classification.TRUE_POSITIVE),
        ("classification", "InformationalExpectedActivity", Classification.INFORMATIONAL_EXPECTED_ACTIVITY),
        ("determination", "MultiStagedAttack", Determination.MULTI_STAGED_ATTACK),
        ("determination", "LineOfBusinessApplication", Determination.LINE_OF_BUSINESS_APPLICATION),
    ],
)
def test_legacy_pascal_case_becomes_graph_camel_case(field: str, sent: str, expected: str) -> None:
    value = getattr(parsed(**{field: sent}), field)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("old", "current"),
    [
        ("compromisedUser", Determination.COMPROMISED_ACCOUNT),
        ("clean", Determination.NOT_MALICIOUS),
        ("insufficientData", Determination.NOT_ENOUGH_DATA_TO_VALIDATE),
        ("confirmedUserActivity", Determination.CONFIRMED_ACTIVITY),
        ("CompromisedUser", Determination.COMPROMISED_ACCOUNT),
        ("Clean", Determination.NOT_MALICIOUS),
        ("InsufficientData", Determination.NOT_ENOUGH_DATA_TO_VALIDATE),
        ("ConfirmedUserActivity", Determination.CONFIRMED_ACTIVITY),
        ("NotAvailable", Determination.UNKNOWN),
    ],
)
def test_both_generations_of_determination_names_mean_the_same(old: str, current: Determination) -> None:
    assert parsed(determination=old).determination is current
    assert parsed(determination=current.value).determination is current


def test_unknown_values_are_kept(load_fixture: Load) -> None:
    incident = Incident.model_validate(load_fixture("7001.v1"))
    assert incident.status is Status.AWAITING_ACTION
    assert incident.severity == "critical" and not isinstance(incident.severity, Severity)
    assert incident.determination == "someNewDetermination2027"
    assert incident.alerts[0].severity == "unknownFutureValue"
    data = incident.to_json_dict()
    assert (data["status"], data["severity"], data["determination"]) == (
        "awaitingAction",
        "critical",
        "someNewDetermination2027",
    )
    # The legacy API's and Microsoft's examples' PascalCase is read like a known value's: one
    # spelling per value, whichever API sent it.
    assert parsed(status="SomeNewStatus").status == "someNewStatus"
    for field in ("classification", "determination", "severity", "status"):
        assert getattr(parsed(**{field: "UnknownFutureValue"}), field) == "unknownFutureValue"


def test_severity_aliases_and_defaults() -> None:
    assert parsed(severity="UnSpecified").severity is Severity.UNKNOWN
    assert parsed(severity="unspecified").severity is Severity.UNKNOWN
    default = parsed()
    assert (default.status, default.severity, default.classification, default.determination) == (
        "active",
        "unknown",
        "unknown",
        "unknown",
    )


@pytest.mark.parametrize("field", ["status", "severity", "classification", "determination"])
def test_a_non_string_enum_value_is_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        parsed(**{field: 3})


def test_enum_members_serialize_as_plain_strings() -> None:
    incident = parsed(status=Status.RESOLVED, classification="FalsePositive", determination="Clean")
    assert incident.model_dump_json(by_alias=True).count('"resolved"') == 1
    assert incident.to_json_dict()["determination"] == "notMalicious"
    assert Alert.model_validate({"id": "a", "severity": "Medium"}).severity is Severity.MEDIUM
    schema = Incident.model_json_schema(by_alias=True)
    assert schema["properties"]["status"]["type"] == "string"


def test_camel_value_lowers_only_the_first_letter() -> None:
    assert camel_value(" TruePositive ") == "truePositive"
    assert camel_value("inProgress") == "inProgress"
    assert camel_value("") == ""


def test_every_known_determination_fits_some_classification() -> None:
    listed = {d for ds in DETERMINATIONS_BY_CLASSIFICATION.values() for d in ds}
    # apt and securityPersonnel are read-only legacy values: the portal no longer offers them.
    legacy_only = {Determination.UNKNOWN, Determination.APT, Determination.SECURITY_PERSONNEL}
    assert listed == set(Determination) - legacy_only
    assert all(Determination.OTHER in ds for ds in DETERMINATIONS_BY_CLASSIFICATION.values())
    assert Classification.UNKNOWN not in DETERMINATIONS_BY_CLASSIFICATION
