"""Hostile input: 1,000 unsigned junk requests beside a steady stream of signed `/incident`.

Run from the repository root: `python -m benchmarks.junk_flood`. One bot process (`python -m bot`,
HTTP mode, in-memory cache and intake: tests.world.BotProcess) against the loopback fakes (Entra,
the incident API, Slack) in this process. The signed slash commands are sent from this process with
tests.world.SlackSender (aiohttp). The junk comes from a child process of this module
(`--junk-sender`, driven over stdin/stdout) that writes raw HTTP/1.1 on keep-alive connections, as
benchmarks/loadgen.py does: it can send what an HTTP client will not (non-ASCII header bytes), and
its CPU is not this process's.

Phases, in this order:

- A: signed `/incident 2972395` (cached after the warm-up) at 50/s for 10 s: ack latencies, bot CPU;
- B: the same stream, with the 1,000 junk requests (a mix of 13 kinds) spread evenly over it;
- A': the baseline again (how far two identical phases differ on this machine);
- B': the same stream, with the 1,000 junk requests as one burst (50 at a time) 2 s into it;
- C: junk only, the 1,000 of the mix 20 at a time: bot CPU per junk request; then each kind alone;
- D: signed only, 1,000 `/incident` 10 at a time (the job, its card and the response_url post
  included), then 1,000 `/incident help` (answered in the ack, no job): bot CPU per signed request.

CPU is the bot process's time on a CPU from the start of a phase until its last answer (and, for
`/incident`, its last response_url post) has arrived: the sum of its threads' /proc schedstat run
times (nanoseconds), or harness.cpu_seconds (user + system, 10 ms ticks) where schedstat is missing.
Memory is the bot's VmRSS and VmHWM (peak) after each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

from benchmarks.harness import World, as_ms, cpu_seconds, percentile, table, world
from benchmarks.load import wait_ready
from tests.world import SIGNING_SECRET, SlackSender

INCIDENT = "2972395"
PATH = "/slack/events"
API_LATENCY = 0.2
TOO_LARGE = 2 * 1024**2  # the bot reads at most 1 MiB (client_max_size)
NESTING = 50_000  # depth of the nested JSON junk: 100 KB of brackets, far past json's recursion limit

# ---- the junk ------------------------------------------------------------------------------------

Headers = list[tuple[str, bytes]]


def _now() -> bytes:
    return str(int(time.time())).encode()


def _forged(rng: random.Random) -> bytes:
    """The right shape (v0= and 64 hex digits), the wrong secret: the bot computes the HMAC to know."""
    return b"v0=" + rng.randbytes(32).hex().encode()


def _event_body(rng: random.Random) -> bytes:
    return json.dumps(
        {"type": "event_callback", "event_id": f"Ev{rng.randrange(10**9)}", "event": {"type": "app_mention"}}
    ).encode()


def _signed_headers(ts: bytes, sig: bytes) -> Headers:
    return [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", sig)]


def _stale(rng: random.Random, secret: str) -> tuple[str, Headers, bytes]:
    """A request once signed with the right secret, replayed ten minutes later."""
    body = _event_body(rng)
    ts = str(int(time.time()) - 600)
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    return "application/json", _signed_headers(ts.encode(), sig.encode()), body


def _signed_nested(_: random.Random, secret: str) -> tuple[str, Headers, bytes]:
    """For reference, not junk: correctly signed, but nested past the JSON decoder's depth (400)."""
    body = b"[" * NESTING + b"]" * NESTING
    ts = str(int(time.time()))
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    return "application/json", _signed_headers(ts.encode(), sig.encode()), body


