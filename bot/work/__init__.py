"""Work done after Slack was acked: one handler per job kind, all idempotent under redelivery."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.bodies import card_context_for
from bot.blocks.incident import CardContext
from bot.intake import Job
from bot.once import Once
from bot.people import People
from bot.services import Services
from bot.slackweb import post_to_response_url

logger = logging.getLogger(__name__)


class Work:
    """Shared state of the job handlers and their dispatch by job kind."""

    def __init__(self, services: Services, slack: AsyncWebClient, once: Once, people: People) -> None:
        self.services = services
        self.people = people
        self.settings = services.settings
        self.incidents = services.incidents
        self.slack = slack
        self.once = once
        self._handlers: dict[str, Callable[[Job], Awaitable[None]]] = {}
        self._dead_handlers: dict[str, Callable[[Job], Awaitable[None]]] = {}

    def on(
        self,
        kind: str,
        handler: Callable[[Job], Awaitable[None]],
        dead: Callable[[Job], Awaitable[None]] | None = None,
    ) -> None:
        """Route jobs of `kind` to `handler`; `dead` tells the user when the job gave up."""
        self._handlers[kind] = handler
        if dead is not None:
            self._dead_handlers[kind] = dead

    async def handle(self, job: Job) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            logger.error("no handler for job kind %r; dropping job %s", job.kind, job.id)
            return
        await handler(job)

    async def on_dead(self, job: Job) -> None:
        handler = self._dead_handlers.get(job.kind)
        if handler is not None:
            await handler(job)

    async def respond(self, response_url: str, body: dict[str, Any]) -> None:
        """Post to a response_url over the shared Slack session."""
        session = self.slack.session
        assert session is not None
        await post_to_response_url(session, response_url, body)

    def card_context(self, *, unfurl_url: str | None = None, shareable: bool = False) -> CardContext:
        """How cards are drawn in this deployment (portal, tenant, demo marking)."""
        return card_context_for(
            self.settings,
            sample_data=self.services.demo,
            now=datetime.now(UTC),
            unfurl_url=unfurl_url,
            shareable=shareable,
        )


def build_work(services: Services, slack: AsyncWebClient, once: Once, people: People) -> Work:
    """Work with every job kind registered."""
    from bot.work import reading, writing

    work = Work(services, slack, once, people)
    reading.register(work)
    writing.register(work)
    return work
