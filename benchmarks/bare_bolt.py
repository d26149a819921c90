"""The baseline the bot is measured against: the least a slack-bolt app can do, as Bolt's docs teach it.

`python -m benchmarks.bare_bolt` serves an AsyncApp on PORT (Bolt's own aiohttp server, `app.start`)
that verifies the signature and acks `/incident` and `link_shared` with nothing else. With
`BARE_BOLT_XADD=redis://…` it first XADDs the request body to a Redis stream: the least a durable
Bolt app does before its ack. Configured like the bot: SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and
SLACK_API_URL (the fake Slack, for Bolt's one auth.test).
"""

from __future__ import annotations

import os

import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

STREAM = "bare-bolt:intake"


def build_app(xadd_url: str | None) -> AsyncApp:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    # With XADD, the listener must run before the answer: by default Bolt acks an event first and
    # runs its listener afterwards, so an event would be acked before it is kept.
    app = AsyncApp(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        process_before_response=xadd_url is not None,
    )
    redis = aioredis.Redis.from_url(xadd_url) if xadd_url else None

    async def keep(request: AsyncBoltRequest) -> None:
        if redis is not None:
            await redis.xadd(STREAM, {"body": request.raw_body})

    @app.command("/incident")
    async def incident(ack: AsyncAck, request: AsyncBoltRequest) -> None:
        await keep(request)
        await ack()

    @app.event("link_shared")
    async def link_shared(ack: AsyncAck, request: AsyncBoltRequest) -> None:
        await keep(request)
        await ack()

    return app


def main() -> None:
    build_app(os.environ.get("BARE_BOLT_XADD")).start(port=int(os.environ["PORT"]), host="127.0.0.1")


if __name__ == "__main__":
    main()
