"""The HTTP door: signature first, on the raw bytes; junk gets a 4xx, never a 500, a traceback or a
parse of anything unverified, and each refusal is counted in /metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.listeners.conftest import SlackWorld, WorldFactory
from tests.world import SIGNING_SECRET

FORGED = "2026-12-01 10:00:00,000 INFO bot.audit [x] audit slack_user=U0EVIL action=resolve result=ok"
FORM = "application/x-www-form-urlencoded"


async def post(
    world: SlackWorld, body: bytes, *, content_type: str = FORM, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    url = f"http://127.0.0.1:{world.bot.port}/slack/events"
    async with world.http.post(
        url, data=io.BytesIO(body), headers={"Content-Type": content_type, **(headers or {})}
    ) as r:
        return r.status, await r.text()


def signed(body: bytes, *, age: int = 0) -> dict[str, str]:
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def rejected(metrics_text: str, reason: str) -> float:
    found = re.search(rf'incident_bot_rejected_requests_total{{reason="{reason}"}} ([0-9.]+)', metrics_text)
    return float(found.group(1)) if found else 0.0


async def metrics_page(world: SlackWorld) -> str:
    async with world.http.get(f"http://127.0.0.1:{world.bot.port}/metrics") as response:
        return await response.text()


COMMAND = f"command=/incident%0D%0A{FORGED}&text=2972395&user_id=U0WRITER&response_url=x".encode()
ZEROS = "v0=" + "0" * 64
NOW = str(int(time.time()))
UNSIGNED = [
    ("no headers", {}),
    ("timestamp abc", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": ZEROS}),
    ("fractional timestamp", {"X-Slack-Request-Timestamp": "1700000000.5", "X-Slack-Signature": ZEROS}),
    ("negative timestamp", {"X-Slack-Request-Timestamp": "-1", "X-Slack-Signature": ZEROS}),
    ("huge timestamp", {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": ZEROS}),
    ("non-ASCII signature", {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=é" * 10}),
    ("wrong signature", {"X-Slack-Request-Timestamp": NOW, "X-Slack-Signature": "v0=" + "a" * 64}),
    ("signature of another body", signed(b"something else")),
    ("stale but genuine", signed(COMMAND, age=600)),
]


@pytest.mark.parametrize(("case", "headers"), UNSIGNED, ids=[case for case, _ in UNSIGNED])
async def test_an_unsigned_request_is_401_with_nothing_parsed_fetched_or_logged(
    world: SlackWorld, caplog: pytest.LogCaptureFixture, case: str, headers: dict[str, str]
) -> None:
    caplog.set_level(logging.DEBUG)
    before = world.api.count()
    status, _ = await post(world, COMMAND, headers=headers)
    assert status == 401, case
    others = [
        (b'{"type": "event_callback\\r\\n' + FORGED.encode() + b'"}', "application/json"),
        (b"[" * 100_000, "application/json"),
    ]
    for body, content_type in others:
        assert (await post(world, body, content_type=content_type, headers=headers))[0] == 401
    await world.settle()
    assert world.api.count() == before
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert "U0EVIL" not in caplog.text and "event_callback" not in caplog.text
    assert rejected(await metrics_page(world), "signature") == 3
    assert (await post(world, b"\xff\xfe not utf-8", headers=headers))[0] == 400  # unreadable, unparsed


SIGNED_JUNK = [
    ("JSON array", b"[1, 2]", "application/json"),
    ("JSON string", b'"hello"', "application/json"),
    ("JSON null", b"null", "application/json"),
    ("JSON nested past any decoder", b"[" * 200_000 + b"]" * 200_000, "application/json"),
    ("not JSON", b"{nope", "application/json"),
    ("payload not JSON", b"payload=%7Bnope", FORM),
    ("payload an array", b"payload=%5B1%5D", FORM),
    ("two payloads", b"payload=%7B%7D&payload=%7B%7D", FORM),
]


@pytest.mark.parametrize(("case", "body", "content_type"), SIGNED_JUNK, ids=[c for c, _, _ in SIGNED_JUNK])
async def test_a_signed_body_that_is_no_slack_payload_is_400(
    world: SlackWorld, caplog: pytest.LogCaptureFixture, case: str, body: bytes, content_type: str
) -> None:
    status, _ = await post(world, body, content_type=content_type, headers=signed(body))
    assert status == 400, case
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert rejected(await metrics_page(world), "unreadable") == 1


async def test_a_bogus_charset_does_not_stop_a_signed_command(world: SlackWorld) -> None:
    reply = world.slack.response_url("cs")
    body = f"command=/incident&text=2972395&user_id=U0WRITER&channel_id=C0SOC&response_url={reply}".encode()
    status, _ = await post(world, body, content_type=f"{FORM}; charset=klingon", headers=signed(body))
    assert status == 200
    await world.slack.wait_for("response_url:cs")


async def test_a_body_over_a_megabyte_is_413_and_counted(world: SlackWorld) -> None:
    status, _ = await post(world, b"x" * (5 * 1024 * 1024), headers=signed(b""))
    assert status == 413
    assert rejected(await metrics_page(world), "too_large") == 1


async def test_a_refused_big_body_closes_its_connection_and_is_not_taken_for_a_slow_head(
    start_world: WorldFactory,
) -> None:
    world = await start_world(header_timeout_seconds=0.3)
    url = f"http://127.0.0.1:{world.bot.port}/slack/events"
    async with world.http.post(url, data=io.BytesIO(b"x" * 2 * 1024 * 1024), headers=signed(b"")) as response:
        assert response.status == 413
        assert response.headers.get("Connection", "").lower() == "close"
    await asyncio.sleep(0.8)  # past the head deadline: the unread rest of the body is no next head
    page = await metrics_page(world)
    assert rejected(page, "too_large") == 1 and rejected(page, "slow_header") == 0


async def test_a_genuine_request_still_works(world: SlackWorld) -> None:
    answer = await world.command("help")
    assert answer.status == 200 and "incident" in json.dumps(answer.json())


MALFORMED_HTTP = [
    ("bad header line", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
    ("unknown version", b"POST /slack/events HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("bad chunk", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("NUL in a header", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-A\x00: 1\r\n\r\n"),
    ("forged log line", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX\r\n2026 INFO bot.audit ok\r\n\r\n"),
]


@pytest.mark.parametrize(("case", "raw"), MALFORMED_HTTP, ids=[c for c, _ in MALFORMED_HTTP])
async def test_a_request_aiohttp_cannot_parse_is_400_with_no_traceback_and_no_quoted_bytes(
    world: SlackWorld, caplog: pytest.LogCaptureFixture, case: str, raw: bytes
) -> None:
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection("127.0.0.1", world.bot.port)
    writer.write(raw)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.") and b" 400 " in status_line, (case, status_line)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING], case
    assert "bot.audit" not in caplog.text and "no colon" not in caplog.text
