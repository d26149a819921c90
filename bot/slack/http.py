"""The HTTP side of one bot process: Slack's endpoint behind its door, health checks and /metrics.

`/slack/events` reads the body within its deadline and size (408, 413), checks the signature on the
raw bytes (`ingress.py`: 401, 400), and only then hands the text to Bolt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.metrics import Metrics
from bot.slack.health import Readiness
from bot.slack.ingress import Ingress, MalformedRequests, Refusal

EVENTS_PATH = "/slack/events"
# How long an idle kept-alive connection stays open: aiohttp's default, stated because the README
# asks a load balancer in front to keep its idle timeout below it.
KEEPALIVE_SECONDS = 3630.0
logging.getLogger("aiohttp.server").addFilter(MalformedRequests())


def build_web_app(
    app: AsyncApp | None,
    readiness: Readiness,
    metrics: Metrics,
    ingress: Ingress | None = None,
    *,
    body_timeout: float,
) -> web.Application:
    """aiohttp routes: Slack's endpoint (HTTP mode only), the health checks and /metrics."""

    async def slack_events(request: web.Request) -> web.Response:
        assert app is not None and ingress is not None
        try:
            # Bounded in size by client_max_size (a larger body is a 413) and in time here: aiohttp
            # waits for a body as long as its client keeps the connection open.
            async with asyncio.timeout(body_timeout):
                raw = await request.read()
        except web.HTTPRequestEntityTooLarge as error:
            metrics.rejected_requests.labels("too_large").inc()
            # Answered, not raised: a raised one keeps the part of the body already read alive in
            # its traceback until a full garbage collection (about 1 MB per refused request).
            too_large = web.Response(status=413, text=error.text)
            too_large.force_close()  # the rest of the body is not read; the next request needs a new socket
            return too_large
        except TimeoutError:
            metrics.rejected_requests.labels("slow_body").inc()
            too_slow = web.Response(status=408, text="the request body came too slowly")
            too_slow.force_close()  # then closed: aiohttp drains the rest for lingering_time (10 s) at most
            return too_slow
        body = ingress.read(raw, request.headers)
        if isinstance(body, Refusal):
            metrics.rejected_requests.labels(body.reason).inc()
            return web.Response(status=body.status, text=body.text)
        headers: dict[str, str | Sequence[str]] = dict(request.headers)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        await readiness.refresh()
        return web.json_response(readiness.as_dict(), status=200 if readiness.ready else 503)

    async def metrics_page(_: web.Request) -> web.Response:
        return web.Response(body=await metrics.render(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    web_app = web.Application(client_max_size=1024**2)
    web_app.router.add_get("/metrics", metrics_page)
    if app is not None:
        web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    return web_app
