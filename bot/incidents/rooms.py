"""What kind of conversation a channel is (`conversations.info`), cached where replicas share it.

Before unfurling, the bot asks Slack once per channel per `ttl` (shared cache: memory, or Redis so
that every replica reuses one answer); asks of one channel that arrive together in a process make
one call (single-flight). Whatever goes wrong (a Slack error such as `missing_scope` or
`channel_not_found`, the network, Slack taking longer than `timeout`) gives
`ConversationKind.UNKNOWN`, which the policy treats as the strictest kind, never as `full`.

A failure is remembered for `failure_ttl` seconds in this process only, not in the shared cache:
a burst of links to a channel whose lookup fails (a missing scope fails every time) makes one
call per `failure_ttl` instead of one per link, against conversations.info's rate limit (Tier 3);
and one replica's trouble (its network, a timeout) never becomes another replica's answer, so a
fixed scope or network is seen within `failure_ttl` everywhere. Remembering a failure can only make
unfurls stricter, never more open.

conversations.info needs `channels:read`, `groups:read`, `im:read` and `mpim:read` (one per kind
of conversation); without them Slack answers `missing_scope` and every unfurl is `unknown`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.unfurl import ConversationKind
from bot.incidents.audience import COMPOSER, classify
from bot.state.shared_cache import REDIS_DOWN, Cache, cached_text
from bot.state.singleflight import SingleFlight

logger = logging.getLogger(__name__)

KIND_TTL = 300.0
FAILURE_TTL = 30.0
LOOKUP_TIMEOUT = 2.0
# Public and private channels (C…, old private channels G…), DMs (D…). Anything else, "COMPOSER"
# included, is not asked about.
_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,40}")
_FAILURES_KEPT = 10_000


class Rooms:
    """The kind of each conversation, from conversations.info, cached for `ttl` seconds."""

    def __init__(
        self,
        slack: AsyncWebClient,
        cache: Cache,
        *,
        our_team: Callable[[], str | None],
        ttl: float = KIND_TTL,
        failure_ttl: float = FAILURE_TTL,
        timeout: float = LOOKUP_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`our_team` returns our workspace's team id (auth.test's `team_id`), None until known."""
        self._slack = slack
        self._cache = cache
        self._our_team = our_team
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._timeout = timeout
        self._clock = clock
        self._flights: SingleFlight[tuple[str, str], ConversationKind] = SingleFlight()
        self._failed: dict[tuple[str, str], float] = {}  # (team, channel) → until (clock)
        self.lookups = 0  # conversations.info calls made by this process

    def our_team(self) -> str | None:
        """Our workspace's team id, None until known."""
        return self._our_team()

    async def kind(self, channel_id: str) -> ConversationKind:
        """The kind of the conversation `channel_id`; `unknown` when it cannot be learned."""
        team = self._our_team()
        if not team or channel_id == COMPOSER or not _CHANNEL_ID.fullmatch(channel_id):
            return ConversationKind.UNKNOWN
        key = (team, channel_id)
        until = self._failed.get(key)
        if until is not None:
            if self._clock() < until:
                return ConversationKind.UNKNOWN
            self._failed.pop(key, None)
        return await self._flights.run(key, lambda: self._lookup(team, channel_id))

    def is_external_user(self, team_id_of_event_user: str | None) -> bool:
        """Whether the user of an event is from another organisation: their team is named and is not
        ours (while our team is unknown, any named team counts as another). An event that names no
        team (link_shared names none) is not taken as external here: the conversation's kind
        already covers it, since someone from another organisation can only post in a shared one."""
        if not team_id_of_event_user:
            return False
        return team_id_of_event_user != self._our_team()

    @staticmethod
    def cache_key(team: str, channel_id: str) -> str:
        return f"conversation-kind:{team}:{channel_id}"

    async def _lookup(self, team: str, channel_id: str) -> ConversationKind:
        key = self.cache_key(team, channel_id)
        cached = await self._cached(key)
        if cached is not None:
            return cached
        info = await self._conversation_info(channel_id)
        if info is None:
            self._remember_failure((team, channel_id))
            return ConversationKind.UNKNOWN
        found = classify(info, our_team=team)
        try:
            await self._cache.set(key, found.value, ttl=self._ttl)
        except REDIS_DOWN as error:  # a plain Redis cache without the memory fallback
            logger.info("could not cache the kind of %s (%s)", channel_id, type(error).__name__)
        return found

    async def _cached(self, key: str) -> ConversationKind | None:
        value = await cached_text(self._cache, key, what="conversation kind")
        if value is None:
            return None
        try:
            return ConversationKind(value)
        except ValueError:
            return None  # written by another release, or not by us: ask again

    async def _conversation_info(self, channel_id: str) -> dict[str, Any] | None:
        """The answer's `channel` object, or None (logged) for any failure."""
        self.lookups += 1
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._slack.conversations_info(channel=channel_id)
        except SlackApiError as error:
            code = error.response.get("error") if error.response is not None else None
            needed = error.response.get("needed") if error.response is not None else None
            hint = f" (needs {needed})" if needed else ""
            logger.warning("conversations.info %s failed: %s%s; unfurling as unknown", channel_id, code, hint)
            return None
        except TimeoutError:
            logger.warning(
                "conversations.info %s took over %.1f s; unfurling as unknown", channel_id, self._timeout
            )
            return None
        except (SlackClientError, aiohttp.ClientError, OSError, ValueError) as error:
            logger.warning(
                "conversations.info %s failed (%s); unfurling as unknown", channel_id, type(error).__name__
            )
            return None
        except Exception:
            logger.exception("conversations.info %s failed unexpectedly; unfurling as unknown", channel_id)
            return None
        channel = response.get("channel")
        if not isinstance(channel, dict):
            logger.warning(
                "conversations.info %s answered without a channel; unfurling as unknown", channel_id
            )
            return None
        return channel

    def _remember_failure(self, key: tuple[str, str]) -> None:
        if self._failure_ttl <= 0:
            return
        now = self._clock()
        if len(self._failed) >= _FAILURES_KEPT:
            self._failed = {k: until for k, until in self._failed.items() if until > now}
            if len(self._failed) >= _FAILURES_KEPT:
                self._failed.clear()
        self._failed[key] = now + self._failure_ttl
