"""The long-lived objects of one bot process, built once from Settings and closed at exit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from aiocache.base import BaseCache

from bot.cache import SnapshotStore, build_cache
from bot.config import Settings
from bot.demo import DemoIncidentApi
from bot.graph import IncidentApi, TokenProvider, build_http_client, build_incident_api, build_token_provider
from bot.incidents import IncidentService

# How long a cached incident may still be shown (marked stale) while the API is unavailable.
STALE_KEEP_SECONDS = 24 * 3600


@dataclass
class Services:
    """What listeners and commands use: the incident service and what it stands on."""

    settings: Settings
    cache: BaseCache
    api: IncidentApi
    incidents: IncidentService
    tokens: TokenProvider | None = None
    http: httpx.AsyncClient | None = None

    @property
    def demo(self) -> bool:
        return self.settings.incident_source == "demo"


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Build the process's one HTTP client, MSAL app and cache; close them on exit."""
    cache = build_cache(settings.cache_url)
    tokens: TokenProvider | None = None
    http: httpx.AsyncClient | None = None
    api: IncidentApi
    if settings.incident_source == "demo":
        api = DemoIncidentApi()
    else:
        tokens = build_token_provider(settings)
        http = build_http_client(settings, tokens)
        api = build_incident_api(settings, http)
    store = SnapshotStore(cache, keep_seconds=STALE_KEEP_SECONDS)
    incidents = IncidentService(api, store, ttl=settings.incident_cache_ttl)
    try:
        yield Services(settings, cache, api, incidents, tokens, http)
    finally:
        if http is not None:
            await http.aclose()
        await cache.close()
