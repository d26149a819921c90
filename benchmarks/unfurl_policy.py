"""Unfurl policy benchmark: what learning the kind of a conversation adds to an unfurl.

Run from the repository root: `python -m benchmarks.unfurl_policy`. Two bot processes (HTTP mode)
take the same Slack-signed `link_shared` events against the same loopback fakes, one after the
other: the baseline, a git worktree of `--baseline` (the bot before UNFURL_DETAIL: no
conversations.info), and this tree. For each:

- (a) warm: events for a cached incident in one channel whose kind is already known, at a steady
  pace (no backlog): event → chat.unfurl, p50 and p99;
- (b) cold: the same, each event in a channel never seen (one conversations.info each);
- (c) storm: 100 events at once for one new channel: conversations.info calls (target 1), and the
  same storm again on a second bot sharing the first one's Redis (target 0 more, `--redis`).

The fake Slack Web API answers at once: (b) is a loopback round trip, not Slack's own latency.
With `--redis`, pass `--database postgresql://…` too (replicas share it; use scratch databases).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from benchmarks.harness import World, as_ms, median, percentile, table, world
from tests.fakes import TENANT_ID
from tests.world import BotProcess, SlackSender, link_shared

PORTAL = "https://security.microsoft.com"
BASELINE = "dd6ffee"  # main before the unfurl policy: every unfurl full, no conversations.info
ROOT = Path(__file__).resolve().parent.parent


def link(incident_id: str) -> str:
    return f"{PORTAL}/incidents/{incident_id}?tid={TENANT_ID}"


def event(incident_id: str, name: str, channel: str, ts: str) -> dict[str, object]:
    body = link_shared([link(incident_id)], event_id=name, message_ts=ts)
    body["event"]["channel"] = channel  # type: ignore[index]
    return body


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[str]:
    """A temporary git worktree of `revision` (removed afterwards)."""
    folder = tempfile.mkdtemp(prefix="incident-bot-baseline-")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", folder, revision],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", folder], capture_output=True)


async def paced(
    w: World, sender: SlackSender, incident: str, channels: list[str], per_second: float, tag: str
) -> list[float]:
    """event → chat.unfurl for each event, one event per channel of `channels`, at a steady pace."""
    seen = len(w.slack.calls_to("chat.unfurl"))
    sent_at: dict[str, float] = {}
    for n, channel in enumerate(channels):
        ts = f"17000{tag}.{n:06d}"
        sent_at[ts] = time.monotonic()
        answer = await sender.event(event(incident, f"Ev{tag}{n}", channel, ts))
        assert answer.status == 200, answer
        await asyncio.sleep(1 / per_second)
    calls = await w.slack.wait_for("chat.unfurl", count=seen + len(channels), timeout=60)
    return [c.time - sent_at[c.args["ts"]] for c in calls[seen:] if c.args.get("ts") in sent_at]


async def storm(w: World, sender: SlackSender, incident: str, channel: str, tag: str, events: int) -> int:
    """`events` link_shared at once in one channel; conversations.info calls made for it."""
    seen = len(w.slack.calls_to("chat.unfurl"))
    answers = await asyncio.gather(
        *(sender.event(event(incident, f"Ev{tag}{n}", channel, f"17001{tag}.{n:06d}")) for n in range(events))
    )
    assert all(a.status == 200 for a in answers)
    await w.slack.wait_for("chat.unfurl", count=seen + events, timeout=60)
    return sum(1 for c in w.slack.calls_to("conversations.info") if c.args.get("channel") == channel)


async def measure(
    w: World, bot: BotProcess, incident: str, events: int, tag: str
) -> dict[str, list[float] | int]:
    # The fake's wait_for scans every call it recorded: each bot starts from an empty record, so the
    # one measured second is not slowed by the first one's calls.
    w.slack.calls.clear()
    async with aiohttp.ClientSession() as http:
        sender = SlackSender(http, bot.url)
        # warm the token, the cache and the known channel, as a running bot would be
        await sender.event(event(incident, f"EvWARM{tag}", "C0WARM", f"17002{tag}.000000"))
        await w.slack.wait_for("chat.unfurl", count=len(w.slack.calls_to("chat.unfurl")), timeout=30)
        await asyncio.sleep(0.5)
        warm = await paced(w, sender, incident, ["C0WARM"] * events, 50, f"{tag}1")
        cold = await paced(w, sender, incident, [f"C0{tag}COLD{n:04d}" for n in range(events)], 50, f"{tag}2")
        lookups = await storm(w, sender, incident, f"C0{tag}STORM", f"{tag}3", 100)
    return {"warm": warm, "cold": cold, "storm": lookups}


async def replica_storms(w: World, incident: str, env: dict[str, str]) -> tuple[int, int]:
    """The storm on one replica, then on a second one sharing its Redis: lookups made by each."""
    counts = []
    for replica in range(2):
        before = len(w.slack.calls_to("conversations.info"))
        bot = await w.start_bot(**env)
        try:
            async with aiohttp.ClientSession() as http:
                await storm(w, SlackSender(http, bot.url), incident, "C0REDISSTORM", f"{7 + replica}", 100)
        finally:
            await bot.terminate()
        counts.append(len(w.slack.calls_to("conversations.info")) - before)
    return counts[0], counts[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300, help="events per paced series")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline bot")
    parser.add_argument("--redis", default=None, help="redis://… for the two-replica storm (a scratch db)")
    parser.add_argument("--database", default=None, help="postgresql://… the replicas share (with --redis)")
    args = parser.parse_args()
    if args.redis and not args.database:
        parser.error("--redis needs --database postgresql://…: replicas cannot share a SQLite file")
    results: dict[str, dict[str, list[float] | int]] = {}
    shared: tuple[int, int] | None = None
    async with world(api_latency=0.05) as w:
        incident = w.add_copies(1, first_id=4_400_000)[0]
        with worktree(args.baseline) as folder:
            bot = await w.start_bot(cwd=str(folder))
            try:
                results["baseline"] = await measure(w, bot, incident, args.events, "1")
            finally:
                await bot.terminate()
        bot = await w.start_bot()
        try:
            results["policy"] = await measure(w, bot, incident, args.events, "2")
        finally:
            await bot.terminate()
        if args.redis:
            shared = await replica_storms(
                w, incident, {"CACHE_URL": args.redis, "DATABASE_URL": args.database}
            )
    base, now = results["baseline"], results["policy"]
    assert isinstance(base["warm"], list) and isinstance(now["warm"], list) and isinstance(now["cold"], list)
    assert isinstance(base["cold"], list)
    added = median(now["warm"]) - median(base["warm"])
    rows = [
        ("(a) warm: event → chat.unfurl p50, baseline", "—", as_ms(median(base["warm"])), None),
        ("(a) warm: event → chat.unfurl p50, with the policy", "—", as_ms(median(now["warm"])), None),
        ("(a) warm: added p50", "≤ 2 ms", as_ms(added), added <= 0.002),
        ("(a) warm: p99 baseline / policy", "—",
         f"{as_ms(percentile(base['warm'], 99))} / {as_ms(percentile(now['warm'], 99))}", None),
        ("(b) cold (new channel each): p50 baseline / policy", "—",
         f"{as_ms(median(base['cold']))} / {as_ms(median(now['cold']))}", None),
        ("(b) cold: added p50", "one conversations.info",
         as_ms(median(now["cold"]) - median(base["cold"])), None),
        ("(c) conversations.info, 100-event storm in one new channel", "≤ 1", str(now["storm"]),
         now["storm"] == 1),
    ]  # fmt: skip
    if shared is not None:
        first, second = shared
        rows.append(("(c) the storm on replica 1 of 2 on one Redis", "≤ 1", str(first), first == 1))
        rows.append(("(c) then the same on replica 2", "0", str(second), second == 0))
    print(f"fake API latency 50 ms; {args.events} paced events per series (50/s); baseline {args.baseline}\n")
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
