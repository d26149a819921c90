"""What every job handler shares: settings, the incident service, Slack, once-only keys, people, the
seal of card values and the book of live cards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.bodies import RenderedCards, card_context_for
from bot.blocks.incident import CardContext
from bot.blocks.seal import CardSeal
from bot.config import Settings
from bot.incidents.service import IncidentService
from bot.people import People
from bot.slackweb import post_to_response_url
from bot.state.card_book import LiveCards
from bot.state.once import Once
from bot.state.pace import MethodPaces


class Work:
    """The parts the job handlers work with, built once per process (by `bot.server`)."""

    def __init__(
        self,
        settings: Settings,
        incidents: IncidentService,
        slack: AsyncWebClient,
        once: Once,
        people: People,
        seal: CardSeal,
        *,
        demo: bool,
        live: LiveCards | None = None,
        slack_pace: MethodPaces | None = None,
    ) -> None:
        self.settings = settings
        self.incidents = incidents
        self.slack = slack
        self.once = once
        self.people = people
        self.seal = seal
        self.demo = demo
        self.live = live  # None: cards are snapshots (no database)
        self.slack_pace = slack_pace or MethodPaces(0)  # live redraws in bulk, paced per Slack method
        self.cards = RenderedCards()  # shared with the listeners: a card drawn once per snapshot
        self.redrawn = 0  # live cards redrawn, for /metrics

    def counted_redraws(self, count: int) -> None:
        self.redrawn += count

    def live_now(self) -> bool:
        """Whether a card drawn now will be kept up to date."""
        return self.live is not None and self.live.is_live(datetime.now(UTC))

    async def respond(self, response_url: str, body: dict[str, Any]) -> None:
        """Post to a response_url over the shared Slack session."""
        session = self.slack.session
        assert session is not None
        await post_to_response_url(session, response_url, body)

    def card_context(
        self, *, unfurl_url: str | None = None, shareable: bool = False, live: bool = False
    ) -> CardContext:
        """How cards are drawn in this deployment (portal, tenant, demo marking)."""
        return card_context_for(
            self.settings,
            self.seal,
            sample_data=self.demo,
            now=datetime.now(UTC),
            unfurl_url=unfurl_url,
            shareable=shareable,
            live=live,
        )
