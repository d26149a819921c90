"""Slow clients against the bot's real HTTP server on loopback: a head or a body that comes too slowly
is cut off (a 408, the connection closed, a count in /metrics, no traceback), and normal clients,
keep-alive included, are served as before.

The deadlines are short here (0.5 s); the assertions on time leave several seconds of margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator

import pytest

from tests.listeners import conftest as listeners
from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.listeners.test_ingress import metrics_page, rejected, signed

HEAD_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
# For tests whose first head must arrive in time: the clock starts at the server's accept, and a
# loaded CI machine has stalled the one event loop (client and server both) for over 0.5 s there.
ROOMY_HEAD_TIMEOUT = 2.0
MARGIN = 5.0  # a cut-off comes within the deadline plus this, however loaded the machine

fake_slack = listeners.fake_slack
start_world = listeners.start_world

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def world(start_world: WorldFactory) -> SlackWorld:
    return await start_world(header_timeout_seconds=HEAD_TIMEOUT, body_timeout_seconds=BODY_TIMEOUT)


@pytest.fixture
async def roomy_world(start_world: WorldFactory) -> SlackWorld:
    return await start_world(header_timeout_seconds=ROOMY_HEAD_TIMEOUT, body_timeout_seconds=BODY_TIMEOUT)


@contextlib.asynccontextmanager
async def connection(world: SlackWorld) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", world.bot.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    """What the server sent until it closed the connection (a reset after its answer is a close too)."""
    data = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(4096):
            data += chunk
    return data


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """One response on a kept-alive connection: its status, head and body (by Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MARGIN)
    length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
    assert length is not None, head
    body = await asyncio.wait_for(reader.readexactly(int(length.group(1))), MARGIN)
    return int(head.split()[1]), head, body


async def trickle_head(world: SlackWorld, every: float = 0.1) -> tuple[bytes, float]:
    """Send a request head a byte every `every` s until the server closes; its answer and how long."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60  # 10 s at most
    async with connection(world) as (reader, writer):
        started = time.monotonic()
        answer = asyncio.create_task(read_to_end(reader))
        for byte in head:
            if answer.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(every)
        data = await asyncio.wait_for(answer, MARGIN)
        return data, time.monotonic() - started


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing about slow clients beyond a short line each: no traceback, no request content."""
    for record in caplog.records:
        if not record.name.startswith(("bot", "aiohttp", "asyncio")):
            continue  # e.g. slack_sdk's DEBUG lines of the readiness check, which runs meanwhile
        assert record.exc_info is None, record.getMessage()
        assert len(record.getMessage()) < 200
        assert "X-Slow" not in record.getMessage()


async def test_fifty_connections_trickling_their_heads_are_all_closed_after_the_header_timeout(
    world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results = await asyncio.gather(*(trickle_head(world) for _ in range(50)))
    for answer, elapsed in results:
        assert HEAD_TIMEOUT * 0.8 <= elapsed < HEAD_TIMEOUT + MARGIN
        # a trickled byte reaching the closed socket may reset it before the 408 is read
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer
    assert any(answer for answer, _ in results)
    page = await metrics_page(world)
    assert rejected(page, "slow_header") == 50
    assert rejected(page, "slow_body") == 0
    assert_quiet(caplog)


async def test_a_connection_that_sends_nothing_is_closed_with_a_408(world: SlackWorld) -> None:
    async with connection(world) as (reader, _):
        started = time.monotonic()
        answer = await asyncio.wait_for(read_to_end(reader), HEAD_TIMEOUT + MARGIN)
        assert time.monotonic() - started >= HEAD_TIMEOUT * 0.8
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"\r\nConnection: close\r\n" in answer
    assert rejected(await metrics_page(world), "slow_header") == 1


async def test_a_slack_body_sent_too_slowly_gets_a_408_and_is_counted(
    roomy_world: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = roomy_world
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"type": "url_verification", "challenge": "x" * 100}).encode()
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + "".join(f"{name}: {value}\r\n" for name, value in signed(body).items()).encode()
        + b"\r\n"
    )
    async with connection(world) as (reader, writer):
        writer.write(head)
        started = time.monotonic()
        answer = asyncio.create_task(read_response(reader))
        sent = 0
        while not answer.done() and sent < len(body):  # 0.1 s a byte: 10 s for the whole body
            writer.write(body[sent : sent + 1])
            sent += 1
            await asyncio.sleep(0.1)
        status, response_head, text = await answer
        assert BODY_TIMEOUT * 0.8 <= time.monotonic() - started < BODY_TIMEOUT + MARGIN
        assert status == 408
        assert b"\r\nConnection: close\r\n" in response_head
        assert text == b"the request body came too slowly"
        # Bytes still trickling after that answer are the rest of a body, not a slow next head.
        for _ in range(int(1.5 * ROOMY_HEAD_TIMEOUT / 0.1)):
            writer.write(b"x")
            await asyncio.sleep(0.1)
    page = await metrics_page(world)
    assert rejected(page, "slow_body") == 1
    assert rejected(page, "slow_header") == 0
    assert_quiet(caplog)


async def test_a_signed_request_and_requests_kept_alive_on_one_connection_are_served(
    roomy_world: SlackWorld,
) -> None:
    world = roomy_world
    answer = await world.sender.event({"type": "url_verification", "challenge": "c0ffee", "token": "t"})
    assert answer.status == 200
    assert "c0ffee" in answer.text

    body = json.dumps({"type": "url_verification", "challenge": "again", "token": "t"}).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **signed(body)}
    post = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    post += "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode() + b"\r\n"
    async with connection(world) as (reader, writer):
        writer.write(post + body)
        status, _, text = await read_response(reader)
        assert (status, b"again" in text) == (200, True)
        await asyncio.sleep(1.5 * ROOMY_HEAD_TIMEOUT)  # idle between requests is keep-alive's, not timed here
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        await asyncio.sleep(0.1)
        writer.write(b"Host: 127.0.0.1\r\n\r\n")
        status, _, text = await read_response(reader)
        assert (status, text) == (200, b'{"status": "ok"}')
        # A next head that stalls is timed from its first byte, and cut off.
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        answer = await asyncio.wait_for(read_to_end(reader), ROOMY_HEAD_TIMEOUT + MARGIN)
        assert answer.startswith(b"HTTP/1.1 408 ")
    page = await metrics_page(world)
    assert rejected(page, "slow_header") == 1
    assert rejected(page, "slow_body") == 0
