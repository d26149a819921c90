"""Replicas: the bot's ack path beside the least a durable Bolt app can do, and warm scale-out.

Run from the repository root: `.venv/bin/python -m benchmarks.replicas`. Why: the bot's ack path
(signature check, Bolt, the job XADDed in one Redis script, then the ack) is judged against a
baseline that does the least any durable Bolt app must do: `benchmarks/bare_bolt.py`, a bare
slack-bolt AsyncApp that verifies the signature, XADDs the raw body to a Redis stream and acks. Both
run as two replicas on the same private redis-server (benchmarks.load.private_redis, FLUSHDB
between runs), receive the same plan from the same sender (benchmarks/loadgen.py, a process of its
own) and are measured the same way. The fakes (Entra, the incident API answering after 200 ms,
Slack) share this process.

1. The ack path. N link_shared events over 50 incidents in bursts, each delivered to one replica
   and, right after its ack, again to the other with X-Slack-Retry-Num: 1, as benchmarks/load.py
   does. Runs, in this order and `--rounds` times: the bot; bare Bolt with XADD; the bot with
   links to another host ("floor": acked and queued, its job finds nothing to unfurl). For each:
   ack p50/p99 (the sender's clock), CPU per delivery (the replicas' run time from
   /proc/<pid>/task/*/schedstat, from the first send until the last unfurl, or until the stream is
   worked off, or the last ack for bare Bolt; divided by the deliveries), Redis commands and socket
   reads (≈ round trips) per delivery and Redis CPU per delivery (INFO commandstats / stats / cpu
   deltas), peak RSS; for the bot, events lost (acked, never unfurled) and duplicate chat.unfurl;
   for bare Bolt, that every acked delivery is an entry of its stream. The targets compare the
   pooled bot runs with the pooled bare-Bolt runs.
2. Scale-out. With 1, 2 and 3 replicas of the bot, then of bare Bolt: warm link_shared events
   (every incident cached first) sent once each, spread evenly over the replicas, by a sender
   process of this module keeping `--scale-concurrency` requests in flight per replica. Acks/s in
   total and per replica, unfurls/s, CPU per delivery, Redis commands, reads and CPU per delivery,
   and the Redis commands per second reached. All replicas share this machine's cores, so this
   shows what a replica costs, not what N machines give: benchmarks/README.md models that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from benchmarks.bare_bolt import STREAM as BARE_STREAM
from benchmarks.harness import World, as_ms, median, percentile, table, world
from benchmarks.junk_flood import bot_cpu
from benchmarks.load import API_LATENCY, OTHER_HOST, PORTAL, generate, private_redis, wait_ready
from benchmarks.loadgen import Connections, request_bytes
from tests.fakes import TENANT_ID
from tests.world import BOT_TOKEN, SIGNING_SECRET, BotProcess, SlackSender, free_port, link_shared

BOT_STREAM, BOT_GROUP = "incident-bot:jobs", "incident-bot"
BOT, BARE, FLOOR = "bot", "bare Bolt + XADD", "bot floor"

# ---- the replicas ---------------------------------------------------------------------------------


class BareBolt(BotProcess):
    """benchmarks/bare_bolt.py with BARE_BOLT_XADD, in a child process (BotProcess's other parts)."""

    async def start(self, wait_seconds: float = 20.0) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port)}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bare_bolt", env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            if self.process.returncode is not None:
                raise RuntimeError(f"bare Bolt exited with {self.process.returncode}")
            await asyncio.sleep(0.05)
        raise TimeoutError("bare Bolt did not listen")


def new_replica(w: World, kind: str, redis_url: str, ttl: int) -> BotProcess:
    if kind == BARE:
        env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
        return BareBolt({**env, "SLACK_API_URL": w.slack.api_url, "BARE_BOLT_XADD": redis_url}, free_port())
    env = w.bot_env(CACHE_URL=redis_url, INCIDENT_CACHE_TTL=str(ttl), LOG_LEVEL="WARNING")
    return BotProcess(env, free_port())


async def make_ready(http: aiohttp.ClientSession, replica: BotProcess) -> None:
    """The bot: until /readyz (token fetched, auth.test answered). Bare Bolt: one request (its
    auth.test), which leaves one entry in its stream."""
    if not isinstance(replica, BareBolt):
        await wait_ready(http, replica)
        return
    body = link_shared([f"{OTHER_HOST}/x"], event_id=f"EvWARM{replica.port}", message_ts="1.0")
    answer = await SlackSender(http, replica.url).event(body)
    if answer.status != 200:
        raise RuntimeError(f"bare Bolt answered {answer.status}")


