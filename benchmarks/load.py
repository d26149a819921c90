"""Load: two replicas on one Redis, 1,000 link_shared events over 50 incidents, each delivered twice.

Run from the repository root: `python -m benchmarks.load`. The replicas are `python -m bot` child
processes (HTTP mode) sharing a redis-server that this script starts on a free port of 127.0.0.1
and stops at the end (`--redis-url redis://127.0.0.1:6379/14` uses an existing one instead: give
it a scratch database, the run leaves its stream and keys there). The fakes (Entra, the incident
API answering after 200 ms, Slack) and the load generator share this process.

Events come in bursts (10 of 100 by default); every event goes to one replica and, right after
its ack, again to the other with X-Slack-Retry-Num: 1, as Slack retries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.harness import World, as_ms, cpu_seconds, median, percentile, table, world
from tests.fakes import TENANT_ID
from tests.world import SIGNING_SECRET, BotProcess, SlackSender, free_port, link_shared

PORTAL = "https://security.microsoft.com"
OTHER_HOST = "https://portal.example.com"  # --floor: links the bot does not unfurl
API_LATENCY = 0.2


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[str]:
    """A redis-server of our own (no persistence) on a free port; its URL."""
    directory = Path(tempfile.mkdtemp(prefix="incident-bot-load-redis-"))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(directory), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            await asyncio.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()
        shutil.rmtree(directory, ignore_errors=True)


async def wait_ready(http: aiohttp.ClientSession, bot: BotProcess, seconds: float = 30.0) -> None:
    """Until /readyz says ready: the token is fetched and the API answered, as in a running bot."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with http.get(f"http://127.0.0.1:{bot.port}/readyz") as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("a replica did not become ready")


def ts_of(n: int) -> str:
    return f"1700001000.{n:06d}"


async def deliver(sender: SlackSender, body: dict[str, object], retry: bool) -> float | None:
    """One delivery; its ack latency, or None when the replica did not ack (HTTP error, no answer)."""
    try:
        answer = await sender.event(body, retry_num=1 if retry else None)
    except aiohttp.ClientError:
        return None
    return answer.elapsed if answer.status == 200 else None


