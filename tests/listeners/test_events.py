"""Defender link unfurls from `link_shared` events."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fakes import TENANT_ID
from tests.listeners.conftest import SlackWorld, portal_link, slack_payload


def link_event(urls: list[str], *, event_id: str = "Ev0LINKS0001", **event: Any) -> dict[str, Any]:
    body = copy.deepcopy(slack_payload("link_shared"))
    body["event_id"] = event_id
    body["event"]["links"] = [{"domain": url.split("/")[2], "url": url} for url in urls]
    body["event"].update(event)
    return body


async def test_five_links_to_three_incidents_make_one_unfurl_and_three_reads(world: SlackWorld) -> None:
    urls = [
        portal_link("2972395"),
        portal_link("2972395", tab="overview"),
        portal_link("4242"),
        portal_link("7001", tab="alerts"),
        portal_link("2972395", tab="evidence"),
    ]
    answer = await world.event(link_event(urls))
    assert answer.status == 200
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    assert set(unfurl.args["unfurls"]) == set(urls)
    assert unfurl.args["channel"] == "C0SOC"
    assert unfurl.args["ts"] == "1700000000.000100"
    # 2972395, 4242 (redirected to 2972395, already being fetched) and 7001
    reads = [r for r in world.api.requests if r.method == "GET" and "/security/incidents/" in r.path]
    assert sorted({r.path.rsplit("/", 1)[1] for r in reads}) == ["2972395", "4242", "7001"]
    assert len(reads) == 3


async def test_merged_incident_unfurls_as_its_target(world: SlackWorld) -> None:
    await world.event(link_event([portal_link("4242")]))
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    text = json.dumps(unfurl.args["unfurls"])
    assert "Incident 4242 was merged into 2972395" in text


async def test_composer_preview_is_answered_with_unfurl_id_and_source(world: SlackWorld) -> None:
    body = link_event([portal_link("2972395")], source="composer", unfurl_id="C0SOC.abc", message_ts="")
    await world.event(body)
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    assert unfurl.args["unfurl_id"] == "C0SOC.abc"
    assert unfurl.args["source"] == "composer"
    assert "ts" not in unfurl.args


async def test_links_of_other_tenants_and_hosts_are_not_unfurled(world: SlackWorld) -> None:
    urls = [
        portal_link("2972395", tenant="11111111-2222-3333-4444-555555555555"),
        "https://evil.example/incidents/2972395?tid=" + TENANT_ID,
        "https://security.microsoft.com/alerts/da123?tid=" + TENANT_ID,
    ]
    answer = await world.event(link_event(urls))
    assert answer.status == 200
    await world.settle()
    assert world.slack.calls_to("chat.unfurl") == []
    assert world.api.count(path_contains="/security/incidents/") == 0


async def test_a_slack_retry_does_not_unfurl_twice(world: SlackWorld) -> None:
    body = link_event([portal_link("2972395")])
    await world.event(body)
    await world.slack.wait_for("chat.unfurl")
    await world.settle()
    retry = await world.event(body, retry_num=1)
    assert retry.status == 200
    await world.settle()
    assert len(world.slack.calls_to("chat.unfurl")) == 1


async def test_a_retry_racing_the_first_delivery_unfurls_once(world: SlackWorld) -> None:
    world.api.latency = 0.3
    body = link_event([portal_link("2972395")], event_id="Ev0RACE")
    await world.event(body)
    await world.event(body, retry_num=1)
    await world.settle()
    assert len(world.slack.calls_to("chat.unfurl")) == 1


async def test_not_found_link_is_unfurled_with_a_clear_refusal(world: SlackWorld) -> None:
    await world.event(link_event([portal_link("31337")]))
    [unfurl] = await world.slack.wait_for("chat.unfurl")
    assert "was not found" in json.dumps(unfurl.args["unfurls"])


async def test_a_backslash_lookalike_is_not_unfurled_beside_a_healthy_link(world: SlackWorld) -> None:
    lookalike = f"https://evil.example\\@security.microsoft.com/incidents/4242?tid={TENANT_ID}"
    healthy = portal_link("2972395")
    assert (await world.event(link_event([lookalike, healthy], event_id="Ev0LOOKALIKE"))).status == 200
    await world.settle()
    [unfurl] = world.slack.calls_to("chat.unfurl")
    assert list(unfurl.args["unfurls"]) == [healthy]
    assert world.api.count(path_contains="/incidents/4242") == 0
    assert "evil.example" not in json.dumps(unfurl.args)
