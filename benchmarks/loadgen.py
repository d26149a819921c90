"""A lean Slack-side load generator, run as its own process: `python -m benchmarks.loadgen < plan.json`.

Slack's servers do not share the bot's CPU. A generator written on aiohttp's client, in the
process that also runs the fakes, spends about 0.7 ms of its own CPU per request on this machine;
in a burst of 100 sends, the first requests' answers then wait for the generator to finish
sending the last ones, and that wait is counted as the bot's ack latency. This one signs every
request before the clock starts, keeps one open keep-alive connection per concurrent request,
and writes and reads raw HTTP/1.1 on asyncio streams (the way wrk does), so what it measures is
the bot's answer.

Input (JSON on stdin): {"replicas": [port, ...], "bursts": [[event, ...], ...], "pause": s,
"secret": signing secret}; an event is {"body": str, "to": [replica index, ...]}: it goes to each
replica in turn, the next send right after the previous ack, all but the first with
X-Slack-Retry-Num: 1. Output (JSON on stdout): {"by_burst": [[ack seconds, ...], ...], "refused": n,
"sent_at": {message ts: time.monotonic() of the first send}, "acked": [message ts, ...]} (the
monotonic clock is the machine's, so the caller can compare it with its own).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from slack_sdk.signature import SignatureVerifier

PATH = "/slack/events"


def request_bytes(port: int, body: str, secret: str, retry: bool) -> bytes:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    raw = body.encode()
    head = [
        f"POST {PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(raw)}",
        f"X-Slack-Request-Timestamp: {timestamp}",
        f"X-Slack-Signature: {signature}",
    ]
    if retry:
        head += ["X-Slack-Retry-Num: 1", "X-Slack-Retry-Reason: http_timeout"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + raw


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Read one whole HTTP/1.1 answer off a kept-alive connection: (status, body bytes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1]), length


class Connections:
    """Open keep-alive connections to one replica, lent out one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self, count: int) -> None:
        for _ in range(count):
            self.idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))

    async def send(self, request: bytes) -> tuple[int, float]:
        """(HTTP status, seconds from the write to the whole answer); status 0 if the connection broke."""
        reader, writer = await self.idle.get()
        started = time.perf_counter()
        try:
            writer.write(request)
            status, _ = await read_answer(reader)
            elapsed = time.perf_counter() - started
            self.idle.put_nowait((reader, writer))
            return status, elapsed
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            self.idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
            return 0, time.perf_counter() - started

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    ports: list[int] = plan["replicas"]
    secret: str = plan["secret"]
    bursts: list[list[dict[str, Any]]] = plan["bursts"]
    most = max((len(burst) for burst in bursts), default=1)
    pools = [Connections(port) for port in ports]
    for pool in pools:
        await pool.open(most)
    # Everything signed before the clock starts, as Slack's own requests arrive ready-made.
    prepared = [
        [
            (
                json.loads(event["body"])["event"]["message_ts"],
                [
                    (pools[to], request_bytes(ports[to], event["body"], secret, retry=n > 0))
                    for n, to in enumerate(event["to"])
                ],
            )
            for event in burst
        ]
        for burst in bursts
    ]
    by_burst: list[list[float]] = []
    refused = 0
    sent_at: dict[str, float] = {}
    acked: set[str] = set()

    async def deliver(ts: str, sends: list[tuple[Connections, bytes]]) -> None:
        nonlocal refused
        sent_at[ts] = time.monotonic()
        for pool, request in sends:
            status, elapsed = await pool.send(request)
            if status == 200:
                by_burst[-1].append(elapsed)
                acked.add(ts)
            else:
                refused += 1

    for burst in prepared:
        by_burst.append([])
        await asyncio.gather(*(deliver(ts, sends) for ts, sends in burst))
        await asyncio.sleep(plan["pause"])
    for pool in pools:
        await pool.close()
    return {"by_burst": by_burst, "refused": refused, "sent_at": sent_at, "acked": sorted(acked)}


def main() -> None:
    plan = json.load(sys.stdin)
    json.dump(asyncio.run(run(plan)), sys.stdout)


if __name__ == "__main__":
    main()
