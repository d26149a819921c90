"""Readiness: Slack answered `auth.test` and the incident API answered a read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import BotError
from bot.incidents.explain import explain
from bot.incidents.service import IncidentService
from bot.slack.socket_mode import connect_failure

logger = logging.getLogger(__name__)


@dataclass
class Readiness:
    """What /readyz reports."""

    intake: Callable[[], str]
    cache: Callable[[], str]
    slack: str = "unchecked"  # the bot token's auth.test
    incident_api: str = "unchecked"
    socket_mode: str | None = None  # None in HTTP mode; else connecting, connected or failing: …
    notes: list[str] = field(default_factory=list)
    # Socket Mode, once connected: is the websocket up now (the SDK reconnects on its own)?
    socket_up: Callable[[], Awaitable[bool]] | None = None

    async def refresh(self) -> None:
        """Bring the Socket Mode state up to date before it is reported."""
        if self.socket_up is not None and self.socket_mode in ("connected", "reconnecting"):
            self.socket_mode = "connected" if await self.socket_up() else "reconnecting"

    @property
    def ready(self) -> bool:
        socket_ok = self.socket_mode in (None, "connected")
        return self.slack == "ok" and self.incident_api == "ok" and socket_ok

    @property
    def slack_state(self) -> str:
        """Slack as a whole: the token's answer, then (Socket Mode) the connection."""
        if self.slack != "ok" or self.socket_mode in (None, "connected"):
            return self.slack
        return f"socket mode {self.socket_mode}"

    def as_dict(self) -> dict[str, Any]:
        """Ready means Slack and the incident API answered; Redis trouble is reported, not fatal."""
        return {
            "ready": self.ready,
            "slack": self.slack_state,
            "incident_api": self.incident_api,
            **({} if self.socket_mode is None else {"socket_mode": self.socket_mode}),
            "intake": self.intake(),
            "cache": self.cache(),
            "notes": self.notes,
        }


async def check_until_ready(
    readiness: Readiness,
    slack: AsyncWebClient,
    incidents: IncidentService,
    *,
    every: float = 10.0,
    on_auth_test: Callable[[AsyncSlackResponse], None] | None = None,
) -> None:
    """Check both dependencies until both answered; runs in the background from start-up.

    `on_auth_test` receives Slack's auth.test answer (the Bolt app keeps it for its requests).
    """
    while readiness.slack != "ok" or readiness.incident_api != "ok":
        if readiness.slack != "ok":
            try:
                answer = await slack.auth_test()
                if on_auth_test is not None:
                    on_auth_test(answer)
                readiness.slack = "ok"
            except Exception as exc:  # any failure just means "not ready yet"; reported, retried
                readiness.slack = f"failing: {connect_failure(exc, app_token=False)}"
        if readiness.incident_api != "ok":
            try:
                await incidents.probe()
                readiness.incident_api = "ok"
            except BotError as error:
                readiness.incident_api = f"failing: {explain(error)}"
        if readiness.slack != "ok" or readiness.incident_api != "ok":
            logger.warning("not ready: slack=%s incident_api=%s", readiness.slack, readiness.incident_api)
            await asyncio.sleep(every)
