"""GraphIncidentApi and DefenderIncidentApi against the fake: URLs, headers, bodies, paging, ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.errors import InvalidIncidentId, NotFound, PermissionDenied
from bot.graph import DefenderIncidentApi, GraphIncidentApi, build_incident_api
from bot.graph.api import to_legacy_changes
from bot.models import Classification, Determination, Status, validate_incident_id
from bot.services import Services
from tests.conftest import ApiStack, copy_of
from tests.fakes import FakeEntra, FakeIncidentApi

MakeStack = Callable[..., ApiStack]
Load = Callable[[str], dict[str, Any]]
ID = "2972395"
BAD_IDS = ["1/comments", "2972395?$select=id", "..%2F", "abc", "", "1" * 21, "-1", " 1", "１２３"]


async def test_get_expands_alerts_and_sends_the_prefer_header_and_token(
    make_stack: MakeStack, incident_api: FakeIncidentApi, entra: FakeEntra
) -> None:
    stack = make_stack()
    incident = await stack.api.get_incident(ID)
    assert len(incident.alerts) == 3 and incident.alerts[0].evidence.devices == ["wkstn-0042.contoso.com"]
    (request,) = incident_api.requests
    assert (request.method, request.path, request.query) == (
        "GET",
        f"/v1.0/security/incidents/{ID}",
        {"$expand": "alerts"},
    )
    assert request.headers["Prefer"] == "include-unknown-enum-members"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("incident-bot/")
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Bearer" and entra.is_valid_token(token)
    assert entra.last_scope == f"{incident_api.origin}/.default"


async def test_get_without_alerts_does_not_expand(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    incident = await make_stack().api.get_incident(ID, expand_alerts=False)
    assert incident.alerts == [] and incident_api.requests[0].query == {}


async def test_new_enum_members_arrive_because_of_the_prefer_header(make_stack: MakeStack) -> None:
    assert (await make_stack().api.get_incident("7001")).status is Status.AWAITING_ACTION


async def test_a_missing_incident_is_not_found_with_its_request_id(make_stack: MakeStack) -> None:
    with pytest.raises(NotFound) as caught:
        await make_stack().api.get_incident("999")
    assert caught.value.status == 404 and caught.value.request_id
    assert "999" in caught.value.message


async def first_items(stack: ApiStack, limit: int, **options: Any) -> list[str]:
    """Ids of a listing, stopping after `limit` items so a listing that never ends cannot hang the test."""
    ids: list[str] = []
    async for incident in stack.api.list_incidents(**options):
        ids.append(incident.id)
        if len(ids) >= limit:
            break
    return ids


@pytest.mark.parametrize("flavor", ["v1.0", "defender"])
async def test_list_follows_next_link_across_pages(
    make_stack: MakeStack, incident_api: FakeIncidentApi, load_fixture: Load, flavor: str
) -> None:
    if flavor == "defender":
        stack = make_stack(incident_api="defender")
        base = load_fixture("2972395.defender")
        incident_api.incidents["defender"].clear()
        for n in range(25):
            incident_api.put("defender", base | {"incidentId": 100 + n})
        path = "/api/incidents"
    else:
        stack = make_stack()
        base = load_fixture("2972395.v1")
        incident_api.incidents["v1.0"].clear()
        for n in range(25):
            incident_api.put("v1.0", copy_of(base, str(100 + n)))
        path = "/v1.0/security/incidents"
    ids = await first_items(stack, 40, top=10)
    assert sorted(ids) == [str(100 + n) for n in range(25)]
    assert incident_api.count("GET", path) == 3
    first, *later = incident_api.requests
    assert first.query == {"$top": "10"}
    assert all("$skip" in "".join(r.query) and r.query["$top"] == "10" for r in later)


async def test_list_passes_the_filter(make_stack: MakeStack, incident_api: FakeIncidentApi) -> None:
    stack = make_stack()
    found = await first_items(stack, 10, filter="status eq 'redirected'", top=50)
    assert sorted(found) == ["4242", "5001", "5002"]
    assert incident_api.requests[0].query == {"$top": "50", "$filter": "status eq 'redirected'"}


async def test_graph_update_patches_only_the_changed_fields(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack()
    changes = {
        "status": Status.RESOLVED,
        "classification": Classification.FALSE_POSITIVE,
        "determination": Determination.NOT_MALICIOUS,
    }
    written = await stack.api.update_incident(ID, changes)
    updated = written.incident
    assert (await stack.api.update_incident(ID, {"assignedTo": "megan@contoso.com"})).incident is not None
    first, second = (r.json for r in incident_api.requests)
    assert first == {"status": "resolved", "classification": "falsePositive", "determination": "notMalicious"}
    assert second == {"assignedTo": "megan@contoso.com"}
    assert updated is not None and updated.status is Status.RESOLVED and updated.alerts == []
    assert written.request_id and len(written.request_id) == 36  # the answer's request-id, for the audit
    assert {r.method for r in incident_api.requests} == {"PATCH"}


async def test_an_unknown_field_is_refused_before_any_request(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    with pytest.raises(ValueError, match="severity"):
        await make_stack().api.update_incident(ID, {"severity": "low"})
    assert incident_api.requests == []


async def test_defender_update_sends_legacy_names(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(incident_api="defender")
    changes = {
        "status": "resolved",
        "classification": "truePositive",
        "determination": "compromisedAccount",
        "customTags": ["Finance"],
        "assignedTo": "kai@contoso.com",
    }
    updated = (await stack.api.update_incident(ID, changes)).incident
    (request,) = incident_api.requests
    assert (request.method, request.path) == ("PATCH", f"/api/incidents/{ID}")
    assert request.json == {
        "status": "Resolved",
        "classification": "TruePositive",
        "determination": "CompromisedUser",
        "tags": ["Finance"],
        "assignedTo": "kai@contoso.com",
    }
    assert updated is not None and updated.determination is Determination.COMPROMISED_ACCOUNT
    assert updated.custom_tags == ["Finance"] and len(updated.alerts) == 3


@pytest.mark.parametrize(
    ("current", "legacy"),
    [("notMalicious", "Clean"), ("notEnoughDataToValidate", "InsufficientData"),
     ("confirmedActivity", "ConfirmedUserActivity"), ("malware", "Malware"), ("Phishing", "Phishing")],
)  # fmt: skip
def test_legacy_changes_use_the_older_determination_names(current: str, legacy: str) -> None:
    assert to_legacy_changes({"determination": current}) == {"determination": legacy}
    assert to_legacy_changes({"resolvingComment": "done"}) == {"comment": "done"}


async def test_graph_comment_posts_an_alert_comment(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    written = await make_stack().api.add_comment(ID, "Isolated WKSTN-0042")
    assert written.incident is None and written.request_id
    (request,) = incident_api.requests
    assert (request.method, request.path) == ("POST", f"/v1.0/security/incidents/{ID}/comments")
    assert request.json == {
        "@odata.type": "microsoft.graph.security.alertComment",
        "comment": "Isolated WKSTN-0042",
    }


async def test_defender_comment_patches_the_incident(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    updated = (await make_stack(incident_api="defender").api.add_comment(ID, "Isolated WKSTN-0042")).incident
    (request,) = incident_api.requests
    assert (request.method, request.path, request.json) == (
        "PATCH",
        f"/api/incidents/{ID}",
        {"comment": "Isolated WKSTN-0042"},
    )
    assert updated is not None and updated.comments[-1].comment == "Isolated WKSTN-0042"
    assert updated.comments[-1].created_by_display_name == "Incident Bot (app)"


async def test_beta_base_url_works_for_reads_and_comments(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(graph_base_url=incident_api.graph_beta_url)
    incident = await stack.api.get_incident(ID)
    assert incident.tenant_id is not None and len(incident.recommended_hunting_queries) == 2
    await stack.api.add_comment(ID, "from beta")
    after = await stack.api.get_incident(ID)
    assert after.comments[-1].comment == "from beta" and after.comments[-1].created_by_display_name
    assert all(r.path.startswith("/beta/security/incidents/") for r in incident_api.requests)


@pytest.mark.parametrize(("backend", "read", "write"), [
    ("graph", "SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"),
    ("defender", "Incident.Read.All", "Incident.ReadWrite.All"),
])  # fmt: skip
async def test_permission_denied_names_the_missing_permission(
    make_stack: MakeStack, incident_api: FakeIncidentApi, backend: str, read: str, write: str
) -> None:
    api = make_stack(incident_api=backend, incident_api_retries=0).api
    incident_api.fail_next(403, count=3)
    with pytest.raises(PermissionDenied) as reading:
        await api.get_incident(ID)
    with pytest.raises(PermissionDenied) as updating:
        await api.update_incident(ID, {"assignedTo": "kai@contoso.com"})
    with pytest.raises(PermissionDenied) as commenting:
        await api.add_comment(ID, "x")
    assert reading.value.permission == read and read in str(reading.value)
    assert updating.value.permission == commenting.value.permission == write
    assert write in str(updating.value)


@pytest.mark.parametrize("backend", ["graph", "defender"])
@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_an_invalid_id_sends_nothing(
    make_stack: MakeStack, incident_api: FakeIncidentApi, entra: FakeEntra, backend: str, bad_id: str
) -> None:
    api = make_stack(incident_api=backend).api
    with pytest.raises(InvalidIncidentId):
        await api.get_incident(bad_id)
    with pytest.raises(InvalidIncidentId):
        await api.update_incident(bad_id, {"assignedTo": "kai@contoso.com"})
    with pytest.raises(InvalidIncidentId):
        await api.add_comment(bad_id, "x")
    assert incident_api.requests == [] and entra.token_requests == 0


def test_validate_incident_id_accepts_ascii_digits_and_ints_only() -> None:
    assert validate_incident_id("2972395") == "2972395" and validate_incident_id(2972395) == "2972395"
    assert validate_incident_id("9" * 20) == "9" * 20
    for bad in (True, None, 1.5, "2972395\n", "٣"):
        with pytest.raises(InvalidIncidentId):
            validate_incident_id(bad)


async def test_build_incident_api_picks_the_configured_backend(services: Services) -> None:
    assert isinstance(services.api, GraphIncidentApi)
    assert services.http is not None
    defender = build_incident_api(
        services.settings.model_copy(update={"incident_api": "defender"}), services.http
    )
    assert isinstance(defender, DefenderIncidentApi)
