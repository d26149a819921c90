"""Loopback world for the benchmarks: fake Entra, incident API and Slack, and bot processes."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes import FIXTURE_DIR, TENANT_ID, FakeEntra, FakeIncidentApi, FakeSlackApi
from tests.world import BOT_TOKEN, SIGNING_SECRET, BotProcess, free_port

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "benchmark-client-secret"


@dataclass
class World:
    entra: FakeEntra
    api: FakeIncidentApi
    slack: FakeSlackApi

    def bot_env(self, **extra: str) -> dict[str, str]:
        """Environment of a bot process pointed at the fakes (HTTP mode)."""
        return {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "AZURE_TENANT_ID": TENANT_ID,
            "AZURE_CLIENT_ID": CLIENT_ID,
            "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "AZURE_AUTHORITY_HOST": self.entra.authority_host,
            "GRAPH_BASE_URL": self.api.graph_v1_url,
            "REQUESTS_CA_BUNDLE": self.entra.ca_bundle_path,
            "INCIDENT_WRITERS": "U0WRITER",
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def add_copies(self, count: int, first_id: int = 9_000_000) -> list[str]:
        """`count` copies of incident 2972395 under new ids; returns the ids."""
        base = json.loads((FIXTURE_DIR / "incident_2972395.v1.json").read_text())
        ids = []
        for n in range(count):
            clone = copy.deepcopy(base)
            clone["id"] = str(first_id + n)
            self.api.put("v1.0", clone)
            ids.append(clone["id"])
        return ids

    async def start_bot(self, *, cwd: str | None = None, **extra: str) -> BotProcess:
        """A bot process; `cwd` runs another source tree's bot (e.g. a baseline's git worktree)."""
        bot = BotProcess(self.bot_env(**extra), free_port(), cwd=cwd)
        await bot.start()
        return bot


@contextlib.asynccontextmanager
async def world(api_latency: float) -> AsyncIterator[World]:
    """Start the three fakes; the Entra CA is trusted through REQUESTS_CA_BUNDLE."""
    os.environ.pop("CURL_CA_BUNDLE", None)
    async with (
        FakeEntra(tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as entra,
        FakeIncidentApi(is_valid_token=entra.is_valid_token, latency=api_latency) as api,
        FakeSlackApi(bot_token=BOT_TOKEN) as slack,
    ):
        api.load_fixtures()
        slack.users["U0WRITER"] = {
            "id": "U0WRITER",
            "profile": {"real_name": "Jane Doe", "email": "jane@contoso.com"},
        }
        yield World(entra, api, slack)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0–100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: list[tuple[str, str, str, bool | None]]) -> str:
    """A Markdown table: metric | target | measured | result."""
    lines = ["| metric | target | measured | result |", "|---|---|---|---|"]
    for metric, target, measured, ok in rows:
        verdict = "" if ok is None else ("pass" if ok else "FAIL")
        lines.append(f"| {metric} | {target} | {measured} | {verdict} |")
    return "\n".join(lines)


def machine_line() -> str:
    """Where and when the figures were measured: host, CPUs, Python, date."""
    return (
        f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"{time.strftime('%Y-%m-%d')}"
    )


def as_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(values: list[float]) -> dict[str, Any]:
    return {"p50": median(values), "p99": percentile(values, 99), "n": len(values)}


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time process `pid` has used so far (Linux /proc), None if unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
