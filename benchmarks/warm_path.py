"""Warm path benchmark: `/incident` on the bot beside a bare slack-bolt AsyncApp, on one core, in one run.

Run from the repository root: `.venv/bin/python -m benchmarks.warm_path`. The fakes run in this
process (pinned to CPU 0). The bot (`python -m bot`, HTTP mode, memory cache) and the baseline
(`benchmarks/bare_bolt.py`: Bolt's own server, an AsyncApp that verifies and acks) run as their own
processes, both pinned to CPU 1, one at a time under load. The requests come from a lean sender
process (CPU 0) that signs them all before the clock starts and writes raw HTTP/1.1 on keep-alive
connections, so what is timed is the server's answer. For each API latency (0 and 400 ms):

- warm: `/incident 2972395`, cached, at concurrency 32: acks/s, CPU per request (schedstat), ack
  p50/p99, and where the card is (in the ack, or a response_url post after it);
- cold: 200 asks over 20 ids nobody asked for yet, all at once: API GETs, ack p99, and the cards at
  the fake Slack (response_url posts) after the ask.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from benchmarks.harness import World, median, percentile, table, world
from benchmarks.loadgen import read_answer
from tests.world import BOT_TOKEN, SIGNING_SECRET, BotProcess, SlackSender, free_port

SERVER_CPU = 1
OTHERS_CPU = 0
INCIDENT = "2972395"
PATH = "/slack/events"


# ---- the sender (a child process) ---------------------------------------------------------------


def command_request(port: int, text: str, response_url: str) -> bytes:
    """A signed `/incident` slash command, as Slack posts it (form-encoded)."""
    from slack_sdk.signature import SignatureVerifier

    body = urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": "U0WRITER",
            "channel_id": "C0SOC",
            "team_id": "T0TEAM",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n"
        f"X-Slack-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + body.encode()


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, float, int]:
    """One request on a kept-alive connection: (HTTP status, seconds to the whole answer, body bytes)."""
    started = time.perf_counter()
    writer.write(request)
    status, length = await read_answer(reader)
    return status, time.perf_counter() - started, length


async def send_all(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    """Each request once over `concurrency` keep-alive connections: [sent, seconds, status, bytes]."""
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    answers: list[list[float]] = [[] for _ in requests]
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not queue.empty():
            index, request = queue.get_nowait()
            sent = time.monotonic()
            status, elapsed, length = await exchange(reader, writer, request)
            answers[index] = [sent, elapsed, status, length]

    started = time.perf_counter()
    await asyncio.gather(*(worker(reader, writer) for reader, writer in connections))
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return {"answers": answers, "elapsed": elapsed}


def sender_main(port: int) -> None:
    """Child: a plan a line on stdin ({"asks": [[text, response_url], ...], "concurrency"}), results out."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {OTHERS_CPU})
    for line in sys.stdin:
        plan = json.loads(line)
        requests = [command_request(port, text, url) for text, url in plan["asks"]]
        result = asyncio.run(send_all(port, requests, plan["concurrency"]))
        print(json.dumps(result), flush=True)


class Sender:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, port: int) -> Sender:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.warm_path", "--sender", str(port),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26,
        )  # fmt: skip
        return cls(process)

    async def send(self, asks: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"asks": asks, "concurrency": concurrency}).encode() + b"\n")
        await self.process.stdin.drain()
        result: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return result

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 10)


# ---- the servers ----------------------------------------------------------------------------------


