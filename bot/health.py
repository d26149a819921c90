"""Readiness: Slack answered `auth.test` and the incident API answered a read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import BotError
from bot.explain import explain
from bot.incidents import IncidentService

logger = logging.getLogger(__name__)


@dataclass
class Readiness:
    """What /readyz reports."""

    intake: Callable[[], str]
    cache: Callable[[], str]
    slack: str = "unchecked"
    incident_api: str = "unchecked"
    notes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.slack == "ok" and self.incident_api == "ok"

    def as_dict(self) -> dict[str, Any]:
        """Ready means Slack and the incident API answered; Redis trouble is reported, not fatal."""
        return {
            "ready": self.ready,
            "slack": self.slack,
            "incident_api": self.incident_api,
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
    while not readiness.ready:
        if readiness.slack != "ok":
            try:
                answer = await slack.auth_test()
                if on_auth_test is not None:
                    on_auth_test(answer)
                readiness.slack = "ok"
            except Exception as exc:  # any failure just means "not ready yet"; reported, retried
                readiness.slack = f"failing: {type(exc).__name__}"
        if readiness.incident_api != "ok":
            try:
                await incidents.probe()
                readiness.incident_api = "ok"
            except BotError as error:
                readiness.incident_api = f"failing: {explain(error)}"
        if not readiness.ready:
            logger.warning("not ready: slack=%s incident_api=%s", readiness.slack, readiness.incident_api)
            await asyncio.sleep(every)