Builder = Callable[[random.Random, str], tuple[str, Headers, bytes]]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# name → (what the kind is, the status the door should answer, how to build one request)
JUNK: dict[str, tuple[str, int, Builder]] = {
    "no_headers": (
        "JSON event, no signature headers",
        401,
        lambda rng, _: (JSON, [], _event_body(rng)),
    ),
    "forged": (
        "JSON event, forged signature (right shape, wrong secret)",
        401,
        lambda rng, _: (JSON, _signed_headers(_now(), _forged(rng)), _event_body(rng)),
    ),
    "ts_text": (
        "non-numeric timestamp",
        401,
        lambda rng, _: (JSON, _signed_headers(b"yesterday", _forged(rng)), _event_body(rng)),
    ),
    "ts_fraction": (
        "fractional timestamp",
        401,
        lambda rng, _: (JSON, _signed_headers(_now() + b".5", _forged(rng)), _event_body(rng)),
    ),
    "ts_stale": ("stale timestamp (a correctly signed request replayed 10 min later)", 401, _stale),
    "sig_non_ascii": (
        "non-ASCII signature (UTF-8 bytes in the header)",
        401,
        lambda rng, _: (JSON, _signed_headers(_now(), "v0=é".encode() + b"\xff" * 61), _event_body(rng)),
    ),
    "body_non_utf8": (
        "non-UTF-8 body (1 KB), forged signature",
        400,
        lambda rng, _: (JSON, _signed_headers(_now(), _forged(rng)), b"\xff\xfe" + rng.randbytes(1022)),
    ),
    "json_array": (
        "JSON array body, forged signature",
        401,
        lambda rng, _: (JSON, _signed_headers(_now(), _forged(rng)), b"[1, 2, 3]"),
    ),
    "json_null": (
        "JSON null body, forged signature",
        401,
        lambda rng, _: (JSON, _signed_headers(_now(), _forged(rng)), b"null"),
    ),
    "json_nested": (
        f"JSON nested {NESTING:,} deep (100 KB), forged signature",
        401,
        lambda rng, _: (JSON, _signed_headers(_now(), _forged(rng)), b"[" * NESTING + b"]" * NESTING),
    ),
    "payload_not_json": (
        "form with payload= not JSON, forged signature",
        401,
        lambda rng, _: (FORM, _signed_headers(_now(), _forged(rng)), b"payload=%7Bnot+json"),
    ),
    "too_large": (
        "2 MB body, forged signature",
        413,
        lambda rng, _: (JSON, _signed_headers(_now(), _forged(rng)), b'{"a": "' + b"x" * TOO_LARGE + b'"}'),
    ),
    "random_bytes": (
        "random bytes (1–4 KB), random headers",
        400,
        lambda rng, _: (
            "application/octet-stream",
            _signed_headers(rng.randbytes(8).hex().encode(), rng.randbytes(40).hex().encode()),
            rng.randbytes(rng.randrange(1024, 4096)),
        ),
    ),
}
MIX = list(JUNK)  # the 1,000 of phases B, B' and C cycle through these
REFERENCE: dict[str, tuple[str, int, Builder]] = {
    "signed_nested": ("for reference: correctly signed, JSON nested too deep to parse", 400, _signed_nested),
}