@contextlib.asynccontextmanager
async def replicas(
    w: World, http: aiohttp.ClientSession, kind: str, count: int, redis_url: str, ttl: int
) -> AsyncIterator[list[BotProcess]]:
    """`count` replicas started side by side and ready; stopped (SIGTERM) at the end."""
    servers = [new_replica(w, kind, redis_url, ttl) for _ in range(count)]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        await asyncio.gather(*(make_ready(http, server) for server in servers))
        yield servers
    finally:
        for server in servers:
            if server.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    await server.terminate()


def cpu_of(servers: list[BotProcess]) -> float:
    return sum(bot_cpu(server.pid) or 0.0 for server in servers)


async def idle_cpu(servers: list[BotProcess], seconds: float = 1.0) -> float:
    """CPU seconds per second per replica while nothing is sent (heartbeats, stream reads)."""
    before = cpu_of(servers)
    await asyncio.sleep(seconds)
    return (cpu_of(servers) - before) / seconds / len(servers)


# ---- Redis, as the replicas use it -----------------------------------------------------------------


@dataclass
class RedisUse:
    commands: Counter[str] = field(default_factory=Counter)
    reads: int = 0  # total_reads_processed: socket reads, about one per round trip (or pipeline)
    cpu: float = 0.0  # used_cpu_user + used_cpu_sys, seconds

    def __sub__(self, other: RedisUse) -> RedisUse:
        return RedisUse(self.commands - other.commands, self.reads - other.reads, self.cpu - other.cpu)

    def __add__(self, other: RedisUse) -> RedisUse:
        return RedisUse(self.commands + other.commands, self.reads + other.reads, self.cpu + other.cpu)

    def per(self, deliveries: int) -> str:
        """Commands, reads and CPU per delivery, and the commands that make up the first."""
        n = max(deliveries, 1)
        calls = sum(self.commands.values())
        each = ", ".join(
            f"{name.upper()} {c / n:.2f}" for name, c in self.commands.most_common() if c / n >= 0.01
        )
        cpu = self.cpu / n * 1e6
        return f"{calls / n:.2f} cmds ({each}) · {self.reads / n:.2f} reads · {cpu:.0f} µs Redis CPU"


class Monitor:
    """This process's own Redis connection; what it sends itself is left out of the counts."""

    OWN = frozenset({"info", "xinfo|groups", "xlen", "xrange", "flushdb"})

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.calls = 0

    async def sample(self) -> RedisUse:
        self.calls += 3
        stats, counters, cpu = await asyncio.gather(
            self.client.info("commandstats"), self.client.info("stats"), self.client.info("cpu")
        )
        commands = Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})
        for own in self.OWN:
            commands.pop(own, None)
        reads = int(counters["total_reads_processed"]) - self.calls
        return RedisUse(commands, reads, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]))

    async def jobs_done(self, within: float) -> None:
        """Until the bot's consumer group has nothing pending or unread."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.calls += 1
            groups = await self.client.xinfo_groups(BOT_STREAM)
            group = next((g for g in groups if g["name"] == BOT_GROUP.encode()), None)
            if group is not None and group["pending"] == 0 and not group.get("lag"):
                return
            await asyncio.sleep(0.1)

    async def kept(self, wanted: set[str]) -> Counter[str]:
        """How many entries of bare Bolt's stream each message ts of `wanted` has."""
        self.calls += 1
        found: Counter[str] = Counter()
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.client.xrange(BARE_STREAM)  # type: ignore[assignment]
        for _, fields in entries:
            ts = json.loads(fields[b"body"])["event"]["message_ts"]
            if ts in wanted:
                found[ts] += 1
        return found

    async def flush(self) -> None:
        self.calls += 1
        await self.client.flushdb()


