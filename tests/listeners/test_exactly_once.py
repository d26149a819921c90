"""Exactly once: a view submitted twice, a double click, a re-sent interaction, and two replicas."""

from __future__ import annotations

import asyncio

import pytest

from bot.blocks.ids import ActionId
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_actions import click, writes
from tests.listeners.test_views import comment_values, modal, resolve_values, submission

DOUBLE_CLICK_SECONDS = 5  # bot/slack/listeners/actions.py
# aiocache 0.12's RedisCache calls redis-py's deprecated setex/close; in the bot that is a printed
# warning, under this suite's filterwarnings=error it would fail the job.
REDIS_DEPRECATIONS = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


async def test_the_same_view_submitted_twice_writes_once(world: SlackWorld) -> None:
    payload = submission(await modal(world, "comment"), comment_values("Only once, please."))
    first = await world.interact(payload)
    second = await world.interact(payload)
    assert (first.status, first.text, second.status, second.text) == (200, "", 200, "")
    await world.settle()
    assert [r.method for r in writes(world)] == ["POST"]
    assert len(world.slack.calls_to("chat.update")) == 1


async def test_the_same_view_submitted_twice_at_once_writes_once(world: SlackWorld) -> None:
    world.api.latency = 0.1  # the first write is still in flight when the second arrives
    payload = submission(
        await modal(world, "resolve"), resolve_values("truePositive", "truePositive:malware", "Done.")
    )
    await asyncio.gather(world.interact(payload), world.interact(payload))
    await world.settle()
    assert [r.method for r in writes(world)] == ["PATCH"]


async def test_two_modals_are_two_writes(world: SlackWorld) -> None:
    """The key is the view id: another modal with the same text is another comment."""
    view = await modal(world, "comment")
    await world.interact(submission(view, comment_values("Same text."), view_id="V0VIEW0001"))
    await world.interact(submission(view, comment_values("Same text."), view_id="V0VIEW0002"))
    await world.settle()
    assert [r.method for r in writes(world)] == ["POST", "POST"]


async def test_a_double_click_patches_once(world: SlackWorld) -> None:
    world.api.latency = 0.05
    first = click(world, "message", ActionId.ASSIGN_ME)
    second = click(world, "message", ActionId.ASSIGN_ME)
    assert first["actions"][0]["action_ts"] != second["actions"][0]["action_ts"]
    answers = [await world.interact(first), await world.interact(second)]
    assert [a.status for a in answers] == [200, 200]
    await world.settle()
    assert len(writes(world)) == 1
    assert len(world.slack.calls_to("chat.update")) == 1


async def test_the_same_interaction_sent_twice_writes_once(world: SlackWorld) -> None:
    payload = click(world, "ephemeral", ActionId.ASSIGN_ME)
    await asyncio.gather(world.interact(payload), world.interact(payload))
    await world.interact(payload)
    await world.settle()
    assert len(writes(world)) == 1


async def test_the_same_interaction_after_the_double_click_window_writes_once(world: SlackWorld) -> None:
    """Past the double-click window the click's own key (user, action, action_ts) still holds."""
    payload = click(world, "message", ActionId.ASSIGN_ME)
    await world.interact(payload)
    await world.settle()
    await asyncio.sleep(DOUBLE_CLICK_SECONDS + 0.2)
    await world.interact(payload)
    await world.settle()
    assert len(writes(world)) == 1


@REDIS_DEPRECATIONS
async def test_two_replicas_on_one_redis_write_a_submitted_view_once(
    start_world: WorldFactory, redis_url: str
) -> None:
    one = await start_world(cache_url=redis_url)
    two = await start_world(cache_url=redis_url)
    one.api.latency = 0.1
    payload = submission(await modal(one, "comment"), comment_values("From two replicas."))
    await asyncio.gather(one.interact(payload), two.interact(payload))
    await asyncio.gather(one.settle(), two.settle())
    assert [r.method for r in writes(one)] == ["POST"]
    # and again later, at either replica
    await two.interact(payload)
    await one.interact(payload)
    await asyncio.gather(one.settle(), two.settle())
    assert [r.method for r in writes(one)] == ["POST"]


@REDIS_DEPRECATIONS
async def test_a_double_click_across_two_replicas_patches_once(
    start_world: WorldFactory, redis_url: str
) -> None:
    one = await start_world(cache_url=redis_url)
    two = await start_world(cache_url=redis_url)
    await one.interact(click(one, "message", ActionId.ASSIGN_ME))
    await two.interact(click(two, "message", ActionId.ASSIGN_ME))
    await asyncio.gather(one.settle(), two.settle())
    assert len(writes(one)) == 1
