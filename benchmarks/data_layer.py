"""Benchmark of the incident data layer: the real services against the loopback fakes at 100 ms latency.

Run from the repository root (it imports the fakes from tests/):

    python -m benchmarks.data_layer                       # memory cache
    python -m benchmarks.data_layer --redis redis://127.0.0.1:6379/14   # and again on Redis

Measures (a) 200 concurrent gets over 20 distinct ids, in five rounds on fresh ids: API requests and
wall time, with the token fetched beforehand and reported on its own; (b) 10,000 cached gets: median
and p99 per get; (c) token requests per process. Prints a Markdown table. Not a test: exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from bot.config.load import load_settings
from bot.config.settings import Settings
from bot.services import open_services
from tests.fakes import FIXTURE_DIR, TENANT_ID, FakeEntra, FakeIncidentApi

LATENCY = 0.100  # seconds the fakes wait before answering: one round trip
ROUNDS = 5  # (a) is repeated on fresh ids; the median round is reported, and the slowest
DISTINCT = 20
ROUND_IDS = [[str(9_100_000 + 100 * r + n) for n in range(DISTINCT)] for r in range(ROUNDS)]
IDS = [incident_id for ids in ROUND_IDS for incident_id in ids]
CONCURRENT_GETS = 200
CACHED_GETS = 10_000
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "benchmark-secret"
WALL_TARGET_MS = 2 * LATENCY * 1000
CACHED_TARGET_US = 50.0


@dataclass
class Row:
    metric: str
    target: str
    measured: str
    ok: bool | None  # None: reported, not judged

    @property
    def verdict(self) -> str:
        return "info" if self.ok is None else ("pass" if self.ok else "FAIL")


def settings_for(entra: FakeEntra, api: FakeIncidentApi, cache_url: str) -> Settings:
    return load_settings(
        azure_tenant_id=TENANT_ID,
        azure_client_id=CLIENT_ID,
        azure_client_secret=CLIENT_SECRET,
        azure_authority_host=entra.authority_host,
        incident_source="api",
        incident_api="graph",
        graph_base_url=api.graph_v1_url,
        cache_url=cache_url,
        incident_cache_ttl=60,
        # The bot's own request budget (where the code has one) must not be what is measured.
        incident_api_budget={"get_per_minute": 100_000, "get_per_hour": 1_000_000},
    )


async def forget_benchmark_keys(url: str) -> None:
    """Delete only this benchmark's incident and flight keys, so the first gets really miss."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [f"incident-bot:{kind}:{i}" for i in IDS for kind in ("incident", "flight")]
        await client.delete(*keys)
    finally:
        await client.aclose()


async def measure(entra: FakeEntra, api: FakeIncidentApi, cache_url: str, label: str) -> list[Row]:
    on_memory = not cache_url.startswith("redis")
    if not on_memory:
        await forget_benchmark_keys(cache_url)
    api.requests.clear()
    tokens_before = entra.token_requests
    async with open_services(settings_for(entra, api, cache_url)) as services:
        assert services.tokens is not None
        started = time.perf_counter()
        await services.tokens.token()  # warm: Entra's metadata and the token, outside (a)
        token_ms = (time.perf_counter() - started) * 1000

        if not on_memory:
            # Open the Redis pool's connections first, as the token is fetched first: (a) is the data
            # layer's steady state, not TCP set-up.
            await asyncio.gather(*(services.cache.get(f"benchmark:warm-up:{n}") for n in range(DISTINCT)))

        walls: list[float] = []
        requests: list[int] = []
        for ids in ROUND_IDS:
            wanted = [ids[n % DISTINCT] for n in range(CONCURRENT_GETS)]
            before = api.count("GET")
            started = time.perf_counter()
            snapshots = await asyncio.gather(*(services.incidents.get(i) for i in wanted))
            walls.append((time.perf_counter() - started) * 1000)
            requests.append(api.count("GET") - before)
            assert [s.incident.id for s in snapshots] == wanted

        sent = api.count("GET")
        samples: list[float] = []
        for n in range(CACHED_GETS):
            started_ns = time.perf_counter_ns()
            await services.incidents.get(ROUND_IDS[-1][n % DISTINCT])
            samples.append((time.perf_counter_ns() - started_ns) / 1000)
        assert api.count("GET") == sent, "a cached get reached the API"
    tokens = entra.token_requests - tokens_before

    median = statistics.median(samples)
    p99 = statistics.quantiles(samples, n=100)[98]
    cached_target = f"< {CACHED_TARGET_US:.0f} µs" if on_memory else "— (network)"
    return [
        Row(f"token fetch, warm-up ({label})", "reported apart", f"{token_ms:.0f} ms", None),
        Row(
            f"(a) API requests, {CONCURRENT_GETS} concurrent gets / {DISTINCT} ids ({label}, each round)",
            f"= {DISTINCT}",
            " ".join(map(str, requests)),
            all(count == DISTINCT for count in requests),
        ),
        Row(
            f"(a) wall time of those gets ({label}, median of {ROUNDS} rounds)",
            f"< {WALL_TARGET_MS:.0f} ms",
            f"{statistics.median(walls):.0f} ms (slowest {max(walls):.0f} ms)",
            statistics.median(walls) < WALL_TARGET_MS,
        ),
        Row(
            f"(b) cached get, median of {CACHED_GETS:,} ({label})",
            cached_target,
            f"{median:.1f} µs",
            median < CACHED_TARGET_US if on_memory else None,
        ),
        Row(
            f"(b) cached get, p99 ({label})",
            cached_target,
            f"{p99:.1f} µs",
            p99 < CACHED_TARGET_US if on_memory else None,
        ),
        Row(f"(c) token requests ({label}, one process)", "= 1", str(tokens), tokens == 1),
    ]


def copies_of_2972395() -> list[dict[str, Any]]:
    base = json.loads((FIXTURE_DIR / "incident_2972395.v1.json").read_text("utf-8"))
    return [copy.deepcopy(base) | {"id": incident_id} for incident_id in IDS]


async def run(redis_url: str | None) -> list[Row]:
    async with FakeEntra(tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as entra:
        # MSAL's requests session lets these beat its verify= argument.
        os.environ["REQUESTS_CA_BUNDLE"] = entra.ca_bundle_path
        os.environ.pop("CURL_CA_BUNDLE", None)
        entra.latency = LATENCY
        async with FakeIncidentApi(is_valid_token=entra.is_valid_token, latency=LATENCY) as api:
            for incident in copies_of_2972395():
                api.put("v1.0", incident)
            rows = await measure(entra, api, "memory://", "memory")
            if redis_url:
                rows += await measure(entra, api, redis_url, "redis")
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| metric | target | measured | pass/fail |", "|---|---|---|---|"]
    lines += [f"| {r.metric} | {r.target} | {r.measured} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.data_layer", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--redis", metavar="URL", help="also run (a)/(b) on this Redis, e.g. redis://127.0.0.1:6379/14"
    )
    args = parser.parse_args(argv)
    rows = asyncio.run(run(args.redis))
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    print(
        f"incident data layer, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{machine}, fake latency {LATENCY * 1000:.0f} ms\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
