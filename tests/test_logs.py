"""LOG_FORMAT=json: one JSON object per line, correlation ids, and never a token or a secret.

The bot runs as `python -m bot` in a child process (the production entry point, which configures
logging from LOG_FORMAT and LOG_LEVEL) with its stderr written to a file, fed Slack-signed
requests, then stopped with SIGTERM. The traffic makes lines inside a Slack request (a modal
button whose listener reads an incident that does not exist) and inside jobs (a 404 read, a
write's audit line, a link of another tenant).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from bot.blocks.ids import ActionId
from bot.logs import TextFormatter
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.fakes import TENANT_ID, FakeEntra, FakeIncidentApi, FakeSlackApi
from tests.faults import conftest as faults
from tests.listeners.test_actions import click
from tests.world import BOT_TOKEN, SIGNING_SECRET, WRITER, SlackSender, free_port, link_shared

fake_slack = faults.fake_slack

OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
PORTAL = "https://security.microsoft.com"


async def run_bot(
    env: dict[str, str], log_path: Path, traffic: Callable[[SlackSender], Awaitable[None]]
) -> None:
    """Start `python -m bot` with stderr to `log_path`, run `traffic`, then SIGTERM and wait."""
    port = free_port()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert process.returncode is None and time.monotonic() < deadline, "the bot did not start"
                await asyncio.sleep(0.05)
            await traffic(SlackSender(http, f"http://127.0.0.1:{port}/slack/events"))
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def bot_env(
    entra: FakeEntra, incident_api: FakeIncidentApi, fake_slack: FakeSlackApi, tmp_path: Path
) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'incident-bot.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
        "AZURE_AUTHORITY_HOST": entra.authority_host,
        "GRAPH_BASE_URL": incident_api.graph_v1_url,
        "REQUESTS_CA_BUNDLE": entra.ca_bundle_path,
        "INCIDENT_WRITERS": WRITER,
        "LOG_LEVEL": "INFO",
    }


def traffic_for(slack: FakeSlackApi) -> Callable[[SlackSender], Awaitable[None]]:
    async def traffic(sender: SlackSender) -> None:
        assert (await sender.command("31337", slack.response_url("missing"))).status == 200
        await slack.wait_for("response_url:missing")
        # Slack refuses to open a modal: the listener fails, the person is told
        slack.fail_next("views.open", error="internal_error", status=200)
        button = click_payload(slack, ActionId.COMMENT, "2972395")
        button["response_url"] = slack.response_url("broken")
        assert (await sender.interact(button)).status == 200
        await slack.wait_for("response_url:broken")
        assert (await sender.interact(click_payload(slack, ActionId.ASSIGN_ME, "2972395"))).status == 200
        await slack.wait_for("chat.update")
        other = f"{PORTAL}/incidents/2972395?tid={OTHER_TENANT}"
        assert (await sender.event(link_shared([other], event_id="EvLOGS1"))).status == 200
        await asyncio.sleep(0.3)

    return traffic


def click_payload(slack: FakeSlackApi, action: ActionId, incident_id: str) -> dict[str, Any]:
    """A click on a card in a channel message (click() only needs the world's fake Slack)."""
    return click(SimpleNamespace(slack=slack), "message", action, incident_id)  # type: ignore[arg-type]


@pytest.fixture
async def json_lines(
    bot_env: dict[str, str], fake_slack: FakeSlackApi, tmp_path: Path
) -> AsyncIterator[list[str]]:
    log_path = tmp_path / "bot.log"
    await run_bot({**bot_env, "LOG_FORMAT": "json"}, log_path, traffic_for(fake_slack))
    yield log_path.read_text().splitlines()


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def the(entries: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [e for e in entries if text in e["message"]]


async def test_json_logs_are_one_object_per_line(json_lines: list[str]) -> None:
    assert len(json_lines) >= 5
    for line in json_lines:
        entry = json.loads(line)  # each line is one whole object, tracebacks included
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= set(entry)
    [failed] = the(parsed(json_lines), "listener failed on block_actions")
    assert failed["level"] == "error" and "Traceback" in failed["exception"]


async def test_every_line_of_a_job_carries_the_jobs_correlation_id(json_lines: list[str]) -> None:
    entries = parsed(json_lines)
    [not_found] = the(entries, "-> 404")  # 31337, read by the /incident job
    [failed] = the(entries, "listener failed on block_actions")
    [audit] = [e for e in entries if e.get("audit")]
    [other_tenant] = the(entries, "link is for another tenant")
    ids = [e["correlation_id"] for e in (not_found, audit, other_tenant)]
    assert all(isinstance(i, str) and len(i) >= 12 for i in ids)
    assert len(set(ids)) == 3  # three jobs, three ids
    assert failed["correlation_id"] not in ids  # the failed request has an id of its own
    assert audit["action"] == "assign_me" and audit["result"] == "ok" and audit["slack_user"] == WRITER
    started = the(entries, "incident bot started")
    assert started and "correlation_id" not in started[0]  # outside any request or job


async def test_a_failed_request_tells_the_person_the_reference_of_its_log_line(
    json_lines: list[str], fake_slack: FakeSlackApi
) -> None:
    [failed] = the(parsed(json_lines), "listener failed on block_actions")
    [told] = fake_slack.calls_to("response_url:broken")
    assert told.args["response_type"] == "ephemeral" and told.args["replace_original"] is False
    assert f"`{failed['correlation_id']}`" in told.args["text"]
    assert "not-a-reference" not in json.dumps(failed)  # the log names the kind, not the payload


async def test_no_line_holds_a_token_or_a_secret(json_lines: list[str], entra: FakeEntra) -> None:
    secrets = [CLIENT_SECRET, BOT_TOKEN, SIGNING_SECRET, *entra.issued_tokens]
    assert entra.issued_tokens  # the bot did get a token
    for line in json_lines:
        assert not [s for s in secrets if s in line], line
        assert "Bearer " not in line and "xoxb-" not in line


async def test_log_format_text_is_plain_lines_with_the_correlation_id(
    bot_env: dict[str, str], fake_slack: FakeSlackApi, tmp_path: Path
) -> None:
    log_path = tmp_path / "bot.log"
    await run_bot({**bot_env, "LOG_FORMAT": "text"}, log_path, traffic_for(fake_slack))
    lines = log_path.read_text().splitlines()
    assert lines and not [line for line in lines if line.startswith("{")]
    [tenant_line] = [line for line in lines if "link is for another tenant" in line]
    assert " INFO bot.work.reading [" in tenant_line and "[-]" not in tenant_line


def test_a_logged_value_cannot_start_a_line_of_its_own() -> None:
    formatter = TextFormatter("%(levelname)s %(name)s %(message)s")
    forged = "cmd\r\n2026-12-01 10:00:00,000 INFO bot.audit audit slack_user=U1 action=resolve result=ok"
    record = logging.makeLogRecord({"msg": "request %s", "args": (forged,), "levelname": "INFO", "name": "t"})
    [line] = formatter.format(record).splitlines()
    assert line.startswith("INFO t request cmd\\r\\n2026") and "\u2028" not in line
    try:
        raise ValueError("bad\n2026-12-01 10:00:00,000 INFO bot.audit forged")
    except ValueError:
        record = logging.makeLogRecord(
            {"msg": "boom", "levelname": "ERROR", "name": "t", "exc_info": sys.exc_info()}
        )
    first, *rest = formatter.format(record).splitlines()
    assert first == "ERROR t boom" and rest and all(line.startswith("  ") for line in rest)