def cpu(pid: int) -> float:
    """Seconds on a CPU of all of `pid`'s threads (schedstat, ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class BareBolt:
    """benchmarks/bare_bolt.py in a child process."""

    def __init__(self, w: World, port: int, xadd: str | None = None) -> None:
        self.env = {
            **os.environ,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": w.slack.api_url,
            "PORT": str(port),
            **({"BARE_BOLT_XADD": xadd} if xadd else {}),
        }
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.bare_bolt", env=self.env, stdin=asyncio.subprocess.DEVNULL
        )
        for _ in range(400):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("bare Bolt did not listen")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


def pin(pid: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(pid, {SERVER_CPU})


# ---- the measurements -----------------------------------------------------------------------------


async def warm(sender: Sender, pid: int, w: World, name: str, asks: int, concurrency: int) -> dict[str, Any]:
    urls = [w.slack.response_url(f"{name}-warm{n}") for n in range(asks)]
    posts_before = sum(1 for c in w.slack.calls if c.method.startswith("response_url:"))
    before = cpu(pid)
    result = await sender.send([(INCIDENT, url) for url in urls], concurrency)
    used = cpu(pid) - before
    await asyncio.sleep(0.5)
    posts = sum(1 for c in w.slack.calls if c.method.startswith("response_url:")) - posts_before
    latencies = [a[1] for a in result["answers"] if a[2] == 200]
    return {
        "acks_per_s": len(latencies) / result["elapsed"],
        "cpu_per_ask": used / asks,
        "p50": median(latencies),
        "p99": percentile(latencies, 99),
        "refused": asks - len(latencies),
        "posts": posts,
    }


async def cold(
    sender: Sender, w: World, name: str, ids: list[str], asks: int, concurrency: int
) -> dict[str, Any]:
    gets_before = sum(w.api.count("GET", f"/security/incidents/{i}") for i in ids)
    routes = [f"{name}-cold{n}" for n in range(asks)]
    plan = [(ids[n % len(ids)], w.slack.response_url(routes[n])) for n in range(asks)]
    result = await sender.send(plan, concurrency)
    latencies = [a[1] for a in result["answers"] if a[2] == 200]
    card_after: list[float] = []
    if name.startswith("bot"):
        # A card rides the ack when its incident was cached by then; the others come from the job.
        posted = [n for n, answer in enumerate(result["answers"]) if answer[3] == 0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            by_route = {c.method.removeprefix("response_url:"): c.time for c in w.slack.calls}
            if all(routes[n] in by_route for n in posted):
                break
            await asyncio.sleep(0.1)
        for n, (sent, elapsed, _, length) in enumerate(result["answers"]):
            card_after.append(elapsed if length else by_route[routes[n]] - sent)
    gets = sum(w.api.count("GET", f"/security/incidents/{i}") for i in ids) - gets_before
    in_ack = sum(1 for answer in result["answers"] if answer[3])
    return {
        "p99": percentile(latencies, 99),
        "p50": median(latencies),
        "gets": gets,
        "card_p50": median(card_after),
        "in_ack": in_ack,
    }


async def run(api_latency: float, asks: int, rounds: int) -> list[tuple[str, str, str, bool | None]]:
    async with world(api_latency) as w:
        bot = BotProcess(w.bot_env(INCIDENT_CACHE_TTL="3600", INTAKE_CONCURRENCY="64"), free_port())
        bolt = BareBolt(w, free_port())
        try:
            await bot.start()
            await bolt.start()
            return await measure(w, bot, bolt, api_latency, asks, rounds)
        finally:
            await bolt.stop()
            await bot.kill()


async def measure(
    w: World, bot: BotProcess, bolt: BareBolt, api_latency: float, asks: int, rounds: int
) -> list[tuple[str, str, str, bool | None]]:
    """Both servers pinned to one core; warm rounds alternate between them, then the cold burst."""
    assert bot.pid is not None
    pin(bot.pid)
    pin(bolt.pid)
    rows: list[tuple[str, str, str, bool | None]] = []
    ms = int(api_latency * 1000)
    async with aiohttp.ClientSession() as http:  # the bot's cache warmed by one ask
        await SlackSender(http, bot.url).command(INCIDENT, w.slack.response_url("warm-up"))
        await w.slack.wait_for("response_url:warm-up", timeout=30)
    senders = {"bot": await Sender.start(bot.port), "bolt": await Sender.start(bolt.port)}
    pids = {"bot": bot.pid, "bolt": bolt.pid}
    await senders["bolt"].send([(INCIDENT, w.slack.response_url("bolt-warm-up"))] * 50, 8)  # auth.test
    found: dict[str, list[dict[str, Any]]] = {"bot": [], "bolt": []}
    for _ in range(rounds):
        for name in ("bot", "bolt"):
            found[name].append(await warm(senders[name], pids[name], w, name, asks, 32))
    best = {name: max(found[name], key=lambda r: r["acks_per_s"]) for name in found}
    cpu_med = {name: median([r["cpu_per_ask"] for r in found[name]]) for name in found}
    ratio = best["bot"]["acks_per_s"] / best["bolt"]["acks_per_s"]
    cpu_ratio = cpu_med["bot"] / cpu_med["bolt"]
    speeds = " / ".join(f"{r['acks_per_s']:.0f}" for r in found["bot"])
    base_speeds = " / ".join(f"{r['acks_per_s']:.0f}" for r in found["bolt"])
    rows += [
        (f"API {ms} ms · warm acks/s, bot (each round)", "—", speeds, None),
        (f"API {ms} ms · warm acks/s, bare Bolt (each round)", "—", base_speeds, None),
        (
            f"API {ms} ms · warm acks/s, bot ÷ bare Bolt (best rounds)",
            "≥ 0.8",
            f"{ratio:.2f}",
            ratio >= 0.8,
        ),
        (
            f"API {ms} ms · CPU per warm /incident, bot / bare Bolt (median)",
            "bot ≤ 1.3× Bolt",
            f"{cpu_med['bot'] * 1e6:.0f} µs / {cpu_med['bolt'] * 1e6:.0f} µs ({cpu_ratio:.2f}×)",
            cpu_ratio <= 1.3,
        ),
        (
            f"API {ms} ms · warm ack p50 / p99, bot vs bare Bolt (best round)",
            "—",
            f"{best['bot']['p50'] * 1e3:.1f} / {best['bot']['p99'] * 1e3:.1f} ms vs "
            f"{best['bolt']['p50'] * 1e3:.1f} / {best['bolt']['p99'] * 1e3:.1f} ms",
            None,
        ),
        (
            f"API {ms} ms · the warm card at Slack after the ack",
            "p50 ≤ 2 ms",
            "in the ack (0 ms): "
            f"{sum(r['posts'] for r in found['bot'])} response_url posts for {rounds * asks} asks",
            all(r["posts"] == 0 for r in found["bot"]),
        ),
    ]
    # Cold: at the warm phase's concurrency (32), and as one burst of all 200 at once.
    for n, concurrency in enumerate((32, 200)):
        base = 8_100_000 + int(api_latency * 1000) * 10 + n * 100
        ids, other = w.add_copies(20, first_id=base), w.add_copies(20, first_id=base + 50)
        bot_cold = await cold(senders["bot"], w, f"bot{n}", ids, 200, concurrency)
        bolt_cold = await cold(senders["bolt"], w, f"bolt{n}", other, 200, concurrency)
        how = f"API {ms} ms · cold, concurrency {concurrency}"
        rows += [
            (
                f"{how}: API GETs for 200 asks over 20 ids",
                "= 20",
                str(bot_cold["gets"]),
                bot_cold["gets"] == 20,
            ),
            (
                f"{how}: ack p50 / p99, bot vs bare Bolt",
                "p99: bot ≤ Bolt",
                f"{bot_cold['p50'] * 1e3:.1f} / {bot_cold['p99'] * 1e3:.1f} ms vs "
                f"{bolt_cold['p50'] * 1e3:.1f} / {bolt_cold['p99'] * 1e3:.1f} ms",
                bot_cold["p99"] <= bolt_cold["p99"],
            ),
            (
                f"{how}: the cards at Slack after the ask, p50 (cards in the ack)",
                f"≤ {ms + 75} ms",
                f"{bot_cold['card_p50'] * 1e3:.0f} ms ({bot_cold['in_ack']} of 200)",
                bot_cold["card_p50"] <= api_latency + 0.075,
            ),
        ]
    rows.append(
        (
            f"API {ms} ms · peak RSS, bot / bare Bolt",
            "bot < 150 MB",
            f"{peak_rss_mb(bot.pid):.0f} / {peak_rss_mb(bolt.pid):.0f} MB",
            peak_rss_mb(bot.pid) < 150,
        )
    )
    for sender in senders.values():
        await sender.stop()
    return rows


async def main(args: argparse.Namespace) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {OTHERS_CPU})
    rows = []
    for latency in (0.0, 0.4):
        rows += await run(latency, args.asks, args.rounds)
    print(f"warm /incident: {args.asks} asks a round, concurrency 32, {args.rounds} rounds each, "
          f"servers on CPU {SERVER_CPU}, fakes and senders on CPU {OTHERS_CPU}\n")  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sender", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--asks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if options.sender:
        sender_main(options.sender)
    else:
        asyncio.run(main(options))