def raw_request(port: int, content_type: str, headers: Headers, body: bytes) -> bytes:
    head = [
        f"POST {PATH} HTTP/1.1".encode(),
        f"Host: 127.0.0.1:{port}".encode(),
        f"Content-Type: {content_type}".encode(),
        f"Content-Length: {len(body)}".encode(),
    ] + [name.encode() + b": " + value for name, value in headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# ---- the junk sender (a child process) -----------------------------------------------------------


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Connections:
    """Keep-alive connections to the bot, lent out one request at a time (reopened when closed).

    Each connection sends a `GET /healthz` as soon as it is open: the bot gives a connection's first
    request head HEADER_TIMEOUT_SECONDS from the opening (slowloris), and these wait for a phase.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: asyncio.Queue[tuple[Stream, int]] = asyncio.Queue()  # and its last answer's status
        self.reopened = 0

    async def open(self, count: int) -> None:
        for _ in range(count):
            self.idle.put_nowait((await self._connect(), 200))

    async def _connect(self) -> Stream:
        stream = await asyncio.open_connection("127.0.0.1", self.port)
        status, keep = await self._exchange(
            stream, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        )
        if status != 200 or not keep:
            raise RuntimeError(f"GET /healthz answered {status}")
        return stream

    @staticmethod
    async def _exchange(stream: Stream, request: bytes) -> tuple[int, bool]:
        """(HTTP status or 0 if the connection broke, whether it stays open)."""
        reader, writer = stream
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length, keep = 0, True
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep = False
            if length:
                await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            return 0, False
        return status, keep

    async def send(self, request: bytes) -> tuple[int, float, int]:
        """(HTTP status, seconds from the write to the whole answer, the status of the connection's
        previous answer); status 0 if the connection broke."""
        stream, previous = await self.idle.get()
        started = time.perf_counter()
        status, keep = await self._exchange(stream, request)
        elapsed = time.perf_counter() - started
        if keep:
            self.idle.put_nowait((stream, status))
        else:
            stream[1].close()
            self.reopened += 1
            self.idle.put_nowait((await self._connect(), 200))
        return status, elapsed, previous


async def send_junk(pool: Connections, command: dict[str, Any], secret: str) -> dict[str, Any]:
    """Send the command's kinds (all prepared first), paced at `rate` per second or as fast as
    `concurrency` allows, from time.monotonic() `at`; statuses and answer times by kind."""
    rng = random.Random(command.get("seed", 13))
    kinds: list[str] = command["kinds"]
    every = {**JUNK, **REFERENCE}
    shared: dict[str, bytes] = {}  # one 2 MB request serves all of a command's (its signature is junk anyway)

    def build(kind: str) -> bytes:
        if kind in shared:
            return shared[kind]
        request = raw_request(pool.port, *every[kind][2](rng, secret))
        if kind == "too_large":
            shared[kind] = request
        return request

    prepared = [(kind, build(kind)) for kind in kinds]
    rate: float | None = command.get("rate")
    gate = asyncio.Semaphore(command.get("concurrency", 20))
    statuses: dict[str, Counter[int]] = {kind: Counter() for kind in kinds}
    answers: dict[str, list[float]] = {kind: [] for kind in kinds}
    after_413: Counter[int] = Counter()  # statuses of requests on a connection whose last answer was 413

    async def one(kind: str, request: bytes) -> None:
        async with gate:
            status, elapsed, previous = await pool.send(request)
        statuses[kind][status] += 1
        answers[kind].append(elapsed)
        if previous == 413:
            after_413[status] += 1

    if command.get("at") is not None:
        await asyncio.sleep(max(0.0, command["at"] - time.monotonic()))
    started = time.monotonic()
    tasks = []
    for n, (kind, request) in enumerate(prepared):
        if rate:
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(kind, request)))
        if not rate and n % 50 == 49:
            await asyncio.sleep(0)  # let the first ones go out while the rest are queued
    await asyncio.gather(*tasks)
    return {
        "started": started,
        "ended": time.monotonic(),
        "statuses": {kind: {str(s): c for s, c in counts.items()} for kind, counts in statuses.items()},
        "answer_p50": {kind: percentile(values, 50) for kind, values in answers.items()},
        "reopened": pool.reopened,
        "after_413": {str(status): n for status, n in after_413.items()},
    }


async def junk_sender(port: int, secret: str, connections: int) -> None:
    """Child process: one JSON command a line on stdin, one JSON answer a line on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pool = Connections(port)
    await pool.open(connections)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        answer = await send_junk(pool, json.loads(line), secret)
        print(json.dumps(answer), flush=True)


class JunkSender:
    """The parent's end of the child process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, port: int, connections: int = 50) -> JunkSender:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.junk_flood", "--junk-sender", str(port),
            "--connections", str(connections),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        sender = cls(process)
        await sender._answer()
        return sender

    async def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the junk sender exited ({await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def send(self, kinds: list[str], **options: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"kinds": kinds, **options}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._answer()

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 10)


# ---- the signed stream ---------------------------------------------------------------------------


@dataclass
class Signed:
    """Signed requests of one phase: (monotonic time sent, seconds to the ack) and any other status."""

    acks: list[tuple[float, float]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def latencies(self) -> list[float]:
        return [elapsed for _, elapsed in self.acks]

    def between(self, start: float, end: float) -> list[float]:
        return [elapsed for sent, elapsed in self.acks if start <= sent <= end]


async def signed_stream(
    sender: SlackSender,
    response_url: str,
    *,
    count: int,
    rate: float | None,
    concurrency: int,
    at: float,
    text: str = INCIDENT,
) -> Signed:
    """`/incident <text>` `count` times from monotonic `at`, paced at `rate`/s (None: back to back)."""
    result = Signed()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            sent = time.monotonic()
            try:
                answer = await sender.command(text, response_url)
            except aiohttp.ClientError:
                result.statuses[0] += 1
                return
        result.statuses[answer.status] += 1
        if answer.status == 200:
            result.acks.append((sent, answer.elapsed))

    await asyncio.sleep(max(0.0, at - time.monotonic()))
    tasks = []
    for n in range(count):
        if rate:
            await asyncio.sleep(max(0.0, at + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return result


async def posts_arrived(w: World, name: str, count: int, within: float = 60.0) -> None:
    """Until `count` posts to response_url `name` have arrived (the jobs are done)."""
    method = f"response_url:{name}"
    deadline = time.monotonic() + within
    while sum(1 for call in w.slack.calls if call.method == method) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} posts to {name}")
        await asyncio.sleep(0.05)


# ---- the bot process's CPU and memory -----------------------------------------------------------


def bot_cpu(pid: int | None) -> float | None:
    """Seconds on a CPU of all of `pid`'s threads (schedstat, ns); harness.cpu_seconds without it."""
    if pid is None:
        return None
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
                total += int((task / "schedstat").read_text().split()[0])
    except OSError:
        return cpu_seconds(pid)
    return total / 1e9


def bot_memory(pid: int | None) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    sizes = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
    return int(sizes["VmRSS"]) / 1024, int(sizes["VmHWM"]) / 1024


# ---- the run -------------------------------------------------------------------------------------


@dataclass
class Phase:
    signed: Signed | None = None
    junk: dict[str, Any] | None = None
    cpu: float | None = None
    requests: int = 0
    memory: tuple[float, float] | None = None


def cpu_between(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def run(w: World, args: argparse.Namespace) -> dict[str, Any]:
    bot = await w.start_bot(INCIDENT_CACHE_TTL="3600", LOG_LEVEL="WARNING")
    phases: dict[str, Phase] = {}
    per_kind: dict[str, Phase] = {}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http:
            await wait_ready(http, bot)
            sender = SlackSender(http, bot.url)
            await sender.command(INCIDENT, w.slack.response_url("warm"))  # token and cache warm
            await posts_arrived(w, "warm", 1)
            warm_memory = bot_memory(bot.pid)
            run_cpu = (bot_cpu(bot.pid), cpu_seconds(bot.pid))
            junk = await JunkSender.start(bot.port)
            mix = [MIX[n % len(MIX)] for n in range(args.junk)]
            idle_before = bot_cpu(bot.pid)
            await asyncio.sleep(2.0)
            idle = cpu_between(idle_before, bot_cpu(bot.pid))

            async def stream_phase(name: str, junk_options: dict[str, Any] | None) -> None:
                at = time.monotonic() + 0.3
                count = round(args.rate * args.seconds)
                cpu_before = bot_cpu(bot.pid)
                stream = signed_stream(
                    sender, w.slack.response_url(name), count=count, rate=args.rate,
                    concurrency=args.concurrency, at=at,
                )  # fmt: skip
                if junk_options is None:
                    signed, flood = await stream, None
                else:
                    options = dict(junk_options)
                    flooding = junk.send(mix, at=at + options.pop("delay", 0.0), **options)
                    signed, flood = await asyncio.gather(stream, flooding)
                await posts_arrived(w, name, len(signed.acks))
                cpu = cpu_between(cpu_before, bot_cpu(bot.pid))
                requests = count + (args.junk if flood else 0)
                phases[name] = Phase(signed, flood, cpu, requests, bot_memory(bot.pid))

            await stream_phase("A", None)
            await stream_phase("B", {"rate": args.junk / args.seconds, "concurrency": 20, "seed": 1})
            await stream_phase("A'", None)
            await stream_phase("B'", {"delay": 2.0, "concurrency": 50, "seed": 2})

            async def junk_phase(kinds: list[str], seed: int) -> Phase:
                at = time.monotonic() + 0.3
                cpu_before = bot_cpu(bot.pid)
                flood = await junk.send(kinds, at=at, concurrency=20, seed=seed)
                cpu = cpu_between(cpu_before, bot_cpu(bot.pid))
                return Phase(None, flood, cpu, len(kinds), bot_memory(bot.pid))

            phases["C"] = await junk_phase(mix, seed=3)
            for n, kind in enumerate([*MIX, *REFERENCE]):
                per_kind[kind] = await junk_phase([kind] * args.per_kind, seed=100 + n)

            async def signed_phase(name: str, text: str, job: bool) -> None:
                cpu_before = bot_cpu(bot.pid)
                signed = await signed_stream(
                    sender, w.slack.response_url(name), count=args.signed, rate=None,
                    concurrency=10, at=time.monotonic(), text=text,
                )  # fmt: skip
                if job:
                    await posts_arrived(w, name, len(signed.acks))
                cpu = cpu_between(cpu_before, bot_cpu(bot.pid))
                phases[name] = Phase(signed, None, cpu, args.signed, bot_memory(bot.pid))

            await signed_phase("D", INCIDENT, job=True)
            await signed_phase("D help", "help", job=False)
            await junk.stop()
            run_cpu = (
                cpu_between(run_cpu[0], bot_cpu(bot.pid)),
                cpu_between(run_cpu[1], cpu_seconds(bot.pid)),
            )
            async with http.get(f"http://127.0.0.1:{bot.port}/metrics") as response:
                page = await response.text()
    finally:
        await bot.terminate()
    rejected = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^incident_bot_rejected_requests_total\{reason="([^"]+)"\} (\S+)$', page, re.M)
    }
    return {
        "phases": phases,
        "per_kind": per_kind,
        "rejected": rejected,
        "warm_memory": warm_memory,
        "idle": idle,
        "run_cpu": run_cpu,
    }