async def generate(plan: dict[str, object]) -> dict[str, Any]:
    """Run benchmarks/loadgen.py in its own process (the fakes keep this one's loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.loadgen",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate(json.dumps(plan).encode())
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed with {process.returncode}")
    answer: dict[str, Any] = json.loads(out)
    return answer


def most_in_window(times: list[float], window: float) -> int:
    """The most of `times` that fall in any `window`-long interval."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def load(w: World, args: argparse.Namespace, redis_url: str) -> dict[str, object]:
    ids = w.add_copies(args.incidents)
    env = {"CACHE_URL": redis_url, "INCIDENT_CACHE_TTL": str(args.ttl), "LOG_LEVEL": "WARNING"}
    env.update(item.split("=", 1) for item in args.bot_env)
    bots = [await w.start_bot(**env) for _ in range(2)]
    by_burst: list[list[float]] = []
    acked: set[int] = set()
    refused = 0
    sent_at: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            for bot in bots:
                await wait_ready(http, bot)
            senders = [SlackSender(http, bot.url) for bot in bots]
            gets_before = len(w.api.requests)
            cpu_before = [cpu_seconds(bot.pid) for bot in bots] + [time.process_time()]

            def body(n: int) -> dict[str, object]:
                link = f"{OTHER_HOST if args.floor else PORTAL}/incidents/{ids[n % len(ids)]}?tid={TENANT_ID}"
                return link_shared([link], event_id=f"EvLOAD{n:06d}", message_ts=ts_of(n))

            async def event(n: int) -> None:
                nonlocal refused
                sent_at[ts_of(n)] = time.monotonic()
                for retry, sender in enumerate((senders[n % 2], senders[(n + 1) % 2])):
                    elapsed = await deliver(sender, body(n), retry=bool(retry))
                    if elapsed is None:
                        refused += 1
                    else:
                        by_burst[-1].append(elapsed)
                        acked.add(n)

            started = time.monotonic()
            if args.generator == "process":
                plan = {
                    "replicas": [bot.port for bot in bots],
                    "secret": SIGNING_SECRET,
                    "pause": args.pause,
                    "bursts": [
                        [
                            {"body": json.dumps(body(n)), "to": [n % 2, (n + 1) % 2]}
                            for n in range(b * args.burst_size, (b + 1) * args.burst_size)
                        ]
                        for b in range(args.bursts)
                    ],
                }
                started = time.monotonic()
                answer = await generate(plan)
                by_burst.extend(answer["by_burst"])
                refused = answer["refused"]
                sent_at.update(answer["sent_at"])
                acked.update(int(ts.rsplit(".", 1)[1]) for ts in answer["acked"])
            else:
                for burst in range(args.bursts):
                    by_burst.append([])
                    first = burst * args.burst_size
                    await asyncio.gather(*(event(n) for n in range(first, first + args.burst_size)))
                    await asyncio.sleep(args.pause)
            sent_for = time.monotonic() - started
            events = args.bursts * args.burst_size
            wanted = set() if args.floor else {ts_of(n) for n in acked}
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                done = {c.args.get("ts") for c in w.slack.calls_to("chat.unfurl")}
                if wanted <= done:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # late duplicates, if any
            cpu_after = [cpu_seconds(bot.pid) for bot in bots] + [time.process_time()]
    finally:
        rss = [bot.peak_rss_mb() for bot in bots]
        for bot in bots:
            await bot.terminate()
    unfurls = [c for c in w.slack.calls_to("chat.unfurl") if c.args.get("ts") in sent_at]
    per_message = Counter(str(c.args["ts"]) for c in unfurls)
    first_unfurl: dict[str, float] = {}
    for call in unfurls:
        first_unfurl.setdefault(str(call.args["ts"]), call.time)
    gets = [r for r in w.api.requests[gets_before:] if r.method == "GET" and "/security/incidents/" in r.path]
    return {
        "events": events,
        "deliveries": sum(map(len, by_burst)) + refused,
        "refused": refused,
        "by_burst": by_burst,
        "lost": len({ts_of(n) for n in acked} - set(per_message)),
        "duplicates": sum(count - 1 for count in per_message.values()),
        "errors": sum(1 for c in unfurls if "Incident " not in str(c.args.get("unfurls"))),
        "gets": len(gets),
        "gets_window": most_in_window([r.time for r in gets], args.ttl),
        "gets_per_incident": max(Counter(r.path for r in gets).values(), default=0),
        "unfurl_delays": [first_unfurl[ts] - sent_at[ts] for ts in first_unfurl],
        "rss": rss,
        "cpu": [
            None if a is None or b is None else a - b for a, b in zip(cpu_after, cpu_before, strict=True)
        ],
        "sent_for": sent_for,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--burst-size", type=int, default=100)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--ttl", type=int, default=60, help="INCIDENT_CACHE_TTL of the replicas")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the last unfurls")
    parser.add_argument(
        "--generator",
        choices=("process", "aiohttp"),
        default="process",
        help="process: benchmarks/loadgen.py in a process of its own (default); aiohttp: the aiohttp "
        "client in this process, beside the fakes (the first version of this benchmark)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="links to another host: the bot acks and queues each event, and its job finds nothing to "
        "unfurl (the ack latency with no card work competing)",
    )
    parser.add_argument("--redis-url", help="use this Redis (a scratch database) instead of a private one")
    parser.add_argument(
        "--bot-env", action="append", default=[], metavar="NAME=VALUE", help="extra setting of both replicas"
    )
    args = parser.parse_args()
    async with world(api_latency=API_LATENCY) as w:
        if args.redis_url:
            result = await load(w, args, args.redis_url)
        else:
            async with private_redis() as url:
                result = await load(w, args, url)
    by_burst: list[list[float]] = result["by_burst"]  # type: ignore[assignment]
    acks = [a for burst in by_burst for a in burst]
    later = [a for burst in by_burst[1:] for a in burst]
    delays: list[float] = result["unfurl_delays"]  # type: ignore[assignment]
    rss: list[float | None] = result["rss"]  # type: ignore[assignment]
    n, lost, dup = result["events"], result["lost"], result["duplicates"]
    print(
        f"two replicas, {'Redis ' + args.redis_url if args.redis_url else 'a private redis-server'}; "
        f"fake API latency {API_LATENCY * 1000:.0f} ms; {n} link_shared events over {args.incidents} "
        f"incidents in {args.bursts} bursts of {args.burst_size} ({args.pause:g} s apart, sent in "
        f"{result['sent_for']:.1f} s), each delivered twice; INCIDENT_CACHE_TTL {args.ttl} s; "
        f"generator: {args.generator}"
        + ("; FLOOR: links the bot does not unfurl" if args.floor else "")
        + "".join(f"; {item}" for item in args.bot_env)
        + "\n"
    )
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            f"API GETs, most in any {args.ttl} s (TTL) window",
            f"≤ {args.incidents}",
            f"{result['gets_window']} (total {result['gets']})",
            result["gets_window"] <= args.incidents,
        ),
        ("API GETs of one incident, most", "—", str(result["gets_per_incident"]), None),
        ("duplicate chat.unfurl calls", "0", str(dup), None if args.floor else dup == 0),
        (
            f"ack p99, {len(acks)} deliveries",
            "< 100 ms",
            as_ms(percentile(acks, 99)),
            percentile(acks, 99) < 0.1,
        ),
        ("ack p50", "—", as_ms(median(acks)), None),
        (
            "ack p99, first burst (replicas just started) / later bursts",
            "—",
            f"{as_ms(percentile(by_burst[0], 99))} / {as_ms(percentile(later, 99))}",
            None,
        ),
        ("ack max per burst", "—", ", ".join(f"{max(b) * 1000:.0f}" for b in by_burst if b) + " ms", None),
        ("deliveries not acked", "—", str(result["refused"]), None),
        (
            "events lost (acked, never unfurled)",
            "0",
            "n/a" if args.floor else str(lost),
            None if args.floor else lost == 0,
        ),
        ("unfurls showing an error instead of the card", "0", str(result["errors"]), result["errors"] == 0),
        ("event → chat.unfurl p50", "—", as_ms(median(delays)), None),
        ("event → chat.unfurl p99", "—", as_ms(percentile(delays, 99)), None),
    ]
    for i, mb in enumerate(rss, start=1):
        rows.append(
            (
                f"peak RSS, replica {i}",
                "< 150 MB",
                "?" if mb is None else f"{mb:.0f} MB",
                mb is not None and mb < 150,
            )
        )
    cpu: list[float | None] = result["cpu"]  # type: ignore[assignment]
    shown = ", ".join("?" if c is None else f"{c:.1f} s" for c in cpu)
    rows.append(
        ("CPU time during the run: replica 1, replica 2, this process (fakes + load)", "—", shown, None)
    )
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
