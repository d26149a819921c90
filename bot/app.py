"""The Bolt app: explicit credentials, services in the context, one error handler, listeners once."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot import listeners
from bot.config import Settings
from bot.intake import AckFirst
from bot.logs import correlation_id
from bot.metrics import Metrics

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
        try:
            response = await super().async_dispatch(req)
        finally:
            self.ack_first.request_done()
            correlation_id.reset(token)
        outcome = "ok" if response.status < 400 else "error"
        self.metrics.slack_requests.labels(_surface(req.body), outcome).inc()
        return response


def share_auth_test(app: AsyncApp, answer: AsyncSlackResponse) -> None:
    """Give Bolt the bot's auth.test answer from start-up.

    Bolt's single-workspace authorization calls auth.test on its first request, and every request
    that arrives before the answer calls it too: a burst reaching a fresh replica waits on a
    Slack round trip each. The readiness check has the answer already.
    """
    for middleware in app._async_middleware_list:  # Bolt builds it in its constructor
        if isinstance(middleware, AsyncSingleTeamAuthorization) and middleware.auth_test_result is None:
            middleware.auth_test_result = answer


async def handle_error(error: Exception, body: dict[str, Any]) -> None:
    """Anything a listener did not expect: log it with its correlation id, never the payload or a token."""
    cid = correlation_id.get() or uuid.uuid4().hex[:12]
    kind = body.get("type") or body.get("command") or "request"
    logger.error(
        "listener failed on %s (correlation id %s)", kind, cid, exc_info=error, extra={"correlation_id": cid}
    )


class _ClientOverEnvToken(logging.Filter):
    """Drops Bolt's warning that SLACK_BOT_TOKEN in the environment is unused beside `client=`.

    The bot passes its own client (it carries SLACK_API_URL and one aiohttp session) built from that
    very token; Bolt reads the variable anyway and warns on every start of a correct configuration.
    """

    text = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.text


_BOLT_LOGGER = logging.getLogger("slack_bolt")
_BOLT_LOGGER.addFilter(_ClientOverEnvToken())


def create_app(
    settings: Settings,
    client: AsyncWebClient,
    deps: dict[str, Any],
    metrics: Metrics,
    ack_first: AckFirst | None = None,
) -> AsyncApp:
    """The AsyncApp with every listener registered once."""
    socket_mode = settings.slack_app_token is not None
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = ObservedApp(
        signing_secret=signing_secret,
        client=client,  # carries the bot token and SLACK_API_URL
        # Listeners only queue work and ack, so Slack gets its answer as soon as they return,
        # with no 10 ms ack-polling floor, and an event is acked only after it is queued.
        process_before_response=True,
        request_verification_enabled=not socket_mode,
        raise_error_for_unhandled_request=False,
        logger=_BOLT_LOGGER,
    )
    app.metrics = metrics
    app.ack_first = ack_first or AckFirst()
    app.deps = deps
    app.error(handle_error)
    listeners.register(app)
    return app
