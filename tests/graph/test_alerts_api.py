"""GraphAlertApi and DefenderAlertApi (and build_alert_api) against the fake incident API, whose alert
routes, `GET /{v1.0|beta}/security/alerts_v2/{id}` and the legacy `GET /api/alerts/{id}`, serve
tests/data/graph/alert_*.json, with Graph's error JSON (and a request-id) for an alert it does not hold."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.errors import InvalidIncidentId, NotFound, PermissionDenied, Unavailable, UnreadableAnswer
from bot.graph import build_alert_api
from bot.graph.alerts import (
    DEFENDER_ALERT_PERMISSIONS,
    GRAPH_ALERT_PERMISSIONS,
    DefenderAlertApi,
    GraphAlertApi,
)
from bot.graph.transport import ApiTransport
from bot.models.alert_ids import InvalidAlertId
from bot.state.budget import BudgetLimits, MemoryBudget
from tests.conftest import ApiStack
from tests.fakes import FakeEntra, FakeIncidentApi

MakeStack = Callable[..., ApiStack]

GRAPH_ID = "da637578995287051192_756343937"
DOCS_ID = "da637551227677560813_-961444813"
LEGACY_ID = "da637472900382838869_1364969609"
# Not alert ids: each would change the request's path or query, or is no form alerts have.
BAD_IDS = [
    "",
    "2972395",
    f"{GRAPH_ID}/comments",
    f"{GRAPH_ID}?$select=id",
    f"{GRAPH_ID}#x",
    "..%2F",
    "../incidents/2972395",
    f" {GRAPH_ID}",
    f"{GRAPH_ID}\n",
    "da637578995287051192_75634393７",
    "DA637578995287051192_756343937",
    "da" + "1" * 200 + "_1",
]


def graph_api(stack: ApiStack) -> GraphAlertApi:
    return GraphAlertApi(stack.transport, stack.settings.graph_url)


def legacy_api(stack: ApiStack) -> DefenderAlertApi:
    return DefenderAlertApi(stack.transport, stack.settings.defender_url)


async def test_graph_reads_the_alert_by_its_id_with_the_token(
    make_stack: MakeStack, incident_api: FakeIncidentApi, entra: FakeEntra
) -> None:
    alert = await graph_api(make_stack()).get_alert(GRAPH_ID)
    assert (alert.id, alert.incident_id, alert.title) == (
        GRAPH_ID,
        "2972395",
        "Potential Raspberry Robin worm command",
    )
    assert alert.evidence_kinds == {"device": 1, "process": 1, "file": 1, "user": 1}
    (request,) = incident_api.requests
    assert (request.method, request.path, request.query) == (
        "GET",
        f"/v1.0/security/alerts_v2/{GRAPH_ID}",
        {},
    )
    scheme, token = request.headers["Authorization"].split(" ")
    assert scheme == "Bearer" and entra.is_valid_token(token)
    assert request.headers["Prefer"] == "include-unknown-enum-members"  # detectionSource is evolvable


async def test_graph_reads_microsofts_example_alert(make_stack: MakeStack) -> None:
    alert = await graph_api(make_stack()).get_alert(DOCS_ID)
    assert (alert.detection_source, alert.service_source, alert.category) == (
        "antivirus",
        "microsoftDefenderForEndpoint",
        "DefenseEvasion",
    )
    assert alert.evidence_kinds == {"device": 1, "file": 1, "process": 1, "registryKey": 1}
    assert alert.first_activity_date_time is not None and alert.last_activity_date_time is not None


async def test_the_legacy_api_reads_the_alert_under_graph_names(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    alert = await legacy_api(make_stack(incident_api="defender")).get_alert(LEGACY_ID)
    assert incident_api.requests[0].path == f"/api/alerts/{LEGACY_ID}"
    assert (alert.incident_id, str(alert.severity), alert.status) == ("1126093", "low", "new")
    assert alert.detection_source == "windowsDefenderAtp"
    assert alert.tenant_id == "a839b112-1253-6432-9bf6-94542403f21c"
    assert alert.created_date_time is not None and alert.first_activity_date_time is not None
    assert alert.evidence.devices == ["temp123.middleeast.corp.microsoft.com"]
    assert alert.evidence_kinds == {"device": 1, "user": 1, "process": 1, "file": 1}


@pytest.mark.parametrize("flavor", ["graph", "defender"])
async def test_an_alert_the_api_does_not_hold_is_not_found_with_its_request_id(
    make_stack: MakeStack, flavor: str
) -> None:
    stack = make_stack(incident_api=flavor)
    api = legacy_api(stack) if flavor == "defender" else graph_api(stack)
    with pytest.raises(NotFound) as caught:
        await api.get_alert("da000000000000000000_1")
    assert caught.value.status == 404 and caught.value.request_id
    assert "da000000000000000000_1" in caught.value.message


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("flavor", ["graph", "defender"])
async def test_a_malformed_alert_id_sends_nothing(
    make_stack: MakeStack, incident_api: FakeIncidentApi, flavor: str, bad: str
) -> None:
    stack = make_stack(incident_api=flavor)
    api = legacy_api(stack) if flavor == "defender" else graph_api(stack)
    with pytest.raises(InvalidAlertId) as caught:
        await api.get_alert(bad)
    assert isinstance(caught.value, InvalidIncidentId)  # answered as every bad id is
    assert incident_api.requests == []


@pytest.mark.parametrize(
    ("flavor", "permission"),
    [("graph", GRAPH_ALERT_PERMISSIONS.read), ("defender", DEFENDER_ALERT_PERMISSIONS.read)],
)
async def test_a_403_names_the_alert_permission_not_the_incident_one(
    make_stack: MakeStack, incident_api: FakeIncidentApi, flavor: str, permission: str
) -> None:
    stack = make_stack(incident_api=flavor)  # its transport was built with the incident permissions
    api = legacy_api(stack) if flavor == "defender" else graph_api(stack)
    incident_api.fail_next(403, path_contains="alerts")
    with pytest.raises(PermissionDenied) as caught:
        await api.get_alert(GRAPH_ID if flavor == "graph" else LEGACY_ID)
    assert caught.value.permission == permission
    assert permission in caught.value.message and "Incident" not in caught.value.message
    assert caught.value.request_id


async def test_a_transport_built_for_alerts_names_the_same_permission(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack()
    transport = ApiTransport(stack.http, permissions=GRAPH_ALERT_PERMISSIONS, sleep=stack.sleeps)
    incident_api.fail_next(403, path_contains="alerts_v2")
    with pytest.raises(PermissionDenied) as caught:
        await GraphAlertApi(transport, stack.settings.graph_url).get_alert(GRAPH_ID)
    assert caught.value.permission == "SecurityAlert.Read.All"


async def test_a_busy_api_is_retried_like_any_read(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    incident_api.fail_next(503, path_contains="alerts_v2")
    alert = await graph_api(make_stack()).get_alert(GRAPH_ID)
    assert alert.id == GRAPH_ID and incident_api.count("GET", "/alerts_v2/") == 2


@pytest.mark.parametrize(
    "body", [b"<html>not json</html>", b'{"title": "an alert without an id"}', b"[1, 2]", b'{"id": null}']
)
async def test_a_success_without_an_alert_is_unreadable(
    make_stack: MakeStack, incident_api: FakeIncidentApi, body: bytes
) -> None:
    incident_api.answer_body_next(body, path_contains="alerts_v2")
    with pytest.raises(UnreadableAnswer):
        await graph_api(make_stack()).get_alert(GRAPH_ID)


async def test_a_field_that_does_not_parse_is_unknown_and_logged_once(
    make_stack: MakeStack, incident_api: FakeIncidentApi, caplog: pytest.LogCaptureFixture
) -> None:
    incident_api.alerts["v1.0"][GRAPH_ID] = {
        **incident_api.alerts["v1.0"][GRAPH_ID],
        "firstActivityDateTime": "yesterday",
    }
    api = graph_api(make_stack())
    first = await api.get_alert(GRAPH_ID)
    again = await api.get_alert(GRAPH_ID)
    assert first.unreadable_fields == again.unreadable_fields == ("firstActivityDateTime",)
    assert first.first_activity_date_time is None and first.title
    logged = [r for r in caplog.records if "firstActivityDateTime" in r.getMessage()]
    assert len(logged) == 1


async def test_beta_serves_the_same_alert(make_stack: MakeStack, incident_api: FakeIncidentApi) -> None:
    stack = make_stack(graph_base_url=incident_api.graph_beta_url)
    alert = await graph_api(stack).get_alert(DOCS_ID)
    assert alert.id == DOCS_ID and incident_api.requests[0].path == f"/beta/security/alerts_v2/{DOCS_ID}"


@pytest.mark.parametrize(
    ("flavor", "backend", "permission"),
    [
        ("graph", GraphAlertApi, GRAPH_ALERT_PERMISSIONS.read),
        ("defender", DefenderAlertApi, DEFENDER_ALERT_PERMISSIONS.read),
    ],
)
async def test_build_alert_api_picks_the_configured_backend_and_its_permission(
    make_stack: MakeStack, incident_api: FakeIncidentApi, flavor: str, backend: type, permission: str
) -> None:
    stack = make_stack(incident_api=flavor)
    alert_id = GRAPH_ID if flavor == "graph" else LEGACY_ID
    observed: list[tuple[str, str]] = []
    budget = MemoryBudget(BudgetLimits())
    before = await budget.remaining()
    api = build_alert_api(
        stack.settings,
        stack.http,
        budget=budget,
        observe=lambda kind, status, _: observed.append((kind, status)),
    )
    assert isinstance(api, backend)
    assert (await api.get_alert(alert_id)).id == alert_id
    assert observed == [("get", "200")]
    assert await budget.remaining() != before  # the read was taken from the shared budget
    incident_api.fail_next(403, path_contains="alerts")
    with pytest.raises(PermissionDenied) as caught:
        await api.get_alert(alert_id)
    assert caught.value.permission == permission


async def test_build_alert_api_uses_the_configured_retries(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(incident_api_retries=0)
    incident_api.fail_next(503, path_contains="alerts_v2")
    with pytest.raises(Unavailable):
        await build_alert_api(stack.settings, stack.http).get_alert(GRAPH_ID)
    assert incident_api.count("GET", "/alerts_v2/") == 1
