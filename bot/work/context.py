"""What every job handler shares: settings, the incident and alert services, Slack, once-only keys,
people, the seal of card values, the book of live cards and the kinds of conversations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.bodies import RenderedCards, card_context_for
from bot.blocks.incident import CardContext
from bot.blocks.seal import CardSeal
from bot.config import Settings
from bot.config.unfurl import ConversationKind, Detail
from bot.incidents.alerts import AlertService
from bot.incidents.listing import IncidentLists
from bot.incidents.rooms import Rooms
from bot.incidents.service import IncidentService
from bot.people import People
from bot.slackweb import post_to_response_url
from bot.state.card_book import LiveCards
from bot.state.once import Once
from bot.state.pace import KeyedPaces, Paces
from bot.state.subscriptions import SubscriptionStore

logger = logging.getLogger(__name__)
UNREADABLE_TEAM = "?"  # the team of a user whose profile could not be read: not ours


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
        slack_pace: Paces | None = None,
        post_pace: Paces | None = None,
        rooms: Rooms | None = None,
        whoami: Callable[[], Awaitable[object]] | None = None,
        alerts: AlertService,
        lists: IncidentLists,
        subscriptions: SubscriptionStore | None = None,
    ) -> None:
        """`rooms` tells what kind each conversation is (None: every one is `unknown`, the strictest);
        `whoami` makes sure our own team is known (one auth.test) before `rooms` is asked."""
        self.settings = settings
        self.incidents = incidents
        self.slack = slack
        self.once = once
        self.people = people
        self.seal = seal
        self.demo = demo
        self.live = live  # None: cards are snapshots (no database)
        # live redraws in bulk, paced per Slack method; subscription posts and replies, per channel
        self.slack_pace: Paces = KeyedPaces(0) if slack_pace is None else slack_pace
        self.post_pace: Paces = KeyedPaces(0) if post_pace is None else post_pace
        self.cards = RenderedCards()  # shared with the listeners: a card drawn once per snapshot
        self.redrawn = 0  # live cards redrawn, for /metrics
        self.rooms = rooms
        self.alerts = alerts
        self.lists = lists
        self.subscriptions = subscriptions  # None: no database, no channel subscriptions
        self._whoami = whoami

    def counted_redraws(self, count: int) -> None:
        self.redrawn += count

    def quiet_now(self) -> bool:
        """Within QUIET_HOURS: reminders wait."""
        quiet = self.settings.quiet_hours
        return quiet is not None and quiet.contains(datetime.now(UTC))

    def live_now(self) -> bool:
        """Whether a card drawn now will be kept up to date."""
        return self.live is not None and self.live.is_live(datetime.now(UTC))

    async def respond(self, response_url: str, body: dict[str, Any]) -> None:
        """Post to a response_url over the shared Slack session."""
        session = self.slack.session
        assert session is not None
        await post_to_response_url(session, response_url, body)

    async def our_team(self) -> str | None:
        """Our workspace's team id (auth.test's), None while Slack cannot say."""
        if self._whoami is not None:
            try:
                await self._whoami()
            except Exception:  # auth.test failed: everything about the room is then unknown
                return None
        return self.rooms.our_team() if self.rooms is not None else None

    async def detail_in(
        self, channel: str | None, *, sharer: str | None = None, sharer_team: str | None = None
    ) -> Detail:
        """What a card put in `channel` may show (`UNFURL_DETAIL`): None (a composer preview) or a
        conversation that cannot be looked up is `unknown`, the strictest; a sharer from another
        organisation makes it at least what a shared conversation gets. `sharer_team` is their
        workspace when the event names it; else `sharer`, a user id, is looked up (users.info, cached)
        alongside the conversation."""
        policy = self.settings.unfurl_detail
        rooms = self.rooms
        if channel is None or rooms is None or await self.our_team() is None:
            return policy.decide(ConversationKind.UNKNOWN, sharer_external=False)
        if sharer and not sharer_team:
            kind, sharer_team = await asyncio.gather(rooms.kind(channel), self._team_of(sharer))
        else:
            kind = await rooms.kind(channel)
        return policy.decide(kind, sharer_external=rooms.is_external_user(sharer_team))

    async def _team_of(self, user_id: str) -> str | None:
        """The workspace of a user (users.info, cached); one that cannot be learned counts as another
        organisation's (`UNREADABLE_TEAM` is no team id), so the unfurl is stricter, never more open."""
        try:
            return (await self.people.person(user_id)).team_id
        except Exception as error:  # a Slack error, the network: the strict answer
            logger.info("the team of the user who shared a link is unknown (%s)", type(error).__name__)
            return UNREADABLE_TEAM

    def card_context(
        self,
        *,
        unfurl_url: str | None = None,
        shareable: bool = False,
        live: bool = False,
        detail: Detail = Detail.FULL,
    ) -> CardContext:
        """How cards are drawn in this deployment (portal, tenant, demo marking), with `detail`
        (never `none`: nothing is drawn there) deciding between the full and the redacted card."""
        return card_context_for(
            self.settings,
            self.seal,
            sample_data=self.demo,
            now=datetime.now(UTC),
            unfurl_url=unfurl_url,
            shareable=shareable and detail is Detail.FULL,
            live=live,
            redacted=detail is not Detail.FULL,
            show_title=self.settings.unfurl_redacted_title == "show",
        )
