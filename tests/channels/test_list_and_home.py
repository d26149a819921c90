"""`/incident list` pages and App Home through the running bot, and reminders in subscribed threads."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.blocks.ids import ActionId, BlockId
from tests.channels.conftest import POLL, create_incident
from tests.channels.test_subscriptions import posts, replies, subscribe
from tests.listeners.conftest import SlackWorld, slack_payload
from tests.world import wait_until

JANE = "jane@contoso.com"  # U0WRITER's Slack e-mail


async def list_page(world: SlackWorld, text: str, *, user: str = "U0WRITER", name: str = "list") -> Any:
    await world.sender.command(f"list {text}".strip(), world.slack.response_url(name), user_id=user)
    [answer] = await world.slack.wait_for(f"response_url:{name}")
    return answer


def row_ids(blocks: list[dict[str, Any]]) -> list[str]:
    """The incidents of a page, by their Show buttons' sealed values."""
    from tests.listeners.conftest import SEAL

    return [SEAL.open(b["accessory"]["value"]).id for b in blocks
            if b.get("accessory", {}).get("action_id") == ActionId.LIST_SHOW]  # fmt: skip


def list_requests(world: SlackWorld) -> int:
    return sum(1 for r in world.api.requests if r.method == "GET" and r.path.endswith("/security/incidents"))


async def test_mine_lists_the_incidents_assigned_to_my_slack_email(world: SlackWorld) -> None:
    create_incident(world.api, "9200001", assignedTo=JANE)
    create_incident(world.api, "9200002", assignedTo=JANE.upper())
    create_incident(world.api, "9200003", assignedTo="someone@contoso.com")
    answer = await list_page(world, "mine")
    assert answer.args["response_type"] == "ephemeral"
    assert sorted(row_ids(answer.args["blocks"])) == ["9200001", "9200002"]
    assert "Read from Defender" in json.dumps(answer.args["blocks"])


async def test_mine_without_an_email_says_why(world: SlackWorld) -> None:
    world.slack.users["U0NOMAIL"] = {"id": "U0NOMAIL", "name": "x", "profile": {"real_name": "No Mail"}}
    answer = await list_page(world, "mine", user="U0NOMAIL")
    assert "no e-mail" in answer.args["text"]
    assert list_requests(world) == 0


async def test_pages_of_ten_forward_and_back(world: SlackWorld) -> None:
    for n in range(25):
        create_incident(world.api, f"93000{n:02d}", customTags=["PAGE"])
    first = await list_page(world, "tag=PAGE")
    assert len(row_ids(first.args["blocks"])) == 10
    read = list_requests(world)  # one listing, however many pages of the API it took

    async def turn(page: Any, action: ActionId, name: str) -> Any:
        [nav] = [b for b in page.args["blocks"] if b.get("block_id") == BlockId.LIST_NAV]
        [button] = [e for e in nav["elements"] if e["action_id"] == action]
        payload = copy.deepcopy(slack_payload("block_actions_ephemeral"))
        payload["actions"] = [{**button, "block_id": nav["block_id"], "action_ts": "1700000200.000001"}]
        payload["response_url"] = world.slack.response_url(name)
        await world.interact(payload)
        [answer] = await world.slack.wait_for(f"response_url:{name}")
        return answer

    second = await turn(first, ActionId.LIST_PAGE, "p2")
    assert second.args["replace_original"] is True
    third = await turn(second, ActionId.LIST_PAGE, "p3")
    assert len(row_ids(third.args["blocks"])) == 5
    back = await turn(third, ActionId.LIST_PAGE_PREVIOUS, "p2again")
    assert row_ids(back.args["blocks"]) == row_ids(second.args["blocks"])
    everything = (
        row_ids(first.args["blocks"]) + row_ids(second.args["blocks"]) + row_ids(third.args["blocks"])
    )
    assert sorted(everything) == [f"93000{n:02d}" for n in range(25)]
    assert list_requests(world) == read  # the pages share that listing (30 s)


async def test_a_429_on_the_list_says_to_wait_and_keeps_the_page(world: SlackWorld) -> None:
    # every listing answers 429 (the bot's own readiness listing of one included)
    world.api.fail_next(429, count=None, retry_after=120, path_contains="/security/incidents", method="GET")
    answer = await list_page(world, "high")
    world.api.stop_failing()
    assert "asks the bot to wait" in answer.args["text"] and "your page stays" in answer.args["text"]
    assert answer.args["replace_original"] is False


def home_opened(user: str, n: int) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token", "team_id": "T0001", "api_app_id": "A0BOT",
        "type": "event_callback", "event_id": f"Ev0HOME{n:04d}", "event_time": 1700000000,
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                  "event_ts": "1700000000.000100"},
    }  # fmt: skip


async def test_app_home_opened_twice_within_a_minute_is_one_listing(world: SlackWorld) -> None:
    create_incident(world.api, "9400001", assignedTo=JANE, severity="high")
    create_incident(world.api, "9400002", severity="high")
    await world.event(home_opened("U0WRITER", 1))
    [published] = await world.slack.wait_for("views.publish")
    read = list_requests(world)
    await world.event(home_opened("U0WRITER", 2))
    await world.settle()
    assert len(world.slack.calls_to("views.publish")) == 1
    assert list_requests(world) == read
    view = json.dumps(published.args["view"])
    assert "Assigned to me" in view and "9400001" in view and "9400002" in view
    assert published.args["user_id"] == "U0WRITER"


async def test_an_unassigned_high_incident_is_reminded_once_per_period_and_not_once_assigned(
    start_world: Any,
) -> None:
    world: SlackWorld = await start_world(live_poll_seconds=POLL)
    await subscribe(world, "C0HIGH", "severity>=high remind=30m")
    create_incident(world.api, "9500001", severity="high")
    await wait_until(lambda: len(posts(world)) == 1, within=10)
    await world.settle()
    watcher = world.bot.watcher
    watcher.clock = lambda: datetime.now(UTC) + timedelta(minutes=31)
    await wait_until(lambda: len(replies(world)) == 1, within=10)
    await asyncio.sleep(3 * POLL)
    await world.settle()
    [reminder] = replies(world)
    assert "still unassigned after 30 min" in reminder.args["text"]
    world.api.change("v1.0", "9500001", assignedTo="kai@contoso.com")
    watcher.clock = lambda: datetime.now(UTC) + timedelta(minutes=62)
    await asyncio.sleep(4 * POLL)
    await world.settle()
    assert len(replies(world)) == 1  # assigned: no second reminder


@pytest.mark.parametrize("quiet", ["00:00-23:59"])
async def test_no_reminder_in_quiet_hours(start_world: Any, quiet: str) -> None:
    world: SlackWorld = await start_world(live_poll_seconds=POLL, quiet_hours=quiet)
    await subscribe(world, "C0HIGH", "severity>=high remind=30m")
    create_incident(world.api, "9500002", severity="high")
    await wait_until(lambda: len(posts(world)) == 1, within=10)
    world.bot.watcher.clock = lambda: datetime.now(UTC) + timedelta(minutes=31)
    await asyncio.sleep(3 * POLL)
    await world.settle()
    assert replies(world) == []
