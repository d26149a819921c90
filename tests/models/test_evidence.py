"""Evidence summaries: one readable value per entity, from Graph `evidence[]` or legacy devices/entities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.models import Alert
from bot.models.evidence import SUMMARY_FIELDS, summarize_graph_evidence, summarize_legacy_evidence

Load = Callable[[str], dict[str, Any]]
PREFIX = "#microsoft.graph.security."


def graph(kind: str, **fields: Any) -> dict[str, Any]:
    return {"@odata.type": PREFIX + kind, **fields}


def only(summary: dict[str, list[str]], field: str) -> list[str]:
    """The one non-empty field of a summary."""
    assert [name for name in SUMMARY_FIELDS if summary[name]] == [field], summary
    return summary[field]


def test_graph_alert_evidence_from_the_fixture(load_fixture: Load) -> None:
    alerts = load_fixture("2972395.v1")["alerts"]
    summaries = [summarize_graph_evidence(alert["evidence"]) for alert in alerts]
    assert summaries[0] == {
        "devices": ["wkstn-0042.contoso.com"],
        "users": ["KaiC@contoso.onmicrosoft.com"],
        "mailboxes": [],
        "ips": [],
        "urls": [],
        "files": ["rr_loader.dll"],
        "processes": ["msiexec.exe (pid 4780)"],
    }
    assert summaries[1]["ips"] == ["203.0.113.77"] and summaries[1]["devices"] == ["srv-file01.contoso.com"]
    assert summaries[2]["mailboxes"] == ["MeganB@contoso.onmicrosoft.com"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"userAccount": {"userPrincipalName": "kai@contoso.com", "accountName": "kai"}}, "kai@contoso.com"),
        ({"userAccount": {"accountName": "kai", "domainName": "CONTOSO"}}, "CONTOSO\\kai"),
        ({"userAccount": {"accountName": "kai"}}, "kai"),
        ({"userAccount": {"displayName": "Kai Carter"}}, "Kai Carter"),
    ],
)
def test_a_user_is_named_by_upn_then_domain_account_then_display_name(
    item: dict[str, Any], expected: str
) -> None:
    assert only(summarize_graph_evidence([graph("userEvidence", **item)]), "users") == [expected]


@pytest.mark.parametrize(
    ("kind", "item", "field", "expected"),
    [
        ("deviceEvidence", {"hostName": "wkstn-1", "mdeDeviceId": "abc"}, "devices", "wkstn-1"),
        ("deviceEvidence", {"mdeDeviceId": "73e7e2de"}, "devices", "73e7e2de"),
        ("mailboxEvidence", {"userAccount": {"userPrincipalName": "m@x.com"}}, "mailboxes", "m@x.com"),
        ("processEvidence", {"imageFile": {"fileName": "cmd.exe"}}, "processes", "cmd.exe"),
        ("processEvidence", {"processCommandLine": "cmd /c whoami"}, "processes", "cmd /c whoami"),
        ("fileEvidence", {"fileDetails": {"sha256": "8963a19f"}}, "files", "8963a19f"),
        ("urlEvidence", {"url": " https://x.example/a "}, "urls", "https://x.example/a"),
    ],
)  # fmt: skip
def test_each_kind_falls_back_to_its_next_best_name(
    kind: str, item: dict[str, Any], field: str, expected: str
) -> None:
    assert only(summarize_graph_evidence([graph(kind, **item)]), field) == [expected]


def test_each_value_is_listed_once_in_the_order_seen() -> None:
    items = [graph("ipEvidence", ipAddress=ip) for ip in ("10.0.0.2", "10.0.0.1", "10.0.0.2")]
    assert only(summarize_graph_evidence(items), "ips") == ["10.0.0.2", "10.0.0.1"]


def test_unknown_kinds_odd_items_and_empty_values_are_skipped(load_fixture: Load) -> None:
    future = load_fixture("7001.v1")["alerts"][0]["evidence"]
    items = [
        *future,
        "not an object",
        None,
        graph("ipEvidence", ipAddress="   "),
        graph("ipEvidence", ipAddress=True),
        graph("processEvidence", processId=True),
        {"ipAddress": "10.9.9.9"},  # no @odata.type
    ]
    assert all(values == [] for values in summarize_graph_evidence(items).values())


def test_legacy_devices_and_entities_are_summarised_by_entity_type() -> None:
    devices = [{"deviceDnsName": "wkstn-0042.contoso.com"}, {"mdatpDeviceId": "24c222b0"}, "junk"]
    entities = [
        {"entityType": "User", "accountName": "kaic", "domainName": "CONTOSO"},
        {"entityType": "MailBox", "mailboxAddress": "m@contoso.com"},
        {"entityType": "Ip", "ipAddress": "203.0.113.77"},
        {"entityType": "Url", "url": "https://login-contoso.example"},
        {"entityType": "File", "fileName": "rr_loader.dll", "sha256": "8963"},
        {"entityType": "Process", "fileName": "msiexec.exe", "processId": 4780},
        {"entityType": "SecurityGroup", "securityGroupName": "Admins"},
        {"entityType": "Registry", "registryKey": "HKLM\\Run"},
        42,
    ]
    assert summarize_legacy_evidence(devices, entities) == {
        "devices": ["wkstn-0042.contoso.com", "24c222b0"],
        "users": ["CONTOSO\\kaic"],
        "mailboxes": ["m@contoso.com"],
        "ips": ["203.0.113.77"],
        "urls": ["https://login-contoso.example"],
        "files": ["rr_loader.dll"],
        "processes": ["msiexec.exe (pid 4780)"],
    }


def test_the_alert_model_summarises_whichever_shape_it_gets() -> None:
    graph_alert = Alert.model_validate(
        {"id": "a", "evidence": [graph("urlEvidence", url="https://x.example")]}
    )
    legacy_alert = Alert.model_validate(
        {"alertId": "b", "devices": None, "entities": [{"entityType": "Url", "url": "https://x.example"}]}
    )
    bare = Alert.model_validate({"id": "c"})
    assert graph_alert.evidence == legacy_alert.evidence
    assert graph_alert.evidence.urls == ["https://x.example"]
    assert bare.evidence.model_dump() == {name: [] for name in SUMMARY_FIELDS}
    assert Alert.model_validate(graph_alert.model_dump(by_alias=True)) == graph_alert
