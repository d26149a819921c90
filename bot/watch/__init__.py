"""Live cards: the watcher that finds changed incidents (one replica at a time) and what it reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.metrics import Metrics
from bot.state.pace import Paces
from bot.watch.watcher import Watcher

__all__ = ["Watcher", "watch_metrics"]


def watch_metrics(
    metrics: Metrics, watcher: Watcher, redrawn: Callable[[], int], *, paces: dict[str, Paces]
) -> None:
    """The watcher in /metrics: polls, changes seen, cards redrawn, lag, whether this replica leads,
    and how long redraws and channel posts waited for Slack's pace."""
    stats = watcher.stats
    metrics.watch(
        "incident_bot_live_polls",
        "Polls for changed incidents",
        lambda: {"": float(stats.polls)},
        kind="counter",
    )
    metrics.watch(
        "incident_bot_live_changes",
        "Changed incidents with live cards, seen by this replica's watcher",
        lambda: {"": float(stats.changes)},
        kind="counter",
    )
    metrics.watch(
        "incident_bot_live_cards_redrawn",
        "Live cards redrawn by this replica",
        lambda: {"": float(redrawn())},
        kind="counter",
    )
    metrics.watch(
        "incident_bot_live_lag_seconds",
        "Now minus the watermark: how far behind Defender the live cards may be",
        lambda: {"": stats.lag_seconds(datetime.now(UTC))},
    )
    metrics.watch(
        "incident_bot_live_leader",
        "1 on the replica that watches",
        lambda: {"": 1.0 if stats.leader else 0.0},
    )
    metrics.watch(
        "incident_bot_slack_pace_wait_seconds",
        "Seconds this replica's Slack calls waited for their pace: per method (live redraws), per "
        "channel (subscription posts and replies)",
        lambda: {name: pace.waited for name, pace in paces.items()},
        kind="counter",
        label="pace",
    )
