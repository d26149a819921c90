"""Slack paces across replicas: what one shared pace costs, and what Slack would see without it.

Three "replicas" (each a pace object with a Redis client of its own, in one process, against a
private redis-server on loopback) post into one channel at CHANNEL_POSTS_PER_MINUTE, 4 at once:
(a) the rate Slack sees, per-replica paces (the baseline, KeyedPaces) against shared ones
(RedisPaces); (b) the cost of one take on Redis, p50/p99, against the in-process pace.

    .venv/bin/python -m benchmarks.slack_pace [--per-minute 60] [--posts 30]   # about 30 s
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.harness import as_ms, machine_line, median, percentile, table
from bot.state.pace import KeyedPaces, Paces
from bot.state.pace_redis import RedisPaces
from tests.redis_server import RedisServer

REPLICAS = 3
BURST = 4
CHANNEL = "C0BUSY"


async def spread(paces: list[Paces], posts: int) -> list[float]:
    """Seconds from the start at which each post got its token, the posts dealt round-robin."""
    started = time.monotonic()
    times: list[float] = []

    async def post(pace: Paces) -> None:
        await pace(CHANNEL).wait()
        times.append(time.monotonic() - started)

    await asyncio.gather(*(post(paces[n % len(paces)]) for n in range(posts)))
    return sorted(times)


def busiest_second(times: list[float]) -> int:
    """The most posts within any one second (what Slack's 'one a second per channel' judges)."""
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def take_costs(pace: Paces, count: int) -> list[float]:
    costs = []
    for n in range(count):
        began = time.perf_counter()
        await pace(f"C{n}").take(within=0)  # a key each: never a wait, only the take
        costs.append(time.perf_counter() - began)
    return costs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-minute", type=float, default=60.0, help="the channel's pace (default's)")
    parser.add_argument("--posts", type=int, default=30, help="posts into the one channel")
    parser.add_argument("--takes", type=int, default=2000, help="takes timed for (b)")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on PATH")
    rate = args.per_minute / 60.0
    bound = (args.posts - BURST) / rate  # the pace's own bound for the last post

    server = RedisServer(Path(tempfile.mkdtemp(prefix="incident-bot-pace-bench-")))
    await server.start()
    clients = [Redis.from_url(server.url()) for _ in range(REPLICAS)]
    try:
        local: list[Paces] = [KeyedPaces(args.per_minute, burst=BURST) for _ in range(REPLICAS)]
        shared: list[Paces] = [
            RedisPaces(client, "channel", args.per_minute, burst=BURST) for client in clients
        ]
        local_times = await spread(local, args.posts)
        shared_times = await spread(shared, args.posts)
        redis_costs = await take_costs(RedisPaces(clients[0], "bench", 1e9, burst=1), args.takes)
        memory_costs = await take_costs(KeyedPaces(1e9, burst=1), args.takes)
    finally:
        for client in clients:
            await client.aclose()
        await server.stop()

    most = BURST + round(rate)  # the burst, then the pace's own within the first second
    rows = [
        (
            "(a) per-replica paces (baseline): last post; busiest second",
            "—",
            f"{local_times[-1]:.2f} s; {busiest_second(local_times)} posts",
            None,
        ),
        (
            "(a) shared pace: last post (the pace's bound); busiest second",
            f"≥ {bound:.2f} s; ≤ {most}",
            f"{shared_times[-1]:.2f} s; {busiest_second(shared_times)} posts",
            shared_times[-1] >= bound * 0.95 and busiest_second(shared_times) <= most,
        ),
        (
            "(b) one take, Redis p50 / p99",
            "—",
            f"{as_ms(median(redis_costs))} / {as_ms(percentile(redis_costs, 99))}",
            None,
        ),
        (
            "(b) one take, in process p50 / p99",
            "—",
            f"{median(memory_costs) * 1e6:.1f} µs / {percentile(memory_costs, 99) * 1e6:.1f} µs",
            None,
        ),
    ]
    print(
        f"{machine_line()}\n"
        f"{REPLICAS} replicas, {args.posts} posts into one channel at {args.per_minute:g} a minute after a "
        f"burst of {BURST}; {args.takes} takes timed\n"
    )
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
