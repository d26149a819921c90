"""Speaking Slack's inbound protocol to a bot, in this process or in a child process.

Used by the end-to-end tests and by the benchmarks: signed slash commands, events and
interactions, and bot processes started with `python -m bot` against the loopback fakes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0SOC"
WRITER = "U0WRITER"


@dataclass
class HttpAnswer:
    status: int
    text: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackSender:
    """Posts Slack-signed requests to a bot's /slack/events."""

    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str = SIGNING_SECRET) -> None:
        self.http = http
        self.url = url
        self.secret = secret

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        started = time.perf_counter()
        async with self.http.post(self.url, data=body.encode(), headers=all_headers) as response:
            text = await response.text()
        return HttpAnswer(response.status, text, time.perf_counter() - started)

    async def command(
        self, text: str, response_url: str, *, user_id: str = WRITER, channel_id: str = CHANNEL, **kwargs: Any
    ) -> HttpAnswer:
        form = {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": channel_id,
            "channel_name": "soc",
            "user_id": user_id,
            "user_name": "analyst",
            "command": "/incident",
            "text": text,
            "api_app_id": "A0BOT",
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    async def event(self, body: dict[str, Any], *, retry_num: int | None = None, **kwargs: Any) -> HttpAnswer:
        headers = {}
        if retry_num:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(json.dumps(body), "application/json", headers=headers, **kwargs)

    async def interact(self, payload: dict[str, Any], **kwargs: Any) -> HttpAnswer:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)


def link_shared(urls: list[str], *, event_id: str, message_ts: str = "1700000000.000100") -> dict[str, Any]:
    """A `link_shared` event_callback as Slack documents it."""
    return {
        "token": "legacy-verification-token",
        "team_id": "T0001",
        "api_app_id": "A0BOT",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authed_users": ["U0BOT"],
        "event": {
            "type": "link_shared",
            "channel": CHANNEL,
            "user": WRITER,
            "message_ts": message_ts,
            "source": "conversations_history",
            "unfurl_id": f"{CHANNEL}.{message_ts}.{event_id}",
            "links": [{"domain": url.split("/")[2], "url": url} for url in urls],
        },
    }


class BotProcess:
    """`python -m bot` in a child process, configured by environment variables."""

    def __init__(self, env: dict[str, str], port: int, *, cwd: str | None = None) -> None:
        """`cwd`: the source tree whose `bot` package runs (`-m` puts it first on sys.path)."""
        self.env = env
        self.port = port
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self, wait_seconds: float = 20.0) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        if "DATABASE_URL" not in env:  # a file of its own, not incident-bot.db in the working directory
            self.state_dir = tempfile.mkdtemp(prefix="incident-bot-process-")
            env["DATABASE_URL"] = f"sqlite:///{self.state_dir}/incident-bot.db"
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, stdin=asyncio.subprocess.DEVNULL, cwd=self.cwd
        )
        deadline = time.monotonic() + wait_seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.process.returncode is not None:
                    raise RuntimeError(f"bot exited with {self.process.returncode}")
                await asyncio.sleep(0.05)
        raise TimeoutError("bot did not answer /healthz")

    async def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.process and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def terminate(self, wait_seconds: float = 30.0) -> int:
        """SIGTERM, then wait for the graceful exit."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), wait_seconds)

    def peak_rss_mb(self) -> float | None:
        """VmHWM of the process (Linux), in MB."""
        if not self.process:
            return None
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], within: float = 10.0, every: float = 0.02
) -> None:
    """Poll `check` (plain or async) until it is true; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(every)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