# ---- the report ----------------------------------------------------------------------------------

# the status of a refusal → its reason in incident_bot_rejected_requests_total
REASON = {401: "signature", 400: "unreadable", 413: "too_large", 408: "slow_header"}


def within_noise(measured: float, baseline: float) -> bool:
    """The rule for "unchanged": at most 5 ms or 20 % above the baseline, whichever is larger."""
    return measured <= baseline + max(0.005, 0.2 * baseline)


def statuses_of(*answers: dict[str, Any] | None) -> Counter[int]:
    total: Counter[int] = Counter()
    for answer in answers:
        for counts in (answer or {}).get("statuses", {}).values():
            total.update({int(status): n for status, n in counts.items()})
    return total


def per_request(phase: Phase) -> float:
    return float("nan") if phase.cpu is None else phase.cpu / phase.requests


def as_us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def p50_p99(values: list[float]) -> str:
    return f"{as_ms(percentile(values, 50))} / {as_ms(percentile(values, 99))} (n={len(values)})"


def rss(memory: tuple[float, float] | None) -> str:
    return "?" if memory is None else f"{memory[0]:.0f}"


PEAK_RSS = 150.0  # MB, the target benchmarks/load.py sets for a replica


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    phases: dict[str, Phase] = result["phases"]
    per_kind: dict[str, Phase] = result["per_kind"]
    a, b, a2, b2, c, d, h = (phases[k] for k in ("A", "B", "A'", "B'", "C", "D", "D help"))
    assert a.signed and b.signed and a2.signed and b2.signed and d.signed and h.signed
    assert b.junk and b2.junk and c.junk
    p99 = {name: percentile(p.signed.latencies, 99) for name, p in phases.items() if p.signed}
    burst = b2.signed.between(b2.junk["started"], b2.junk["ended"])
    junk = statuses_of(b.junk, b2.junk, c.junk, *(p.junk for p in per_kind.values()))
    signed: Counter[int] = Counter()
    for phase in phases.values():
        if phase.signed:
            signed.update(phase.signed.statuses)
    fives = sum(n for status, n in (junk + signed).items() if status >= 500)
    unanswered = junk[0] + signed[0]
    expected = {reason: float(junk[status]) for status, reason in REASON.items()}
    rejected: dict[str, float] = result["rejected"]
    floods = [p.junk for p in (b, b2, c, *per_kind.values()) if p.junk]
    every = {**JUNK, **REFERENCE}
    unexpected: dict[str, Counter[str]] = {}
    for flood in floods:
        for kind, counts in flood["statuses"].items():
            odd = Counter({status: n for status, n in counts.items() if status != str(every[kind][1])})
            if odd:
                unexpected[kind] = unexpected.get(kind, Counter()) + odd
    late = sum(int(flood.get("after_413", {}).get("408", 0)) for flood in floods)
    unexplained = sum(n for counts in unexpected.values() for n in counts.values()) - late
    span = b2.junk["ended"] - b2.junk["started"]
    rule = "≤ baseline p99 + max(5 ms, 20 %)"
    paced_signed = per_request(a)
    paced_junk = float("nan") if a.cpu is None or b.cpu is None else (b.cpu - a.cpu) / args.junk
    unsigned_kinds = {kind: per_request(per_kind[kind]) for kind in MIX}
    dearest = max(unsigned_kinds, key=lambda kind: unsigned_kinds[kind])
    small = {kind: cost for kind, cost in unsigned_kinds.items() if kind != "too_large"}
    after = [("warm-up", result["warm_memory"])] + [
        (name, phases[name].memory) for name in ("A", "B", "A'", "B'", "C")
    ]
    after += [(f"{kind} alone", per_kind[kind].memory) for kind in ("too_large",)]
    after += [("end", h.memory)]
    peak = h.memory[1] if h.memory else float("nan")
    run_cpu: tuple[float | None, float | None] = result["run_cpu"]

    def seconds(value: float | None) -> str:
        return "?" if value is None else f"{value:.2f} s"

    rows: list[tuple[str, str, str, bool | None]] = [
        ("A: signed /incident ack p50 / p99, no junk", "—", p50_p99(a.signed.latencies), None),
        (
            f"B: same, {args.junk} junk spread over it ({args.junk / args.seconds:.0f}/s, 20 at a time)",
            rule + " (A)",
            p50_p99(b.signed.latencies),
            within_noise(p99["B"], p99["A"]),
        ),
        ("A': no junk again (the baseline's own spread)", "—", p50_p99(a2.signed.latencies), None),
        (
            f"B': same, {args.junk} junk as one burst (50 at a time, sent in {span * 1000:.0f} ms)",
            rule + " (A')",
            p50_p99(b2.signed.latencies),
            within_noise(p99["B'"], p99["A'"]),
        ),
        ("B': the signed acks sent during that burst, p50 / p99", "—", p50_p99(burst), None),
        (
            "bot CPU over the phase: A / B / A' / B'",
            "—",
            " / ".join(seconds(p.cpu) for p in (a, b, a2, b2)),
            None,
        ),
        ("A: bot CPU per signed /incident at 50/s (job included)", "—", as_us(paced_signed), None),
        (
            "B − A: bot CPU per junk request at 100/s",
            "< A's per signed",
            as_us(paced_junk),
            paced_junk < paced_signed,
        ),
        (
            f"C: bot CPU per junk request ({c.requests} of the mix at once, 20 at a time)",
            "< D's per signed",
            as_us(per_request(c)),
            per_request(c) < per_request(d),
        ),
        (
            f"D: bot CPU per signed /incident ({d.requests}, 10 at a time; job, card, response_url)",
            "—",
            as_us(per_request(d)),
            None,
        ),
        (
            f"D: bot CPU per signed /incident help ({h.requests}; answered in the ack, no job)",
            "—",
            as_us(per_request(h)),
            None,
        ),
        (
            f"dearest junk kind alone ({args.per_kind}, 20 at a time): {dearest}",
            "< D's per signed",
            as_us(unsigned_kinds[dearest]),
            unsigned_kinds[dearest] < per_request(d),
        ),
        (
            "junk kinds alone, other than the 2 MB body: cheapest … dearest",
            "< D's per signed",
            f"{as_us(min(small.values()))} … {as_us(max(small.values()))}",
            max(small.values()) < per_request(d),
        ),
        (
            "junk answers (B, B', C, each kind alone), by status",
            "4xx only",
            ", ".join(f"{s}: {n}" for s, n in sorted(junk.items())),
            all(400 <= s < 500 for s in junk),
        ),
        ("5xx answers, junk and signed", "0", str(fives), fives == 0),
        ("requests with no answer (connection broken)", "0", str(unanswered), unanswered == 0),
        (
            "junk answered other than its kind's status (listed), less the 408s of the next row",
            "0",
            f"{unexplained}"
            + (
                ""
                if not unexpected
                else " (" + "; ".join(f"{k}: {dict(v)}" for k, v in unexpected.items()) + ")"
            ),
            unexplained == 0,
        ),
        (
            "408 (slow_header) on a connection whose previous answer was a 413, of any kind",
            "0",
            str(late),
            late == 0,
        ),
        (
            "incident_bot_rejected_requests_total by reason",
            "signature = 401s, unreadable = 400s, too_large = 413s, slow_header = 408s, others 0",
            ", ".join(f"{reason}: {n:.0f}" for reason, n in sorted(rejected.items()))
            + " (answers: "
            + ", ".join(f"{status}: {n}" for status, n in sorted(junk.items()))
            + ")",
            all(rejected.get(r, 0) == expected[r] for r in REASON.values())
            and all(n == 0 for r, n in rejected.items() if r not in REASON.values()),
        ),
        (
            "signed answers other than 200",
            "0",
            str(sum(n for s, n in signed.items() if s != 200)),
            set(signed) <= {200},
        ),
        (
            "bot RSS after " + ", ".join(name for name, _ in after),
            "—",
            " / ".join(rss(memory) for _, memory in after) + " MB",
            None,
        ),
        ("bot peak RSS (VmHWM)", f"< {PEAK_RSS:.0f} MB", f"{peak:.0f} MB", peak < PEAK_RSS),
        (
            "bot CPU, 2 s idle / whole run (schedstat; /proc stat ticks)",
            "—",
            f"{seconds(result['idle'])} / {seconds(run_cpu[0])} ({seconds(run_cpu[1])})",
            None,
        ),
    ]
    kinds: list[tuple[str, str, str, bool | None]] = []
    for kind, phase in per_kind.items():
        text, status, _ = {**JUNK, **REFERENCE}[kind]
        assert phase.junk is not None
        counts = phase.junk["statuses"][kind]
        kinds.append(
            (
                f"`{kind}`: {text}",
                str(status),
                f"{as_us(per_request(phase))}; answered {', '.join(f'{s} ×{n}' for s, n in counts.items())}; "
                f"answer p50 {as_ms(phase.junk['answer_p50'][kind])}; RSS after {rss(phase.memory)} MB",
                set(counts) == {str(status)},
            )
        )
    return (
        table(rows)
        + f"\n\nBot CPU per request by kind ({args.per_kind} of one kind, 20 at a time; the kinds in this "
        "order, so RSS is cumulative):\n\n" + table(kinds)
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0, help="signed /incident per second in A and B")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of phases A, B, A', B'")
    parser.add_argument("--concurrency", type=int, default=20, help="signed requests in flight, at most")
    parser.add_argument("--junk", type=int, default=1000, help="junk requests in B, B' and C")
    parser.add_argument("--signed", type=int, default=1000, help="signed requests in D (each of two)")
    parser.add_argument("--per-kind", type=int, default=300, help="requests of each kind alone")
    parser.add_argument("--junk-sender", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=50, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.junk_sender:
        await junk_sender(args.junk_sender, SIGNING_SECRET, args.connections)
        return
    started = time.monotonic()
    async with world(api_latency=API_LATENCY) as w:
        result = await run(w, args)
    print(
        f"one bot process (HTTP, memory cache and intake); signed /incident {INCIDENT} (cached) at "
        f"{args.rate:g}/s for {args.seconds:g} s per phase; {args.junk} junk requests of {len(MIX)} kinds; "
        f"the junk from a child process on keep-alive connections; run took "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print(report(result, args))


if __name__ == "__main__":
    asyncio.run(main())