class Unfurls:
    """chat.unfurl calls per message ts; each look scans only the calls that arrived since the last."""

    def __init__(self, w: World) -> None:
        self.calls = w.slack.calls
        self.seen = len(self.calls)
        self.by_ts: Counter[str] = Counter()
        self.last = 0.0

    def poll(self) -> Counter[str]:
        for call in self.calls[self.seen :]:
            if call.method == "chat.unfurl":
                self.by_ts[str(call.args.get("ts"))] += 1
                self.last = max(self.last, call.time)
        self.seen = len(self.calls)
        return self.by_ts

    async def until(self, wanted: set[str], within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if wanted <= self.poll().keys():
                return
            await asyncio.sleep(0.1)


# ---- the events -------------------------------------------------------------------------------------


def message_ts(run: int, n: int) -> str:
    return f"{1_700_200_000 + run}.{n:06d}"


def event_body(run: int, n: int, incident: str, host: str = PORTAL) -> str:
    link = f"{host}/incidents/{incident}?tid={TENANT_ID}"
    return json.dumps(link_shared([link], event_id=f"EvR{run:03d}N{n:06d}", message_ts=message_ts(run, n)))


# ---- 1. the ack path ---------------------------------------------------------------------------------


@dataclass
class AckRun:
    name: str
    by_burst: list[list[float]]
    refused: int
    cpu: float  # CPU seconds of both replicas over the window
    idle: float  # CPU seconds per second per replica before the sends
    redis: RedisUse
    rss: list[float | None]
    lost: int | None = None
    duplicates: int | None = None
    missing: int | None = None  # bare Bolt: acked deliveries not in its stream
    entries: int | None = None
    round: int = 0

    @property
    def acks(self) -> list[float]:
        return [a for burst in self.by_burst for a in burst]

    @property
    def deliveries(self) -> int:
        return len(self.acks) + self.refused


def burst_plan(args: argparse.Namespace, run: int, ids: list[str], floor: bool) -> dict[str, Any]:
    """benchmarks/loadgen.py's input: each event to one replica, then its retry to the other."""
    host = OTHER_HOST if floor else PORTAL
    size = args.burst_size
    return {
        "replicas": [],  # filled in with the ports
        "secret": SIGNING_SECRET,
        "pause": args.pause,
        "bursts": [
            [
                {"body": event_body(run, n, ids[n % len(ids)], host), "to": [n % 2, (n + 1) % 2]}
                for n in range(b * size, (b + 1) * size)
            ]
            for b in range(args.bursts)
        ],
    }


async def ack_run(
    w: World,
    http: aiohttp.ClientSession,
    monitor: Monitor,
    url: str,
    args: argparse.Namespace,
    name: str,
    run: int,
) -> AckRun:
    """Two replicas of `name` under the burst plan; the window ends when their work is done."""
    ids = w.add_copies(args.incidents)  # the same ids each time: the fake API's copies are replaced
    await monitor.flush()
    kind = BARE if name == BARE else BOT
    plan = burst_plan(args, run, ids, floor=name == FLOOR)
    async with replicas(w, http, kind, 2, url, args.ttl) as servers:
        plan["replicas"] = [server.port for server in servers]
        idle = await idle_cpu(servers)
        unfurls = Unfurls(w)
        cpu_before, redis_before = cpu_of(servers), await monitor.sample()
        answer = await generate(plan)
        acked = set(answer["acked"])
        if name == BOT:
            await unfurls.until(acked, args.wait)
        elif name == FLOOR:
            await monitor.jobs_done(args.wait)
        cpu, redis = cpu_of(servers) - cpu_before, await monitor.sample() - redis_before
        result = AckRun(name, answer["by_burst"], answer["refused"], cpu, idle, redis, [])
        if name == BOT:
            await asyncio.sleep(1.0)  # late duplicates, if any
            done = unfurls.poll()
            result.lost = len(acked - done.keys())
            result.duplicates = sum(c - 1 for ts, c in done.items() if ts in answer["sent_at"])
        if name == BARE:
            kept = await monitor.kept(set(answer["sent_at"]))
            result.entries = sum(kept.values())
            result.missing = max(len(acked - kept.keys()), len(result.acks) - result.entries)
        result.rss = [server.peak_rss_mb() for server in servers]
    return result


def pooled(runs: list[AckRun], name: str) -> tuple[list[float], float]:
    """All ack latencies of the runs of `name`, and their CPU seconds per delivery."""
    mine = [r for r in runs if r.name == name]
    acks = [a for r in mine for a in r.acks]
    return acks, sum(r.cpu for r in mine) / max(1, sum(r.deliveries for r in mine))


def ack_rows(runs: list[AckRun]) -> list[tuple[str, str, str, bool | None]]:
    rows: list[tuple[str, str, str, bool | None]] = []
    for i, r in enumerate(runs, start=1):
        p50, p99 = as_ms(median(r.acks)), as_ms(percentile(r.acks, 99))
        rows.append(
            (f"run {i}, {r.name}: ack p50 / p99 ({r.deliveries} deliveries)", "—", f"{p50} / {p99}", None)
        )
        cpu = r.cpu / max(r.deliveries, 1) * 1e6
        rows.append((f"run {i}, {r.name}: CPU per delivery (both replicas)", "—", f"{cpu:.0f} µs", None))
        rows.append((f"run {i}, {r.name}: Redis per delivery", "—", r.redis.per(r.deliveries), None))
    bot_acks, bot_cpu_each = pooled(runs, BOT)
    bare_acks, bare_cpu_each = pooled(runs, BARE)
    p99_ratio = percentile(bot_acks, 99) / percentile(bare_acks, 99)
    cpu_ratio = bot_cpu_each / bare_cpu_each
    rows += [
        (
            f"ack p99, bot ÷ bare Bolt, pooled ({as_ms(percentile(bot_acks, 99))} ÷ "
            f"{as_ms(percentile(bare_acks, 99))})",
            "≤ 1.5×",
            f"{p99_ratio:.2f}×",
            p99_ratio <= 1.5,
        ),
        (
            f"ack p50, bot ÷ bare Bolt, pooled ({as_ms(median(bot_acks))} ÷ {as_ms(median(bare_acks))})",
            "—",
            f"{median(bot_acks) / median(bare_acks):.2f}×",
            None,
        ),
        (
            f"CPU per delivery, bot ÷ bare Bolt, pooled ({bot_cpu_each * 1e6:.0f} ÷ "
            f"{bare_cpu_each * 1e6:.0f} µs; the bot's includes its unfurl jobs)",
            "≤ 1.3×",
            f"{cpu_ratio:.2f}×",
            cpu_ratio <= 1.3,
        ),
    ]
    rounds = sorted({r.round for r in runs})
    if len(rounds) > 1:
        ratios = []
        for k in rounds:
            (bot_k, bot_c), (bare_k, bare_c) = (
                pooled([r for r in runs if r.round == k], n) for n in (BOT, BARE)
            )
            ratios.append(f"{percentile(bot_k, 99) / percentile(bare_k, 99):.2f}× / {bot_c / bare_c:.2f}×")
        rows.append(("bot ÷ bare Bolt, each round: ack p99 / CPU per delivery", "—", ", ".join(ratios), None))
    if any(r.name == FLOOR for r in runs):
        floor_acks, floor_cpu = pooled(runs, FLOOR)
        rows += [
            (
                "ack p99, bot floor (queued, nothing to unfurl) ÷ bare Bolt, pooled",
                "—",
                f"{percentile(floor_acks, 99) / percentile(bare_acks, 99):.2f}×",
                None,
            ),
            (
                f"CPU per delivery, bot floor ÷ bare Bolt, pooled ({floor_cpu * 1e6:.0f} µs)",
                "—",
                f"{floor_cpu / bare_cpu_each:.2f}×",
                None,
            ),
        ]
    return rows + check_rows(runs)


def check_rows(runs: list[AckRun]) -> list[tuple[str, str, str, bool | None]]:
    bots = [r for r in runs if r.name == BOT]
    bares = [r for r in runs if r.name == BARE]
    lost = [r.lost or 0 for r in bots]
    dups = [r.duplicates or 0 for r in bots]
    missing = [r.missing or 0 for r in bares]
    bot_rss = [mb for r in runs if r.name != BARE for mb in r.rss if mb is not None]
    bare_rss = [mb for r in bares for mb in r.rss if mb is not None]

    def listed(values: list[int]) -> str:
        return ", ".join(map(str, values))

    return [
        ("events lost (acked, never unfurled), each bot run", "0", listed(lost), not any(lost)),
        ("duplicate chat.unfurl, each bot run", "0", listed(dups), not any(dups)),
        (
            "bare Bolt: acked deliveries missing from its stream, each run (stream entries / acked)",
            "0",
            ", ".join(f"{m} ({r.entries} / {len(r.acks)})" for m, r in zip(missing, bares, strict=True)),
            not any(missing),
        ),
        ("deliveries not acked, each run", "—", listed([r.refused for r in runs]), None),
        (
            "peak RSS per bot replica, most (all runs)",
            "< 150 MB",
            f"{max(bot_rss, default=float('nan')):.0f} MB",
            bool(bot_rss) and max(bot_rss) < 150,
        ),
        ("peak RSS per bare Bolt replica, most", "—", f"{max(bare_rss, default=float('nan')):.0f} MB", None),
        (
            "idle CPU per replica before the sends, each run",
            "—",
            ", ".join(f"{r.idle * 1000:.1f}" for r in runs) + " ms/s",
            None,
        ),
    ]


# ---- 2. scale-out -------------------------------------------------------------------------------------


@dataclass
class ScaleRun:
    name: str
    count: int
    acks: list[list[float]]  # per replica
    spans: list[float]  # per replica: seconds from the start to its last ack
    refused: int
    cpu: float
    redis: RedisUse
    drained: float | None  # bot: seconds from the start to the last unfurl
    lost: int | None  # bot: acked, never unfurled
    rss: list[float | None]

    @property
    def deliveries(self) -> int:
        return sum(map(len, self.acks)) + self.refused


async def send_spread(plan: dict[str, Any]) -> dict[str, Any]:
    """This module's sender (`--sender`) in a process of its own."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.replicas", "--sender",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate(json.dumps(plan).encode())
    if process.returncode != 0:
        raise RuntimeError(f"the sender failed with {process.returncode}")
    answer: dict[str, Any] = json.loads(out)
    return answer


async def warm_up(http: aiohttp.ClientSession, w: World, servers: list[BotProcess], ids: list[str]) -> None:
    """One event per incident, spread over the replicas: every incident in the shared cache."""
    unfurls = Unfurls(w)
    senders = [SlackSender(http, server.url) for server in servers]
    bodies = [json.loads(event_body(999, n, incident)) for n, incident in enumerate(ids)]
    await asyncio.gather(*(senders[n % len(senders)].event(b) for n, b in enumerate(bodies)))
    await unfurls.until({message_ts(999, n) for n in range(len(ids))}, 30.0)


async def scale_run(
    w: World,
    http: aiohttp.ClientSession,
    monitor: Monitor,
    url: str,
    args: argparse.Namespace,
    name: str,
    count: int,
    run: int,
) -> ScaleRun:
    """`count` replicas of `name`, warm, `--scale-events` sent once each, spread evenly."""
    ids = w.add_copies(args.incidents)
    await monitor.flush()
    async with replicas(w, http, name, count, url, args.ttl) as servers:
        if name == BOT:
            await warm_up(http, w, servers, ids)
        bodies: list[list[tuple[str, str]]] = [[] for _ in servers]
        for n in range(args.scale_events):
            bodies[n % count].append((message_ts(run, n), event_body(run, n, ids[n % len(ids)])))
        plan = {
            "ports": [s.port for s in servers],
            "secret": SIGNING_SECRET,
            "bodies": bodies,
            "concurrency": args.scale_concurrency,
        }
        unfurls = Unfurls(w)
        cpu_before, redis_before = cpu_of(servers), await monitor.sample()
        answer = await send_spread(plan)
        drained = lost = None
        if name == BOT:
            await unfurls.until(set(answer["acked"]), args.wait)
            drained = unfurls.last - answer["start"]
            lost = len(set(answer["acked"]) - unfurls.by_ts.keys())
        cpu, redis = cpu_of(servers) - cpu_before, await monitor.sample() - redis_before
        rss = [server.peak_rss_mb() for server in servers]
    spans = [last - answer["start"] for last in answer["last"]]
    return ScaleRun(name, count, answer["acks"], spans, answer["refused"], cpu, redis, drained, lost, rss)


def scale_rows(runs: list[ScaleRun]) -> list[tuple[str, str, str, bool | None]]:
    rows: list[tuple[str, str, str, bool | None]] = []
    single = {r.name: sum(map(len, r.acks)) / max(r.spans) for r in runs if r.count == 1}
    for r in runs:
        who = f"{r.name}, {r.count} replica{'s' if r.count > 1 else ''}"
        acked = sum(map(len, r.acks))
        total = acked / max(r.spans)
        each = ", ".join(f"{len(a) / s:.0f}" for a, s in zip(r.acks, r.spans, strict=True))
        scale = f"; {total / single[r.name]:.2f}× one replica" if r.name in single and r.count > 1 else ""
        rows.append((f"{who}: warm acks/s, total (per replica)", "—", f"{total:.0f}/s ({each}){scale}", None))
        if r.drained is not None:
            rows.append(
                (
                    f"{who}: unfurls/s (the last {r.drained:.1f} s after the first send); events lost",
                    "—; 0",
                    f"{acked / r.drained:.0f}/s; {r.lost}",
                    r.lost == 0,
                )
            )
        acks = [a for replica in r.acks for a in replica]
        p50, p99 = as_ms(median(acks)), as_ms(percentile(acks, 99))
        cpu = r.cpu / max(r.deliveries, 1) * 1e6
        rss = max((mb for mb in r.rss if mb is not None), default=float("nan"))
        rows.append(
            (
                f"{who}: ack p50 / p99 · CPU per delivery · peak RSS",
                "—",
                f"{p50} / {p99} · {cpu:.0f} µs · {rss:.0f} MB",
                None,
            )
        )
        seconds = r.drained or max(r.spans)
        ops = sum(r.redis.commands.values()) / seconds
        rows.append(
            (
                f"{who}: Redis per delivery · commands/s",
                "—",
                f"{r.redis.per(r.deliveries)} · {ops:.0f}/s",
                None,
            )
        )
        if r.refused:
            rows.append((f"{who}: deliveries not acked", "0", str(r.refused), False))
    return rows


# ---- the sender of scale-out (a child process) -----------------------------------------------------


async def spread(plan: dict[str, Any]) -> dict[str, Any]:
    """Each replica's bodies once, `concurrency` at a time per replica on keep-alive connections."""
    ports: list[int] = plan["ports"]
    pools = [Connections(port) for port in ports]
    for pool in pools:
        await pool.open(plan["concurrency"])
    queues = [
        deque((ts, request_bytes(port, body, plan["secret"], retry=False)) for ts, body in bodies)
        for port, bodies in zip(ports, plan["bodies"], strict=True)
    ]
    acks: list[list[float]] = [[] for _ in ports]
    last = [0.0 for _ in ports]
    acked: list[str] = []
    refused = 0

    async def worker(r: int) -> None:
        nonlocal refused
        while queues[r]:
            ts, request = queues[r].popleft()
            status, elapsed = await pools[r].send(request)
            if status == 200:
                acks[r].append(elapsed)
                acked.append(ts)
                last[r] = time.monotonic()
            else:
                refused += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(r) for r in range(len(ports)) for _ in range(plan["concurrency"])))
    for pool in pools:
        await pool.close()
    return {"start": start, "acks": acks, "last": last, "acked": acked, "refused": refused}


