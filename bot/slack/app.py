"""The Bolt app: explicit credentials, services in the context, one error handler, listeners once."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.settings import Settings
from bot.logs import correlation_id
from bot.metrics import Metrics
from bot.slack import listeners
from bot.slack.auth import BotAuthorization, ExpectedBoltWarnings
from bot.slack.errors import FAILED, handle_error
from bot.state.intake import AckFirst

logger = logging.getLogger(__name__)


def _surface(body: dict[str, Any]) -> str:
    if body.get("command"):
        return "command"
    kind = str(body.get("type") or "other")
    if kind == "event_callback":
        return "event:" + str((body.get("event") or {}).get("type") or "other")
    return kind


class ObservedApp(AsyncApp):
    """AsyncApp that gives each Slack request a correlation id and counts it by surface and outcome.

    Done around dispatch, not in a global middleware: Bolt runs global middleware to the end
    before the listener (their `next()` only records that it was called).
    """

    metrics: Metrics
    ack_first: AckFirst
    deps: dict[str, Any]

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        # Bolt hands any context key to a listener parameter of the same name. Set here rather
        # than in a global middleware, which costs Bolt a middleware run on every request.
        req.context.update(self.deps)
        token = correlation_id.set(uuid.uuid4().hex[:12])
        self.ack_first.request_started()
        started = time.perf_counter()
        try:
            response = await super().async_dispatch(req)
        finally:
            self.ack_first.request_done()
            correlation_id.reset(token)
        surface = _surface(req.body)
        self.metrics.slack_request_seconds.labels(surface).observe(time.perf_counter() - started)
        outcome = "error" if response.status >= 400 or req.context.get(FAILED) else "ok"
        self.metrics.slack_requests.labels(surface, outcome).inc()
        return response


_BOLT_LOGGER = logging.getLogger("slack_bolt")
_BOLT_LOGGER.addFilter(ExpectedBoltWarnings())


def create_app(
    settings: Settings,
    client: AsyncWebClient,
    deps: dict[str, Any],
    metrics: Metrics,
    authorization: BotAuthorization,
    ack_first: AckFirst | None = None,
) -> AsyncApp:
    """The AsyncApp with every listener registered once."""
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = ObservedApp(
        signing_secret=signing_secret,
        client=client,  # carries the bot token and SLACK_API_URL
        authorize=authorization.for_bolt(),
        # Listeners only queue work and ack, so Slack gets its answer as soon as they return,
        # with no 10 ms ack-polling floor, and an event is acked only after it is queued.
        process_before_response=True,
        # HTTP mode: bot/slack/ingress.py checks the signature on the raw bytes before Bolt parses
        # anything; Socket Mode needs none (the websocket is the bot's own, opened with its token).
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        logger=_BOLT_LOGGER,
    )
    app.metrics = metrics
    app.ack_first = ack_first or AckFirst()
    app.deps = deps
    app.error(handle_error)
    listeners.register(app)
    return app
