"""Who the bot is to Bolt: one auth.test per process, shared by every request, through `authorize=`.

Bolt's built-in single-workspace authorization calls auth.test on the first request and on every
request that arrives before its answer: a burst reaching a fresh replica would wait on a Slack
round trip each. Here one call answers them all, and the readiness check's auth.test (made at
start-up anyway) is remembered, so a ready replica makes none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped, warning_token_skipped
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.state.singleflight import SingleFlight


class BotAuthorization:
    """Bolt's `authorize=` for one bot token: the auth.test answer, fetched once and kept."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._result: AuthorizeResult | None = None
        self._flight: SingleFlight[str, AuthorizeResult] = SingleFlight()
        self.auth_tests = 0

    def remember(self, answer: AsyncSlackResponse) -> None:
        """Keep an auth.test answer the bot already has (the readiness check's)."""
        self._result = AuthorizeResult.from_auth_test_response(
            bot_token=self._client.token, auth_test_response=answer
        )

    def team_id(self) -> str | None:
        """Our workspace's team id, from the kept auth.test answer; None before there is one."""
        return self._result.team_id if self._result is not None else None

    async def result(self) -> AuthorizeResult:
        """Who the bot is: the kept answer, or one auth.test shared by everyone who asks meanwhile."""
        if self._result is not None:
            return self._result
        return await self._flight.run("auth.test", self._auth_test)

    def for_bolt(self) -> Callable[[], Awaitable[AuthorizeResult]]:
        """The function for `AsyncApp(authorize=…)`. A plain function: Bolt passes a callable the
        arguments its signature names (here none), and reads a bound method's `self` as one."""

        async def authorize() -> AuthorizeResult:
            return await self.result()

        return authorize

    async def _auth_test(self) -> AuthorizeResult:
        self.auth_tests += 1
        self.remember(await self._client.auth_test())
        assert self._result is not None
        return self._result


class ExpectedBoltWarnings(logging.Filter):
    """Drops the two warnings Bolt gives every correct start of this bot.

    Bolt reads SLACK_BOT_TOKEN from the environment even when `client=` (which carries that very
    token, SLACK_API_URL and one aiohttp session) and `authorize=` are given, and warns that it
    ignores it. The texts are Bolt's own, so a changed wording shows up again instead of hiding.
    """

    texts = frozenset({warning_client_prioritized_and_token_skipped(), warning_token_skipped()})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.texts
