"""What an unfurl shows where (UNFURL_DETAIL), through the running bot: Slack-signed link_shared
events in, chat.unfurl out, conversations.info answered per channel by the fake Slack Web API.

Where the card is redacted, none of the incident's names may leave the bot: every string of the
fixture that names a person, host, address, file or comment (the hostile incident's included) is
looked for in the unfurl payload, as is, JSON-escaped and mrkdwn-escaped.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.blocks.ids import ActionId
from tests.listeners.conftest import SlackWorld, portal_link
from tests.listeners.test_events import link_event
from tests.policy.conftest import BROKEN, OUTSIDER, fixture_strings, leaks

FULL, REDACTED = "full", "redacted"
WHERE = [
    ("C0PRIV", FULL),
    ("C0PUBLIC", REDACTED),
    ("C0PARTNER", REDACTED),
    ("D0DM", FULL),
    ("G0GROUPDM", FULL),
    (BROKEN, REDACTED),
]
INCIDENTS = ["2972395", "666"]


async def unfurl_in(world: SlackWorld, channel: str, incident_id: str, **event: Any) -> dict[str, Any]:
    await world.event(link_event([portal_link(incident_id)], event_id=f"Ev{channel}{incident_id}",
                                 channel=channel, **event))  # fmt: skip
    [call] = await world.slack.wait_for("chat.unfurl")
    await world.settle()
    return dict(call.args)


def actions_of(unfurl: dict[str, Any]) -> list[str]:
    [card] = unfurl["unfurls"].values()
    return [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("incident_id", INCIDENTS)
@pytest.mark.parametrize(("channel", "detail"), WHERE)
async def test_an_unfurl_shows_what_the_conversation_may_see(
    world: SlackWorld, channel: str, detail: str, incident_id: str
) -> None:
    unfurl = await unfurl_in(world, channel, incident_id)
    found = leaks(unfurl, fixture_strings(incident_id))
    if detail == REDACTED:
        assert found == []
        assert ActionId.SHOW_DETAILS.value in actions_of(unfurl)
        assert ActionId.RESOLVE.value not in json.dumps(unfurl)  # no write buttons on a redacted card
    else:
        assert found, "a full card shows the incident's title, assignee and evidence"
        assert ActionId.SHOW_DETAILS.value not in actions_of(unfurl)
    assert [c.args["channel"] for c in world.slack.calls_to("conversations.info")] == [channel]


async def test_a_composer_preview_gets_the_strictest_kind(world: SlackWorld) -> None:
    unfurl = await unfurl_in(world, "COMPOSER", "2972395", source="composer", unfurl_id="C0PRIV.abc",
                             message_ts="")  # fmt: skip
    assert leaks(unfurl, fixture_strings("2972395")) == []
    assert world.slack.calls_to("conversations.info") == []  # Slack does not say where it goes


async def test_none_in_a_shared_channel_unfurls_nothing(start_world: Any) -> None:
    world = await start_world(unfurl_detail="shared=none")
    await world.event(link_event([portal_link("2972395")], event_id="EvNONE", channel="C0PARTNER"))
    await world.settle()
    assert world.slack.calls_to("chat.unfurl") == []
    assert world.api.count(path_contains="/security/incidents/") == 0  # nothing read for nothing shown


async def test_the_title_is_shown_on_a_redacted_card_only_when_the_deployment_says_so(
    start_world: Any,
) -> None:
    world = await start_world(unfurl_redacted_title="show")
    unfurl = await unfurl_in(world, "C0PUBLIC", "2972395")
    text = json.dumps(unfurl)
    assert "Multi-stage incident involving Initial access" in text
    assert "KaiC@contoso" not in text and "wkstn-0042" not in text.lower()


async def test_a_storm_of_links_in_one_channel_asks_slack_once(world: SlackWorld) -> None:
    for n in range(30):
        await world.event(link_event([portal_link("2972395")], event_id=f"EvSTORM{n}", channel="C0PUBLIC",
                                     message_ts=f"1700000000.{n:06d}"))  # fmt: skip
    await world.settle()
    assert len(world.slack.calls_to("chat.unfurl")) == 30
    assert len(world.slack.calls_to("conversations.info")) == 1


@pytest.mark.parametrize("sharer", [OUTSIDER, "U0NOBODY"])
async def test_a_link_shared_by_someone_of_another_organisation_or_unknown_is_redacted(
    world: SlackWorld, sharer: str
) -> None:
    unfurl = await unfurl_in(world, "C0PRIV", "2972395", user=sharer)
    assert leaks(unfurl, fixture_strings("2972395")) == []
    assert [c.args["user"] for c in world.slack.calls_to("users.info")] == [sharer]
