"""The running bot: HTTP endpoint (/slack/events, /healthz, /readyz) or Socket Mode, and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.config.settings import Settings
from bot.errors import ConfigError
from bot.incidents.rooms import Rooms
from bot.people import People
from bot.services import Services, open_services
from bot.slack.app import create_app
from bot.slack.auth import BotAuthorization
from bot.slack.health import Readiness, check_until_ready
from bot.slack.http import KEEPALIVE_SECONDS, build_web_app
from bot.slack.ingress import Ingress
from bot.slack.slow_clients import guarded
from bot.slack.socket_mode import connect_socket_mode
from bot.slackweb import build_web_client
from bot.state.card_book import LiveCards, WatchHealth
from bot.state.channel_posts import claim_stale_after
from bot.state.database import Database, check_database
from bot.state.intake import AckFirst, Intake, MemoryIntake
from bot.state.intake_redis import RedisStreamIntake, StreamSettings
from bot.state.lease import Lease, OnlyProcess, RedisLease
from bot.state.live_cards import LiveCardStore
from bot.state.once import Once
from bot.state.pace_redis import slack_paces
from bot.state.subscriptions import SubscriptionStore
from bot.watch import Watcher, watch_metrics
from bot.work import Work, handle, on_dead

logger = logging.getLogger(__name__)

# Below this poll interval the watcher's list calls are a large share of the list budget.
LIST_BUDGET_POLL = 15
# Messages a channel may take at once before the per-channel pace applies ("short bursts >1 allowed").
POST_BURST = 4


def check_slack_settings(settings: Settings) -> None:
    """Stop the start with one clear message when Slack credentials are missing."""
    if settings.slack_bot_token is None:
        raise ConfigError("invalid settings: SLACK_BOT_TOKEN is required (xoxb-…, from the app's OAuth page)")
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        raise ConfigError(
            "invalid settings: set SLACK_APP_TOKEN (xapp-…, Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)"
        )


def build_intake(settings: Settings, services: Services, work: Work, ack_first: AckFirst) -> Intake:
    """A Redis stream across replicas when CACHE_URL is Redis, else an in-process queue."""
    metrics = services.metrics

    def count(kind: str, outcome: str) -> None:
        metrics.jobs.labels(kind, outcome).inc()

    if services.redis is not None:
        stream = StreamSettings(
            concurrency=settings.intake_concurrency,
            claim_idle=settings.intake_claim_idle_seconds,
            heartbeat=max(0.2, settings.intake_claim_idle_seconds / 5),
            janitor_every=max(0.2, settings.intake_claim_idle_seconds / 5),
            max_attempts=settings.intake_max_attempts,
        )
        return RedisStreamIntake(
            services.redis,
            lambda delivery: handle(work, delivery),
            on_dead=lambda delivery: on_dead(work, delivery),
            settings=stream,
            on_outcome=count,
            ack_first=ack_first,
        )
    return MemoryIntake(
        lambda delivery: handle(work, delivery),
        on_dead=lambda delivery: on_dead(work, delivery),
        concurrency=settings.intake_concurrency,
        max_attempts=settings.intake_max_attempts,
        on_outcome=count,
        ack_first=ack_first,
    )


class Bot:
    """One bot process: the Bolt app, its intake and workers, and how it is served."""

    def __init__(self, settings: Settings, services: Services, *, intake: Intake | None = None) -> None:
        check_slack_settings(settings)
        check_database(settings.database_url, settings.cache_url)
        self.settings = settings
        self.services = services
        self.database = Database.open(settings.database_url)
        self.live = LiveCards(
            LiveCardStore(self.database),
            WatchHealth(settings.live_poll_seconds, started=datetime.now(UTC)),
            keep=timedelta(days=settings.live_card_days),
        )
        self.slack_session = aiohttp.ClientSession()
        self.slack = build_web_client(
            settings, self.slack_session, on_ratelimited=services.metrics.slack_ratelimited.inc
        )
        self.once = Once(services.cache)
        self.people = People(
            self.slack,
            services.cache,
            writers=settings.incident_writers,
            everyone_writes=services.demo,
            readers=settings.incident_readers,
        )
        self.authorization = BotAuthorization(self.slack)
        self.rooms = Rooms(self.slack, services.cache, our_team=self.authorization.team_id)
        self.work = Work(
            settings,
            services.incidents,
            self.slack,
            self.once,
            self.people,
            services.seal,
            demo=services.demo,
            live=self.live,
            slack_pace=slack_paces(services.redis, "method", settings.live_slack_calls_per_minute),
            post_pace=slack_paces(
                services.redis, "channel", settings.channel_posts_per_minute, burst=POST_BURST
            ),
            rooms=self.rooms,
            whoami=self.authorization.result,
            alerts=services.alerts,
            lists=services.lists,
            subscriptions=SubscriptionStore(self.database),
        )
        self.ack_first = AckFirst()
        self.intake: Intake = intake or build_intake(settings, services, self.work, self.ack_first)
        services.metrics.watch_backlog(self.intake.backlog)
        self.readiness = Readiness(
            intake=lambda: self.intake.mode,
            cache=lambda: (
                "redis: unreachable, using memory"
                if services.redis_degraded
                else ("redis" if services.redis is not None else "memory")
            ),
        )
        # What listeners may ask for by name: they queue work and never wait for the incident API;
        # an incident fresh in the cache may answer in the ack.
        deps = {
            "intake": self.intake,
            "settings": settings,
            "once": self.once,
            "seal": services.seal,
            "incidents": services.incidents,
            "people": self.people,
            "cards": self.work.cards,
            "live": self.live,
        }
        self.app = create_app(
            settings, self.slack, deps, services.metrics, self.authorization, self.ack_first
        )
        # A replica lives as long as a poll or two: a successor takes over within about two polls.
        lease: Lease = (
            RedisLease(services.redis, seconds=max(5.0, 2 * settings.live_poll_seconds))
            if services.redis is not None
            else OnlyProcess()
        )
        self.watcher = Watcher(
            incidents=services.incidents,
            store=self.live.store,
            intake=self.intake,
            lease=lease,
            health=self.live.health,
            poll_seconds=settings.live_poll_seconds,
            subscriptions=self.work.subscriptions,
            claim_stale_after=claim_stale_after(settings.intake_claim_idle_seconds),
            quiet=lambda now: settings.quiet_hours is not None and settings.quiet_hours.contains(now),
        )
        watch_metrics(
            services.metrics,
            self.watcher,
            lambda: self.work.redrawn,
            paces={"method": self.work.slack_pace, "channel": self.work.post_pace},
        )
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._background: list[asyncio.Task[None]] = []
        self.port: int | None = None

    @property
    def socket_mode(self) -> bool:
        return self.settings.slack_app_token is not None

    async def start(self) -> None:
        """Migrate the database, start workers, the watcher, the HTTP listener and, with an app
        token, the Socket Mode connection."""
        before, after = await self.database.migrate()
        if before != after:
            logger.info("database schema migrated from %s to %s", before or "nothing", after)
        await self.live.start()
        await self.intake.start()
        if self.settings.live_poll_seconds < LIST_BUDGET_POLL:
            logger.warning(
                "LIVE_POLL_SECONDS=%g: polling more often than every %d s spends the incident list "
                "budget (50 a minute, 1,500 an hour, shared with every other list call)",
                self.settings.live_poll_seconds,
                LIST_BUDGET_POLL,
            )
        # What unfurls show where, spelled out once: an operator reading the log knows the policy.
        logger.info("unfurls: %s (UNFURL_DETAIL)", self.settings.unfurl_detail.describe())
        self.watcher.start()
        ingress = (
            None
            if self.settings.slack_signing_secret is None
            else Ingress(self.settings.slack_signing_secret.get_secret_value())
        )
        metrics = self.services.metrics
        web_app = build_web_app(
            None if self.socket_mode else self.app,
            self.readiness,
            metrics,
            ingress,
            body_timeout=self.settings.body_timeout_seconds,
        )
        self._runner = web.AppRunner(
            web_app,
            shutdown_timeout=self.settings.shutdown_seconds,
            keepalive_timeout=KEEPALIVE_SECONDS,
            access_log=None,
        )
        await self._runner.setup()
        assert self._runner.server is not None  # set by setup()
        # What web.TCPSite does, with each connection behind a deadline for its request heads.
        self._listener = await asyncio.get_running_loop().create_server(
            guarded(
                self._runner.server,
                self.settings.header_timeout_seconds,
                on_slow_head=metrics.rejected_requests.labels("slow_header").inc,
            ),
            self.settings.host,
            self.settings.port,
            backlog=128,
        )
        sockets = self._listener.sockets  # the bound port, when PORT=0 (tests)
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.settings.port
        # Readiness first: while Slack is unreachable /readyz says why, whatever Socket Mode is doing.
        self._background.append(
            asyncio.create_task(
                check_until_ready(
                    self.readiness,
                    self.slack,
                    self.services.incidents,
                    on_auth_test=self.authorization.remember,
                )
            )
        )
        if self.settings.slack_app_token is not None:
            app_token = self.settings.slack_app_token.get_secret_value()
            # Built inside the running loop: the aiohttp client starts a session and a task at once.
            self._socket = AsyncSocketModeHandler(self.app, app_token)
            self.readiness.socket_mode = "connecting"
            self.readiness.socket_up = self._socket.client.is_connected
            self._background.append(
                asyncio.create_task(
                    connect_socket_mode(self._socket, self.slack, app_token, self._socket_state)
                )
            )
        logger.info(
            "incident bot started: %s mode%s, port %s, intake %s",
            "socket" if self.socket_mode else "http",
            " (connecting to Slack)" if self.socket_mode else "",
            self.port,
            self.intake.mode,
        )

    def _socket_state(self, state: str) -> None:
        self.readiness.socket_mode = state

    async def stop(self, deadline: float | None = None) -> None:
        """Stop taking work, finish what was taken within `deadline`, close connections."""
        for task in self._background:
            task.cancel()  # readiness checks and a Socket Mode connect still trying
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._listener is not None:
            self._listener.close()  # stops accepting
        if self._runner is not None:
            await self._runner.cleanup()  # lets in-flight requests finish, then closes connections
        if self._listener is not None:
            # Its connections are closed by now; one still flushing to a client that reads nothing
            # (Python 3.12+ waits for those) is not worth holding the stop for.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await self._listener.wait_closed()
        await self.watcher.stop()
        await self.intake.stop(self.settings.shutdown_seconds if deadline is None else deadline)
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.live.stop()
        await self.database.close()
        await self.slack_session.close()


class StartError(ConfigError):
    """Start-up failed on something outside the bot (e.g. the listen port is taken)."""


async def run(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    check_slack_settings(settings)
    check_database(settings.database_url, settings.cache_url)  # before anything connects
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with open_services(settings) as services:
        bot = Bot(settings, services)
        # Socket Mode keeps retrying while Slack is unreachable, so start-up may not finish:
        # a SIGTERM must still stop the bot then.
        starting = asyncio.create_task(bot.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            try:
                starting.result()
            except OSError as error:  # e.g. the port is taken, or HOST is no address of this machine
                await bot.stop(deadline=1)
                where = f"HOST={settings.host} PORT={settings.port}"
                raise StartError(f"could not listen on {where}: {error.strerror or error}") from None
            # What start-up built lives as long as the process: keep it out of the cyclic garbage
            # collector's full passes, each of which otherwise stalls every ack for tens of ms.
            gc.freeze()
            await stopping
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        logger.info("stopping: finishing work in flight")
        await bot.stop()
    return 0
