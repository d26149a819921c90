"""`/incident` through the bot's real HTTP endpoint, signed like Slack signs it."""

from __future__ import annotations

import asyncio
import json

from tests.listeners.conftest import SlackWorld, WorldFactory, portal_link


def _texts(blocks: list[dict]) -> str:
    return json.dumps(blocks)


async def test_incident_command_acks_empty_then_sends_the_card_ephemerally(world: SlackWorld) -> None:
    answer = await world.command("2972395")
    assert answer.status == 200
    assert answer.text == ""
    [reply] = await world.slack.wait_for("response_url:cmd")
    assert reply.args["response_type"] == "ephemeral"
    blocks = reply.args["blocks"]
    header = next(b for b in blocks if b["type"] == "header")
    assert header["text"]["text"].startswith("Multi-stage incident")
    action_ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert "incident-share" in action_ids
    assert "2972395" in reply.args["text"]


async def test_incident_command_accepts_hash_and_portal_links(world: SlackWorld) -> None:
    await world.command("#2972395", response="hash")
    await world.command(portal_link("2972395", tab="overview"), response="link")
    await world.slack.wait_for("response_url:hash")
    await world.slack.wait_for("response_url:link")
    # both asks for one id: one API read
    assert world.api.count("GET", "/security/incidents/2972395") == 1


async def test_help_and_empty_text_answer_usage_in_the_ack(world: SlackWorld) -> None:
    for text in ("", "help"):
        answer = await world.command(text)
        assert answer.status == 200
        assert "/incident 2972395" in answer.json()["text"]
    assert world.api.count(path_contains="/security/incidents/") == 0


async def test_invalid_id_gets_an_error_with_usage_and_no_api_request(world: SlackWorld) -> None:
    for text in ("abc", "1/comments", "2972395?$select=id", "..%2F", "https://evil.example/incidents/1"):
        answer = await world.command(text)
        assert answer.status == 200
        body = answer.json()
        assert "is not an incident id" in body["text"]
        assert "/incident 2972395" in body["text"]
    await world.settle()
    assert world.api.count(path_contains="/security/incidents/") == 0
    assert world.slack.calls_to("response_url:cmd") == []


async def test_not_found_names_the_incident_and_tenant(world: SlackWorld) -> None:
    await world.command("424242")
    [reply] = await world.slack.wait_for("response_url:cmd")
    assert "Incident 424242 was not found" in reply.args["text"]
    assert "in tenant" in reply.args["text"]


async def test_permission_denied_names_the_graph_permission(world: SlackWorld) -> None:
    world.api.fail_next(403, path_contains="/security/incidents/2972395")
    await world.command("2972395")
    [reply] = await world.slack.wait_for("response_url:cmd")
    assert "SecurityIncident.Read.All" in reply.args["text"]


async def test_throttled_without_cache_says_when_to_retry(world: SlackWorld) -> None:
    world.api.fail_next(429, count=20, retry_after=30, path_contains="/security/incidents/2972395")
    await world.command("2972395")
    [reply] = await world.slack.wait_for("response_url:cmd", timeout=10)
    assert "throttling" in reply.args["text"]
    assert "try again in 30 s" in reply.args["text"]


async def test_unavailable_api_shows_the_cached_card_marked_stale(start_world: WorldFactory) -> None:
    world = await start_world(incident_cache_ttl=1)
    await world.command("2972395", response="first")
    await world.slack.wait_for("response_url:first")
    await asyncio.sleep(1.1)  # the cached copy is no longer fresh
    world.api.fail_next(503, count=20, path_contains="/security/incidents/2972395")
    await world.command("2972395", response="second")
    [reply] = await world.slack.wait_for("response_url:second", timeout=15)
    assert "out of date" in json.dumps(reply.args["blocks"])


async def test_ack_does_not_wait_for_a_slow_api(world: SlackWorld) -> None:
    world.api.latency = 1.5
    answer = await world.command("2972395")
    assert answer.status == 200
    assert answer.elapsed < 0.5
    await world.slack.wait_for("response_url:cmd", timeout=10)


async def test_concurrent_commands_for_one_id_make_one_api_request(world: SlackWorld) -> None:
    world.api.latency = 0.2
    answers = await asyncio.gather(*(world.command("2972395", response=f"r{i}") for i in range(10)))
    assert all(a.status == 200 for a in answers)
    for i in range(10):
        await world.slack.wait_for(f"response_url:r{i}", timeout=10)
    assert world.api.count("GET", "/security/incidents/2972395") == 1


def mrkdwn_texts(node: object) -> list[str]:
    """Every mrkdwn string in a Block Kit tree (plain_text is never parsed for mentions or links)."""
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    return []


async def test_hostile_incident_cannot_ping_or_forge_links(world: SlackWorld) -> None:
    await world.command("666")
    [reply] = await world.slack.wait_for("response_url:cmd")
    texts = [reply.args["text"], *mrkdwn_texts(reply.args["blocks"])]
    assert len(texts) > 5
    for text in texts:
        for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U", "<https://evil.example", "<#C999"):
            assert forbidden not in text
    assert "&lt;!channel&gt;" in reply.args["text"]
    assert len(reply.args["blocks"]) <= 50
