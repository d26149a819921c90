"""A replica SIGKILLed after acking: a survivor finishes its work, and every effect happens once.

In each test the first replica runs alone until it has taken the work (its entries are pending
under its consumer and its API calls are held at the fake), then the survivor starts, then the
first replica is SIGKILLed and the held requests are let go (for the dead replica they are
already abandoned). The survivor's janitor claims the entries once they are idle for
INTAKE_CLAIM_IDLE_SECONDS (3 s here).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from benchmarks.harness import World
from bot.blocks.ids import ActionId, BlockId, CallbackId
from bot.blocks.refs import IncidentRef
from bot.blocks.seal import CardSeal
from tests.durability.conftest import (
    StartReplicas,
    incident_gets,
    pending,
    portal_link,
    sender,
    slow_api,
    unfurl_counts,
    wait_until,
)
from tests.world import CHANNEL, SIGNING_SECRET, link_shared

SPEC_RECOVERY_SECONDS = 15.0
SLACK_DATA = Path(__file__).parent.parent / "data" / "slack"
SIGNATURE = "— Jane Doe (jane@contoso.com) via Slack"
CARD_TS = "1700000200.000100"


async def test_unfurls_acked_by_a_killed_replica_are_done_by_the_survivor_once(
    world: World, start_replicas: StartReplicas, redis_client: aioredis.Redis, http: aiohttp.ClientSession
) -> None:
    api = slow_api(world)
    ids = world.add_copies(10, first_id=9_100_000)
    (doomed,) = await start_replicas(1)
    api.get_hold = 60.0
    to_doomed = sender(http, doomed)
    for n, incident_id in enumerate(ids):
        event = link_shared(
            [portal_link(incident_id)], event_id=f"EvKILL{n}", message_ts=f"1700000100.{n:06d}"
        )
        assert (await to_doomed.event(event)).status == 200
    # the doomed replica works all ten: each fetch is held at the API, each entry pending under it
    await wait_until(lambda: all(incident_gets(api, i) == 1 for i in ids))
    taken = await pending(redis_client)
    assert len(taken) == 10
    assert all(p.consumer.startswith(doomed.consumer_prefix) for p in taken)

    (survivor,) = await start_replicas(1)
    await doomed.kill()
    killed = time.monotonic()
    await wait_until(lambda: len(api.abandoned) == 10, within=5)  # the fake saw it hang up
    api.get_hold = 0.0

    calls = await world.slack.wait_for("chat.unfurl", count=10, timeout=SPEC_RECOVERY_SECONDS + 10)
    recovery = max(call.time for call in calls) - killed
    assert recovery < SPEC_RECOVERY_SECONDS, f"last unfurl {recovery:.1f} s after the SIGKILL"
    await wait_until(lambda: _nothing_pending(redis_client))
    counts = unfurl_counts(world.slack)
    assert counts == {f"1700000100.{n:06d}": 1 for n in range(10)}
    for call, incident_id in zip(sorted(calls, key=lambda c: c.args["ts"]), ids, strict=True):
        assert list(call.args["unfurls"]) == [portal_link(incident_id)]
        assert "did not answer" not in json.dumps(call.args["unfurls"])
    # the dead replica's fetches were abandoned; the survivor fetched each incident once more
    assert sorted(api.abandoned) == sorted(f"GET /v1.0/security/incidents/{i}" for i in ids)
    assert all(incident_gets(api, i) == 2 for i in ids)
    assert "taking over job" in survivor.log()


async def test_recovery_bound_holds_with_the_default_api_deadline(
    world: World, start_replicas: StartReplicas, http: aiohttp.ClientSession
) -> None:
    api = slow_api(world)
    (incident_id,) = world.add_copies(1, first_id=9_150_000)
    (doomed,) = await start_replicas(1, INCIDENT_API_DEADLINE="20")
    api.get_hold = 60.0
    event = link_shared([portal_link(incident_id)], event_id="EvDEADLINE", message_ts="1700000150.000001")
    assert (await sender(http, doomed).event(event)).status == 200
    await wait_until(lambda: incident_gets(api, incident_id) == 1)
    await start_replicas(1, INCIDENT_API_DEADLINE="20")
    await doomed.kill()
    await wait_until(lambda: len(api.abandoned) == 1, within=5)
    api.get_hold = 0.0
    await world.slack.wait_for("chat.unfurl", count=1, timeout=SPEC_RECOVERY_SECONDS)


# ---- a comment whose API call was in flight ------------------------------------------------------


def comment_submission(incident_id: str, text: str, view_id: str) -> dict[str, Any]:
    """The view_submission of the comment modal on a channel card, as Slack sends it."""
    payload: dict[str, Any] = copy.deepcopy(json.loads((SLACK_DATA / "view_submission.json").read_text()))
    ref = IncidentRef(id=incident_id, channel=CHANNEL, ts=CARD_TS)
    values = {
        BlockId.COMMENT_INPUT.value: {
            ActionId.COMMENT_TEXT.value: {"type": "plain_text_input", "value": text}
        }
    }
    payload["view"].update(
        id=view_id,
        root_view_id=view_id,
        callback_id=CallbackId.COMMENT_MODAL.value,
        private_metadata=CardSeal(SIGNING_SECRET).value(ref),
        state={"values": values},
    )
    return payload


def stored_comments(world: World, incident_id: str, text: str) -> list[str]:
    incident = world.api.get("v1.0", incident_id) or {}
    return [c["comment"] for c in incident.get("comments") or [] if c["comment"].startswith(text)]


def comment_posts(world: World, incident_id: str) -> int:
    return world.api.count("POST", f"/incidents/{incident_id}/comments")


@pytest.mark.parametrize(
    "held",
    [
        pytest.param("before-write", id="killed-before-the-api-wrote"),
        pytest.param("after-write", id="killed-after-the-api-wrote"),
    ],
)
async def test_a_comment_acked_by_a_killed_replica_is_written_exactly_once(
    held: str,
    world: World,
    start_replicas: StartReplicas,
    redis_client: aioredis.Redis,
    http: aiohttp.ClientSession,
) -> None:
    """before-write: the dead replica's POST never lands; the survivor writes the comment.
    after-write: the API saved it but the answer never came back; the survivor (a redelivery)
    sees the comment on the incident and does not post it again."""
    api = slow_api(world)
    (incident_id,) = world.add_copies(1, first_id=9_200_000)
    text = f"Isolated the host ({held})."
    (doomed,) = await start_replicas(1)
    if held == "before-write":
        api.comment_hold = 60.0
    else:
        api.answer_hold = 60.0
    answer = await sender(http, doomed).interact(comment_submission(incident_id, text, "V0DURABLE1"))
    assert answer.status == 200
    assert answer.text == ""  # acked: Slack closes the modal
    await wait_until(lambda: comment_posts(world, incident_id) == 1)

    (survivor,) = await start_replicas(1)
    await doomed.kill()
    await wait_until(lambda: len(api.abandoned) == 1, within=5)
    api.comment_hold = api.answer_hold = 0.0

    updates = await world.slack.wait_for("chat.update", count=1, timeout=30)
    await wait_until(lambda: _nothing_pending(redis_client))
    assert stored_comments(world, incident_id, text) == [f"{text}\n\n{SIGNATURE}"]
    assert updates[0].args["channel"] == CHANNEL and updates[0].args["ts"] == CARD_TS
    if held == "before-write":
        assert api.abandoned == [f"POST /v1.0/security/incidents/{incident_id}/comments (not written)"]
        assert comment_posts(world, incident_id) == 2  # the lost one, and the survivor's
    else:
        assert api.abandoned == [
            f"POST /v1.0/security/incidents/{incident_id}/comments (written, not answered)"
        ]
        assert comment_posts(world, incident_id) == 1  # the survivor saw the comment and did not post
    assert "taking over job" in survivor.log()
    assert len(world.slack.calls_to("chat.update")) == 1


async def _nothing_pending(client: aioredis.Redis) -> bool:
    return not await pending(client)
