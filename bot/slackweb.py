"""The Slack Web API client and response_url posts, through SLACK_API_URL with retry handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config.settings import Settings


class CountedRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """Slack's 429 handler (waits Retry-After, retries a bounded number of times) that also tells
    `on_ratelimited` of every 429 Slack answers, for /metrics."""

    def __init__(self, on_ratelimited: Callable[[], None], *, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._on_ratelimited = on_ratelimited

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            self._on_ratelimited()
        return await super().can_retry_async(state=state, request=request, response=response, error=error)


def retry_handlers(on_ratelimited: Callable[[], None] | None = None) -> list[AsyncRetryHandler]:
    """Slack's own handlers: 429 after Retry-After, connection errors, 5xx; each a bounded number of times."""
    rate_limits = (
        CountedRateLimitHandler(on_ratelimited, max_retry_count=3)
        if on_ratelimited is not None
        else AsyncRateLimitErrorRetryHandler(max_retry_count=3)
    )
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        rate_limits,
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def build_web_client(
    settings: Settings, session: aiohttp.ClientSession, *, on_ratelimited: Callable[[], None] | None = None
) -> AsyncWebClient:
    """The bot-token client every Slack call goes through (Bolt copies its base_url and session
    into the client it makes per request). One aiohttp session: without it slack_sdk opens a new
    session, and new connections, for every call."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=10,
        session=session,
        retry_handlers=retry_handlers(on_ratelimited),
    )


class ResponseUrlRefused(RuntimeError):
    """Slack did not take a response_url post (404: expired or used up)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"response_url answered {status}: {body[:200]}")
        self.status = status


async def post_to_response_url(
    session: aiohttp.ClientSession, response_url: str, body: dict[str, Any]
) -> None:
    """Answer through a response_url (ephemeral replies, replacing the clicked message)."""
    client = AsyncWebhookClient(response_url, timeout=10, session=session, retry_handlers=retry_handlers())
    response = await client.send_dict(body)
    if response.status_code >= 400:
        raise ResponseUrlRefused(response.status_code, response.body)
