"""The demo source: varied sample incidents that parse, and changes that stay in this process."""

from __future__ import annotations

from importlib.resources import files

import pytest

from bot.config.load import load_settings
from bot.errors import InvalidIncidentId, NotFound
from bot.graph.demo import DEMO_AUTHOR, DemoIncidentApi
from bot.models import Incident, Status
from bot.services import open_services


async def all_incidents(api: DemoIncidentApi, top: int = 100) -> list[Incident]:
    return [incident async for incident in api.list_incidents(top=top)]


async def test_the_samples_are_varied_and_include_2972395_and_a_merged_one() -> None:
    incidents = await all_incidents(DemoIncidentApi())
    by_id = {incident.id: incident for incident in incidents}
    assert len(incidents) >= 5 and "2972395" in by_id
    merged = [i for i in incidents if i.is_redirected]
    assert merged and all(i.redirect_incident_id in by_id for i in merged)
    assert len({i.status for i in incidents}) >= 3
    assert len({i.severity for i in incidents}) >= 3
    assert by_id["2972395"].alerts and by_id["2972395"].comments


async def test_list_honours_top() -> None:
    assert len(await all_incidents(DemoIncidentApi(), top=2)) == 2


async def test_comments_and_updates_stay_in_memory() -> None:
    sample_file = files("bot.graph").joinpath("demo_data/incidents.json")
    before = sample_file.read_bytes()
    api = DemoIncidentApi()
    commented = (await api.add_comment("2972395", "Seen in the demo")).incident
    updated = (
        await api.update_incident("2972395", {"status": Status.RESOLVED, "assignedTo": "me@contoso.com"})
    ).incident
    assert commented is not None and updated is not None
    assert commented.comments[-1].comment == "Seen in the demo"
    assert commented.comments[-1].created_by_display_name == DEMO_AUTHOR
    assert updated.status is Status.RESOLVED and updated.assigned_to == "me@contoso.com"
    again = await api.get_incident("2972395")
    assert again.comments[-1].comment == "Seen in the demo" and again.status is Status.RESOLVED
    fresh = await DemoIncidentApi().get_incident("2972395")
    assert fresh.status is not Status.RESOLVED
    assert all(c.comment != "Seen in the demo" for c in fresh.comments)
    assert sample_file.read_bytes() == before


async def test_unknown_and_invalid_ids() -> None:
    api = DemoIncidentApi()
    with pytest.raises(NotFound, match="999"):
        await api.get_incident("999")
    with pytest.raises(InvalidIncidentId):
        await api.add_comment("1/comments", "x")


async def test_demo_services_follow_merges_without_azure() -> None:
    settings = load_settings(incident_source="demo")
    async with open_services(settings) as services:
        assert services.demo and services.tokens is None and services.http is None
        merged = next(i for i in await all_incidents(DemoIncidentApi()) if i.is_redirected)
        snapshot = await services.incidents.get(merged.id)
        assert snapshot.merged_from == (merged.id,)
        assert snapshot.incident.id == merged.redirect_incident_id
        after = (await services.incidents.add_comment("2972395", "via the service")).snapshot
        assert after.incident.comments[-1].comment == "via the service"
        assert (await services.incidents.get("2972395")).incident.comments[-1].comment == "via the service"
