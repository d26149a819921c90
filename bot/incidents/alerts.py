"""The alert service: one Defender alert by its id, cached and fetched at most once at a time.

An alert link posted in a busy channel is unfurled for every message that carries it, often by
several replicas at once: each alert is therefore kept in the shared cache (`alert:<id>`) for as
long as a fetched incident counts as fresh, and concurrent reads of one id in this process share
one request. Unlike incidents there is no stale serving: an alert card says what the API said,
or the API's error (NotFound, PermissionDenied, Unavailable…), which is raised as it came.

The cache is a convenience, never a dependency: a cache that does not answer (REDIS_DOWN) or holds
an entry this release cannot read is a miss, and the alert is fetched from the API.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from bot.graph.alerts import AlertApi
from bot.models.alert_ids import AlertDetail, validate_alert_id
from bot.state.cache import is_memory
from bot.state.shared_cache import REDIS_DOWN, Cache
from bot.state.singleflight import SingleFlight

logger = logging.getLogger(__name__)


class AlertService:
    """Get alerts; each is cached for `ttl` seconds and fetched once however many ask at once."""

    def __init__(self, api: AlertApi, cache: Cache, *, ttl: float) -> None:
        self._api = api
        self._cache = cache
        self._ttl = ttl
        # In memory the frozen model is stored as it is; anything shared holds JSON text only
        # (never pickle: see bot/state/cache.py).
        self._memory = is_memory(cache)
        self._flights: SingleFlight[str, AlertDetail] = SingleFlight()

    @staticmethod
    def key(alert_id: str) -> str:
        return f"alert:{alert_id}"

    async def get(self, alert_id: str) -> AlertDetail:
        """The alert, from the cache when it holds one, else from the API (InvalidAlertId, with
        nothing sent, for text that is not an alert id)."""
        alert_id = validate_alert_id(alert_id)
        cached = await self.cached(alert_id)
        if cached is not None:
            return cached
        return await self._flights.run(alert_id, lambda: self._fetch(alert_id))

    async def cached(self, alert_id: str) -> AlertDetail | None:
        """The alert when the cache holds it, without asking the API; None otherwise (for answers
        that must ride Slack's ack: None means "ask `get` in a job")."""
        alert_id = validate_alert_id(alert_id)
        try:
            value = await self._cache.get(self.key(alert_id))
            if value is None or isinstance(value, AlertDetail):
                return value
            return AlertDetail.model_validate_json(value)
        except REDIS_DOWN as error:
            logger.info("alert %s: cache unreachable (%s), asking the API", alert_id, type(error).__name__)
        except (ValidationError, ValueError, TypeError):  # UnicodeDecodeError is a ValueError too
            # Corrupt, or written by another release: a miss, which the next fetch overwrites.
            logger.warning("unreadable cache entry for alert %s; fetching it again", alert_id)
        return None

    async def _fetch(self, alert_id: str) -> AlertDetail:
        # A flight that ended between our cache read and this one has stored its answer: use it.
        stored = await self.cached(alert_id)
        if stored is not None:
            return stored
        alert = await self._api.get_alert(alert_id)
        value = alert if self._memory else alert.model_dump_json(by_alias=True)
        try:
            await self._cache.set(self.key(alert_id), value, ttl=self._ttl)
        except REDIS_DOWN as error:
            logger.info("alert %s: not cached, cache unreachable (%s)", alert_id, type(error).__name__)
        return alert
