"""Two replicas on Redis and PostgreSQL keep one per-channel pace between them: Slack counts
chat.postMessage per app and channel, whichever replica sends it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.channels.conftest import POLL, create_incident
from tests.channels.test_subscriptions import incident_of, posts, subscribe
from tests.listeners.conftest import SlackWorld
from tests.listeners.test_ingress import metrics_page
from tests.world import metric, wait_until


async def test_posts_into_one_channel_from_two_replicas_keep_one_pace(
    start_world: Any, redis_url: str, postgres_url: str
) -> None:
    shared = {"cache_url": redis_url, "database_url": postgres_url, "live_poll_seconds": POLL}
    # one job at a time each, so that both replicas take route jobs from the stream
    one: SlackWorld = await start_world(**shared, intake_concurrency=1)
    two: SlackWorld = await start_world(**shared, intake_concurrency=1)
    assert (await subscribe(one, "C0HIGH", "severity>=high")).startswith("Subscribed (#1)")
    high = [str(9200100 + n) for n in range(10)]
    for incident_id in high:
        create_incident(one.api, incident_id, severity="high")
    await wait_until(lambda: len(posts(one, "C0HIGH")) >= len(high), within=30)
    await asyncio.sleep(2 * POLL)
    await one.settle()
    await two.settle()
    busy = posts(one, "C0HIGH")
    assert sorted(incident_of(c) for c in busy) == high  # each once
    routed = [
        metric(await metrics_page(world), "incident_bot_jobs_total", kind="route", outcome="done")
        for world in (one, two)
    ]
    assert all(count > 0 for count in routed), routed  # both replicas posted
    # 4 at once, then one a second for the channel as a whole (per replica: 8 at once)
    times = sorted(c.time for c in busy)
    late = [round(when - times[0], 2) for when in times]
    assert all(late[k] >= k - 3 - 0.5 for k in range(4, len(times))), late
    waited = [
        metric(await metrics_page(world), "incident_bot_slack_pace_wait_seconds_total", pace="channel")
        for world in (one, two)
    ]
    assert sum(waited) > 0, waited
