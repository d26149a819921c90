"""The long-lived objects of one bot process, built once from Settings and closed at exit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis

from bot.blocks.seal import CardSeal
from bot.config.settings import Settings
from bot.errors import DependencyChanged
from bot.graph import (
    AlertApi,
    IncidentApi,
    TokenProvider,
    build_alert_api,
    build_http_client,
    build_incident_api,
    build_token_provider,
)
from bot.graph.demo import DemoAlertApi, DemoIncidentApi
from bot.incidents.alerts import AlertService
from bot.incidents.listing import IncidentLists
from bot.incidents.service import IncidentService
from bot.metrics import Metrics
from bot.state.budget import ApiBudget, BudgetLimits, MemoryBudget
from bot.state.budget_redis import RedisBudget
from bot.state.cache import SnapshotStore, build_cache
from bot.state.flight import FlightLock, LocalFlightLock, RedisFlightLock
from bot.state.redis_pipeline import AutoPipelineRedis
from bot.state.shared_cache import Cache, FallbackCache

# Cards drawn without Slack credentials (`incident-bot card`) are previews: their values open nowhere.
PREVIEW_SEAL_SECRET = "incident-bot card preview"


def card_seal(settings: Settings) -> CardSeal:
    """The seal of card values, keyed by a Slack secret every replica of this app shares (the signing
    secret, or in Socket Mode the app token): rotating it makes the cards already posted out of date."""
    secret = settings.slack_signing_secret or settings.slack_app_token
    return CardSeal(secret.get_secret_value() if secret else PREVIEW_SEAL_SECRET)


# How long a cached incident may still be shown (marked stale) while the API is unavailable.
STALE_KEEP_SECONDS = 24 * 3600


@dataclass
class Services:
    """What listeners and commands use: the incident and alert services and what they stand on."""

    settings: Settings
    cache: Cache
    api: IncidentApi
    incidents: IncidentService
    metrics: Metrics
    tokens: TokenProvider | None = None
    http: httpx.AsyncClient | None = None
    redis: aioredis.Redis | None = None
    budget: ApiBudget | None = None
    # Keyword-only, so the positional fields above keep their places.
    alerts: AlertService = field(kw_only=True)
    lists: IncidentLists = field(kw_only=True)  # /incident list and App Home

    seal: CardSeal = field(init=False)  # every card and listener of the process shares it

    def __post_init__(self) -> None:
        self.seal = card_seal(self.settings)

    @property
    def demo(self) -> bool:
        return self.settings.incident_source == "demo"

    @property
    def redis_degraded(self) -> bool:
        return isinstance(self.cache, FallbackCache) and self.cache.degraded


def build_redis(url: str) -> AutoPipelineRedis | None:
    """A redis-py client for the streams, locks and budget, beside aiocache's own pool."""
    if not url.startswith(("redis://", "rediss://")):
        return None
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=15,
        client_name="incident-bot",  # CLIENT LIST tells the bot's connections apart (a URL's wins)
    )
    # from_pool: closing the client closes the pool
    client = AutoPipelineRedis.from_pool(pool)
    assert isinstance(client, AutoPipelineRedis)  # from_pool is a classmethod: it builds this class
    return client


@asynccontextmanager
async def open_services(settings: Settings, metrics: Metrics | None = None) -> AsyncIterator[Services]:
    """Build the process's one HTTP client, MSAL app, cache and Redis client; close them on exit."""
    metrics = metrics or Metrics()
    cache = build_cache(settings.cache_url, retry_every=settings.redis_retry_seconds)
    redis = build_redis(settings.cache_url)
    if redis is not None:
        try:
            await redis.self_check()
        except DependencyChanged:
            await redis.aclose()
            await cache.close()
            raise
    tokens: TokenProvider | None = None
    http: httpx.AsyncClient | None = None
    budget: ApiBudget | None = None
    lock: FlightLock = LocalFlightLock()
    api: IncidentApi
    alert_api: AlertApi
    if settings.incident_source == "demo":
        demo = DemoIncidentApi()
        api, alert_api = demo, DemoAlertApi(demo)
    else:
        limits = BudgetLimits(**settings.incident_api_budget)
        tenant = settings.azure_tenant_id or "default"
        budget = RedisBudget(redis, tenant=tenant, limits=limits) if redis else MemoryBudget(limits)
        tokens = build_token_provider(settings)
        http = build_http_client(settings, tokens)
        api = build_incident_api(settings, http, budget=budget, observe=metrics.api_call)
        alert_api = build_alert_api(settings, http, budget=budget, observe=metrics.api_call)
    if redis is not None:
        # A replica killed mid-fetch holds its locks until the lease ends: keep it within the time
        # another replica takes that replica's jobs over, or recovery waits on the lock.
        lease = min(settings.incident_api_deadline + 5, settings.intake_claim_idle_seconds)
        lock = RedisFlightLock(redis, lease_seconds=lease)
    store = SnapshotStore(cache, keep_seconds=STALE_KEEP_SECONDS)
    incidents = IncidentService(
        api,
        store,
        ttl=settings.incident_cache_ttl,
        lock=lock,
        on_cache=lambda result: metrics.cache.labels(result).inc(),
    )
    alerts = AlertService(alert_api, cache, ttl=settings.incident_cache_ttl)
    lists = IncidentLists(api, cache)
    _watch(metrics, tokens, budget, cache)
    try:
        yield Services(
            settings, cache, api, incidents, metrics, tokens, http, redis, budget, alerts=alerts, lists=lists
        )
    finally:
        if http is not None:
            await http.aclose()
        await cache.close()
        if redis is not None:
            await redis.aclose()


def _watch(metrics: Metrics, tokens: TokenProvider | None, budget: ApiBudget | None, cache: Cache) -> None:
    if tokens is not None:
        metrics.watch(
            "incident_bot_token_requests",
            "Token requests that reached MSAL",
            lambda: {"": float(tokens.token_requests)},
            kind="counter",
        )
    if isinstance(cache, FallbackCache):
        metrics.watch(
            "incident_bot_redis_degraded",
            "1 while Redis is unreachable and memory is used",
            lambda: {"": 1.0 if cache.degraded else 0.0},
        )
    if budget is not None:
        metrics.watch_async(
            "incident_bot_api_budget_remaining",
            "Requests left in each API budget bucket",
            budget.remaining,
            label="bucket",
        )
