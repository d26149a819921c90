"""Durable intake benchmark: Redis stream against inline processing, and recovery after a SIGKILL.

Run from the repository root: `python -m benchmarks.durable_intake`. The fakes (Entra, incident
API, Slack) and the load generator share this process; a private `redis-server` (free port, no
persistence, never the shared one on 6379) and every bot are child processes. Two bots run side by
side in the same run: **inline** (`CACHE_URL=memory://`, the in-process queue) and **durable**
(`CACHE_URL=redis://…`: XADD before the ack, XREADGROUP/XACK after). Rounds alternate between the
two so that both meet the same machine noise.

(a) ack latency: /incident at a fixed concurrency, the API answering after 400 ms in the background;
    each round's work is finished before the next round starts.
(b) warm throughput: link_shared events for a cached incident at a fixed concurrency: acks per
    second, and events unfurled per second (first event sent → last chat.unfurl).
(c) recovery: a replica acks link_shared events for uncached incidents and starts their fetches
    (held at the API), a second replica starts, the first is SIGKILLed; time from the kill to the
    last chat.unfurl, for INTAKE_CLAIM_IDLE_SECONDS 8 (default) and 2, with the default
    INCIDENT_API_DEADLINE (20 s) and with 2 s (the flight lock a dead replica held lives deadline + 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from benchmarks.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    World,
    as_ms,
    cpu_seconds,
    machine_line,
    median,
    percentile,
    table,
)
from tests.durability.conftest import RedisServer, Replica, SlowIncidentApi, pending
from tests.fakes import TENANT_ID, FakeEntra, FakeSlackApi
from tests.world import WRITER, SlackSender, free_port, link_shared, wait_until

PORTAL = "https://security.microsoft.com"
# Keep the bot's own API budget out of the way of the measurement.
BUDGET = '{"get_per_minute": 100000, "get_per_hour": 1000000, "list_per_minute": 1000}'
ACK_DELTA_TARGET = 0.005
THROUGHPUT_TARGET = 0.8
RECOVERY_TARGET = 10.0


def link(incident_id: str) -> str:
    return f"{PORTAL}/incidents/{incident_id}?tid={TENANT_ID}"


@contextlib.asynccontextmanager
async def slow_world() -> AsyncIterator[World]:
    """The harness world, with the incident API that can hold GETs (tests/durability)."""
    os.environ.pop("CURL_CA_BUNDLE", None)
    async with (
        FakeEntra(tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as entra,
        SlowIncidentApi(is_valid_token=entra.is_valid_token) as api,
        FakeSlackApi() as slack,
    ):
        api.load_fixtures()
        slack.users[WRITER] = {
            "id": WRITER,
            "profile": {"real_name": "Jane Doe", "email": "jane@contoso.com"},
        }
        yield World(entra, api, slack)


@dataclass
class Bots:
    world: World
    redis: RedisServer
    logs: Path
    started: list[Replica] = field(default_factory=list)

    async def start(self, name: str, **env: str) -> Replica:
        replica = Replica(
            self.world.bot_env(INCIDENT_API_BUDGET=BUDGET, LOG_LEVEL="WARNING", **env),
            free_port(),
            name,
            self.logs / f"{name}.log",
        )
        self.started.append(replica)
        await replica.start()
        return replica

    async def durable(self, name: str, **env: str) -> Replica:
        return await self.start(name, CACHE_URL=self.redis.url(), **env)


async def warm_up(w: World, sender: SlackSender, name: str) -> None:
    """Token, connection pools and the incident cache, as a running bot would have them."""
    await sender.command("2972395", w.slack.response_url(f"warm-{name}"))
    await w.slack.wait_for(f"response_url:warm-{name}", timeout=30)


# ---- (a) ack latency -----------------------------------------------------------------------------


async def ack_round(
    w: World, sender: SlackSender, ids: list[str], tag: str, requests: int, concurrency: int
) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(n: int) -> None:
        async with gate:
            answer = await sender.command(ids[n % len(ids)], w.slack.response_url(f"{tag}-{n}"))
            assert answer.status == 200, answer
            latencies.append(answer.elapsed)

    await asyncio.gather(*(one(n) for n in range(requests)))
    # let the background work finish before the next round, so rounds do not overlap
    prefix = f"response_url:{tag}-"
    await wait_until(
        lambda: sum(c.method.startswith(prefix) for c in w.slack.calls) >= requests, within=60, every=0.01
    )
    return latencies


# ---- (b) warm throughput -------------------------------------------------------------------------


async def throughput_round(
    w: World,
    sender: SlackSender,
    incident: str,
    tag: int,
    events: int,
    concurrency: int,
    pids: list[int | None],
) -> tuple[float, float, list[float]]:
    """Acks per second, unfurls per second (first send → last chat.unfurl of the batch), and the CPU
    milliseconds per event of each process in `pids` (None: this one)."""
    gate = asyncio.Semaphore(concurrency)
    batch = {f"17100{tag:05d}.{n:06d}" for n in range(events)}

    async def one(n: int) -> None:
        ts = f"17100{tag:05d}.{n:06d}"
        async with gate:
            answer = await sender.event(
                link_shared([link(incident)], event_id=f"EvTP{tag}-{n}", message_ts=ts)
            )
            assert answer.status == 200, answer

    unfurled = Unfurled(w, batch)
    cpu_before = [_cpu(pid) for pid in pids]
    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(events)))
    acked = time.monotonic() - started

    await wait_until(lambda: unfurled.count() >= events, within=120, every=0.01)
    cpu = [(_cpu(pid) - before) * 1000 / events for pid, before in zip(pids, cpu_before, strict=True)]
    return events / acked, events / (max(unfurled.times) - started), cpu


class Unfurled:
    """Times of the chat.unfurl calls for a batch of message ts. Each look scans only the calls that
    arrived since the last one: polling all of them every 10 ms took CPU from the bot under test."""

    def __init__(self, w: World, batch: set[str], since: int | None = None) -> None:
        self.calls = w.slack.calls
        self.batch = batch
        self.seen = len(self.calls) if since is None else since
        self.times: list[float] = []

    def count(self) -> int:
        for call in self.calls[self.seen :]:
            if call.method == "chat.unfurl" and call.args.get("ts") in self.batch:
                self.times.append(call.time)
        self.seen = len(self.calls)
        return len(self.times)


def _cpu(pid: int | None) -> float:
    return time.process_time() if pid is None else (cpu_seconds(pid) or 0.0)


async def redis_commands(client: aioredis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def xadd_floor(client: aioredis.Redis, count: int, concurrency: int) -> list[float]:
    """XADD round trips from this process at the same concurrency: the least the durable ack adds."""
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(n: int) -> None:
        async with gate:
            started = time.perf_counter()
            await client.xadd("bench:floor", {"n": str(n)}, maxlen=1000, approximate=True)
            times.append(time.perf_counter() - started)

    await asyncio.gather(*(one(n) for n in range(count)))
    await client.delete("bench:floor")
    return times


# ---- (c) recovery --------------------------------------------------------------------------------


async def recovery(
    w: World, bots: Bots, http: aiohttp.ClientSession, tag: int, events: int, **env: str
) -> float:
    """Seconds from SIGKILL of the replica that acked `events` (fetches in flight) to the last unfurl."""
    api = w.api
    assert isinstance(api, SlowIncidentApi)
    ids = w.add_copies(events, first_id=8_500_000 + 1000 * tag)
    doomed = await bots.durable(f"doomed-{tag}", **env)
    client = bots.redis.client(decode=True)
    try:
        await wait_until(lambda: _stream_ready(doomed), within=30, every=0.01)
        api.get_hold = 120.0
        before = len(api.abandoned)
        sender = SlackSender(http, doomed.url)
        batch = set()
        for n, incident in enumerate(ids):
            ts = f"17200{tag:05d}.{n:06d}"
            batch.add(ts)
            answer = await sender.event(
                link_shared([link(incident)], event_id=f"EvREC{tag}-{n}", message_ts=ts)
            )
            assert answer.status == 200, answer
        gets = {f"/v1.0/security/incidents/{i}" for i in ids}
        await wait_until(
            lambda: len({r.path for r in api.requests if r.path in gets}) == events, within=30, every=0.01
        )
        await wait_until(lambda: _all_taken(client, doomed, events), within=30, every=0.01)
        await bots.durable(f"survivor-{tag}", **env)
        assert doomed.process is not None
        doomed.process.kill()
        killed = time.monotonic()
        await doomed.process.wait()
        await wait_until(lambda: len(api.abandoned) - before >= events, within=10, every=0.01)
        api.get_hold = 0.0

        unfurled = Unfurled(w, batch, since=0)
        await wait_until(lambda: unfurled.count() >= events, within=90, every=0.01)
        return max(unfurled.times) - killed
    finally:
        api.get_hold = 0.0
        await client.aclose()
        for replica in bots.started:
            await replica.kill()


async def _stream_ready(replica: Replica) -> bool:
    ready = await replica.readyz()
    return bool(ready["intake"] == "redis stream" and ready["incident_api"] == "ok")


async def _all_taken(client: aioredis.Redis, replica: Replica, count: int) -> bool:
    rows = await pending(client)
    mine = [r for r in rows if r.consumer.startswith(replica.consumer_prefix)]
    return len(mine) >= count


# ---- main ----------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="/incident acks per mode")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--events", type=int, default=1000, help="warm link_shared events per mode")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds for (a), 2 for (b)")
    parser.add_argument("--recovery-events", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on PATH")

    logs = Path(tempfile.mkdtemp(prefix="incident-bot-durable-bench-"))
    redis = RedisServer(logs)
    await redis.start()
    acks: dict[str, list[float]] = {"inline": [], "durable": []}
    paired: list[float] = []  # per round: p99 durable − p99 inline
    rates: dict[str, list[tuple[float, float, list[float]]]] = {"inline": [], "durable": []}
    recoveries: dict[tuple[str, str], float] = {}
    try:
        async with slow_world() as w, aiohttp.ClientSession() as http:
            bots = Bots(w, redis, logs)
            inline, durable = await asyncio.gather(bots.start("inline"), bots.durable("durable"))
            senders = {"inline": SlackSender(http, inline.url), "durable": SlackSender(http, durable.url)}
            bots_by_name = {"inline": inline, "durable": durable}
            for name, sender in senders.items():
                await warm_up(w, sender, name)
            intake_mode = (await durable.readyz())["intake"]

            w.api.latency = 0.4
            ids = w.add_copies(50, first_id=8_000_000)
            per_round = max(1, args.requests // args.rounds)
            for r in range(args.rounds):
                order = ("inline", "durable") if r % 2 == 0 else ("durable", "inline")
                this_round = {}
                for name in order:
                    this_round[name] = await ack_round(
                        w, senders[name], ids, f"ack-{name}-{r}", per_round, args.concurrency
                    )
                    acks[name] += this_round[name]
                paired.append(percentile(this_round["durable"], 99) - percentile(this_round["inline"], 99))
            w.api.latency = 0.0

            (incident,) = w.add_copies(1, first_id=8_100_000)
            for name, sender in senders.items():  # cache the incident in both
                await sender.event(
                    link_shared([link(incident)], event_id=f"EvTPW-{name}", message_ts="1710099999.000001")
                )
            await w.slack.wait_for("chat.unfurl", count=2, timeout=30)
            counter = redis.client()
            per_event: dict[str, float] = {}
            for r in range(2):
                order = ("inline", "durable") if r % 2 == 0 else ("durable", "inline")
                for n, name in enumerate(order):
                    before = await redis_commands(counter)
                    rates[name].append(
                        await throughput_round(
                            w,
                            senders[name],
                            incident,
                            10 * r + n,
                            args.events,
                            args.concurrency,
                            [bots_by_name[name].pid, None, redis.pid],
                        )
                    )
                    if name == "durable" and not per_event:
                        await asyncio.sleep(0.5)  # the last XACKs
                        after = await redis_commands(counter)
                        per_event = {k: (v - before.get(k, 0)) / args.events for k, v in after.items()}
            await xadd_floor(counter, args.requests, args.concurrency)  # the pool's connections
            floor = await xadd_floor(counter, args.requests, args.concurrency)
            await counter.aclose()
            rss = {name: bot.peak_rss_mb() for name, bot in (("inline", inline), ("durable", durable))}
            for bot in (inline, durable):
                await bot.terminate()

            tag = 0
            for idle in ("8", "2"):
                for deadline in ("20", "2"):
                    tag += 1
                    recoveries[(idle, deadline)] = await recovery(
                        w,
                        bots,
                        http,
                        tag,
                        args.recovery_events,
                        INTAKE_CLAIM_IDLE_SECONDS=idle,
                        INCIDENT_API_DEADLINE=deadline,
                        INCIDENT_API_TIMEOUT="30",
                    )
    finally:
        await redis.stop()
        shutil.rmtree(logs, ignore_errors=True)

    p99 = {name: percentile(values, 99) for name, values in acks.items()}
    ack_rate = {name: median([a for a, _, _ in values]) for name, values in rates.items()}
    done_rate = {name: median([d for _, d, _ in values]) for name, values in rates.items()}
    cpu_per_event = {
        name: [median([c[i] for _, _, c in values]) for i in range(3)] for name, values in rates.items()
    }
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            "(a) /incident ack p50, inline / durable",
            "—",
            f"{as_ms(median(acks['inline']))} / {as_ms(median(acks['durable']))}",
            None,
        ),
        (
            "(a) /incident ack p99, inline / durable",
            "—",
            f"{as_ms(p99['inline'])} / {as_ms(p99['durable'])}",
            None,
        ),
        (
            "(a) ack p99, durable − inline",
            "≤ +5 ms",
            f"{(p99['durable'] - p99['inline']) * 1000:+.1f} ms",
            p99["durable"] - p99["inline"] <= ACK_DELTA_TARGET,
        ),
        (
            f"(a) ack p99, durable − inline, median of {len(paired)} paired rounds",
            "—",
            f"{median(paired) * 1000:+.1f} ms (rounds {min(paired) * 1000:+.0f} … "
            f"{max(paired) * 1000:+.0f} ms)",
            None,
        ),
        (
            "(b) warm acks per second, inline / durable",
            "—",
            f"{ack_rate['inline']:.0f}/s / {ack_rate['durable']:.0f}/s",
            None,
        ),
        (
            "(b) warm acks per second, durable / inline",
            "≥ 80 %",
            f"{ack_rate['durable'] / ack_rate['inline']:.0%}",
            ack_rate["durable"] >= THROUGHPUT_TARGET * ack_rate["inline"],
        ),
        (
            "(b) warm unfurls per second, inline / durable",
            "—",
            f"{done_rate['inline']:.0f}/s / {done_rate['durable']:.0f}/s",
            None,
        ),
        (
            "(b) warm unfurls per second, durable / inline",
            "≥ 80 %",
            f"{done_rate['durable'] / done_rate['inline']:.0%}",
            done_rate["durable"] >= THROUGHPUT_TARGET * done_rate["inline"],
        ),
    ]
    for name in ("inline", "durable"):
        bot_ms, here_ms, redis_ms = cpu_per_event[name]
        rows.append(
            (
                f"(b) CPU per warm event, {name}: bot / benchmark process (fakes, sender) / Redis",
                "—",
                f"{bot_ms:.2f} / {here_ms:.2f} / {redis_ms:.2f} ms",
                None,
            )
        )
    rows.append(
        (
            "XADD round trip from the benchmark process, p50 / p99",
            "—",
            f"{as_ms(median(floor))} / {as_ms(percentile(floor, 99))}",
            None,
        )
    )
    commands = ", ".join(
        f"{name.upper()} {calls:.2f}"
        for name, calls in sorted(per_event.items(), key=lambda item: -item[1])
        if calls >= 0.01
    )
    rows.append(("(b) Redis commands per warm unfurl, durable", "—", commands, None))
    for (idle, deadline), seconds in recoveries.items():
        rows.append(
            (
                f"(c) SIGKILL → last recovered unfurl, claim idle {idle} s, API deadline {deadline} s",
                "< 10 s",
                f"{seconds:.1f} s",
                seconds < RECOVERY_TARGET,
            )
        )
    print(
        f"{machine_line()}\n"
        f"(a) {per_round * args.rounds} /incident per mode at concurrency {args.concurrency}, API 400 ms, "
        f"{args.rounds} alternating rounds; (b) 2 × {args.events} warm link_shared per mode at concurrency "
        f"{args.concurrency}; (c) {args.recovery_events} events in flight at the SIGKILL; durable intake: "
        f"{intake_mode}; peak RSS inline {rss['inline']:.0f} MB, durable {rss['durable']:.0f} MB\n"
    )
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