# ---- the run ------------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="times the ack-path runs are repeated")
    parser.add_argument(
        "--floor", action=argparse.BooleanOptionalAction, default=True, help="the bot floor runs"
    )
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--burst-size", type=int, default=100)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--ttl", type=int, default=120, help="INCIDENT_CACHE_TTL of the bot replicas")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the last unfurls")
    parser.add_argument("--scale", default="1,2,3", help="replica counts of scale-out ('' for none)")
    parser.add_argument("--scale-events", type=int, default=3000)
    parser.add_argument("--scale-concurrency", type=int, default=16, help="requests in flight per replica")
    parser.add_argument("--scale-bare", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


async def measure(args: argparse.Namespace) -> None:
    names = [BOT, BARE] + ([FLOOR] if args.floor else [])
    counts = [int(c) for c in args.scale.split(",") if c]
    kinds = [BOT] + ([BARE] if args.scale_bare else [])
    async with (
        world(api_latency=API_LATENCY) as w,
        private_redis() as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        monitor = Monitor(url)
        runs: list[AckRun] = []
        for r in range(args.rounds):
            for name in names:
                runs.append(await ack_run(w, http, monitor, url, args, name, run=len(runs)))
                runs[-1].round = r + 1
        scaled = [
            await scale_run(w, http, monitor, url, args, kind, count, run=100 + 10 * count + j)
            for count in counts
            for j, kind in enumerate(kinds)
        ]
        await monitor.client.aclose()
    events = args.bursts * args.burst_size
    print(
        f"{os.cpu_count()} CPUs shared by everything; a private redis-server; fake API latency "
        f"{API_LATENCY * 1000:.0f} ms."
    )
    if runs:
        print(
            f"\n1. The ack path: two replicas, {events} link_shared events over {args.incidents} "
            f"incidents in {args.bursts} bursts of {args.burst_size} ({args.pause:g} s apart), each "
            f"delivered twice; runs in the order {', '.join(names)}, {args.rounds} time(s).\n"
        )
        print(table(ack_rows(runs)))
    if scaled:
        print(
            f"\n2. Scale-out: {args.scale_events} warm link_shared events, once each, spread evenly, "
            f"{args.scale_concurrency} in flight per replica; order: "
            + ", ".join(f"{r.name} ×{r.count}" for r in scaled)
            + ".\n"
        )
        print(table(scale_rows(scaled)))


def main() -> None:
    args = arguments()
    if args.sender:
        json.dump(asyncio.run(spread(json.load(sys.stdin))), sys.stdout)
        return
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
