"""Slack surfaces benchmark: /incident ack latency, unfurl fan-in, warm throughput.

Run from the repository root: `python -m benchmarks.slack_surfaces`. The bot runs as its own
process (`python -m bot`, HTTP mode); the fakes and the load generator share this process.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from benchmarks.harness import World, as_ms, median, percentile, table, world
from tests.fakes import TENANT_ID
from tests.world import SlackSender, link_shared

PORTAL = "https://security.microsoft.com"


def link(incident_id: str, tab: str | None = None) -> str:
    path = f"/incident2/{incident_id}/{tab}" if tab else f"/incidents/{incident_id}"
    return f"{PORTAL}{path}?tid={TENANT_ID}"


async def ack_latency(w: World, sender: SlackSender, requests: int, concurrency: int) -> list[float]:
    """(a) /incident acks while the API answers slowly in the background."""
    ids = w.add_copies(50, first_id=8_000_000)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(n: int) -> None:
        async with gate:
            answer = await sender.command(ids[n % len(ids)], w.slack.response_url(f"ack{n}"))
            assert answer.status == 200, answer
            latencies.append(answer.elapsed)

    await asyncio.gather(*(one(n) for n in range(requests)))
    await w.slack.wait_for("response_url:ack0", timeout=60)
    return latencies


async def fan_in(w: World, sender: SlackSender, rounds: int) -> tuple[list[int], list[float]]:
    """(b) one message with 5 links to 3 distinct (uncached) incidents."""
    counts, delays = [], []
    for r in range(rounds):
        a, b, c = w.add_copies(3, first_id=7_000_000 + 10 * r)
        urls = [link(a), link(a, "overview"), link(b), link(c, "alerts"), link(a, "evidence")]
        before = {i: w.api.count("GET", f"/security/incidents/{i}") for i in (a, b, c)}
        seen = len(w.slack.calls_to("chat.unfurl"))
        started = time.monotonic()
        answer = await sender.event(link_shared(urls, event_id=f"EvFAN{r}", message_ts=f"1700000001.{r:06d}"))
        assert answer.status == 200
        calls = await w.slack.wait_for("chat.unfurl", count=seen + 1, timeout=30)
        delays.append(calls[seen].time - started)
        counts.append(sum(w.api.count("GET", f"/security/incidents/{i}") - before[i] for i in (a, b, c)))
    return counts, delays


async def warm_throughput(
    w: World, sender: SlackSender, events: int, concurrency: int
) -> tuple[float, list[float]]:
    """(c) link_shared events for a cached incident: acks per second and event→chat.unfurl."""
    incident = w.add_copies(1, first_id=6_000_000)[0]
    await sender.event(link_shared([link(incident)], event_id="EvWARM", message_ts="1700000002.000000"))
    seen = len(w.slack.calls_to("chat.unfurl"))
    await w.slack.wait_for("chat.unfurl", count=seen, timeout=30)
    gate = asyncio.Semaphore(concurrency)
    sent_at: dict[str, float] = {}

    async def one(n: int) -> None:
        ts = f"1700000003.{n:06d}"
        async with gate:
            sent_at[ts] = time.monotonic()
            answer = await sender.event(link_shared([link(incident)], event_id=f"EvW{n}", message_ts=ts))
            assert answer.status == 200

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(events)))
    elapsed = time.perf_counter() - started
    calls = await w.slack.wait_for("chat.unfurl", count=seen + events, timeout=60)
    delays = [c.time - sent_at[c.args["ts"]] for c in calls if c.args.get("ts") in sent_at]
    return events / elapsed, delays


async def paced_latency(w: World, sender: SlackSender, events: int, per_second: float) -> list[float]:
    """(c) event → chat.unfurl for a cached incident when events arrive at a steady pace (no backlog)."""
    incident = w.add_copies(1, first_id=5_000_000)[0]
    seen = len(w.slack.calls_to("chat.unfurl"))
    await sender.event(link_shared([link(incident)], event_id="EvPWARM", message_ts="1700000005.000000"))
    seen += 1
    await w.slack.wait_for("chat.unfurl", count=seen, timeout=30)
    sent_at: dict[str, float] = {}
    for n in range(events):
        ts = f"1700000004.{n:06d}"
        sent_at[ts] = time.monotonic()
        await sender.event(link_shared([link(incident)], event_id=f"EvP{n}", message_ts=ts))
        await asyncio.sleep(1 / per_second)
    calls = await w.slack.wait_for("chat.unfurl", count=seen + events, timeout=60)
    return [c.time - sent_at[c.args["ts"]] for c in calls[seen:] if c.args.get("ts") in sent_at]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    async with world(api_latency=0.4) as w:
        bot = await w.start_bot()
        try:
            async with aiohttp.ClientSession() as http:
                sender = SlackSender(http, bot.url)
                # warm the token and the connection pool, as a running bot would be
                await sender.command("2972395", w.slack.response_url("warmup"))
                await w.slack.wait_for("response_url:warmup", timeout=30)
                acks = await ack_latency(w, sender, args.requests, args.concurrency)
                counts, fan_delays = await fan_in(w, sender, rounds=5)
                rate, warm_delays = await warm_throughput(w, sender, args.events, args.concurrency)
                paced = await paced_latency(w, sender, 200, per_second=50)
        finally:
            rss = bot.peak_rss_mb()
            await bot.terminate()
    print(
        f"fake API latency 400 ms; {args.requests} /incident at concurrency {args.concurrency}; "
        f"{args.events} warm link_shared events; bot peak RSS {rss:.0f} MB\n"
    )
    print(
        table(
            [
                ("(a) /incident ack p50", "—", as_ms(median(acks)), None),
                (
                    "(a) /incident ack p99",
                    "< 100 ms",
                    as_ms(percentile(acks, 99)),
                    percentile(acks, 99) < 0.1,
                ),
                (
                    "(b) API reads for 5 links / 3 incidents",
                    "3",
                    ", ".join(map(str, counts)),
                    set(counts) == {3},
                ),
                (
                    "(b) event → chat.unfurl (median of 5)",
                    "< 450 ms (400 ms + 50 ms)",
                    as_ms(median(fan_delays)),
                    median(fan_delays) < 0.45,
                ),
                ("(c) warm link_shared acks per second", "—", f"{rate:.0f}/s", None),
                ("(c) warm event → chat.unfurl p50, 50 events/s", "—", as_ms(median(paced)), None),
                ("(c) warm event → chat.unfurl p99, 50 events/s", "—", as_ms(percentile(paced, 99)), None),
                (
                    f"(c) warm event → chat.unfurl p50, burst of {args.events}",
                    "—",
                    as_ms(median(warm_delays)),
                    None,
                ),
                (
                    f"(c) warm event → chat.unfurl p99, burst of {args.events}",
                    "—",
                    as_ms(percentile(warm_delays, 99)),
                    None,
                ),
            ]
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
