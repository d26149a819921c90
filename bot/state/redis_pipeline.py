"""A redis-py client that sends the short commands issued in one event-loop turn as one pipeline.

In a burst, dozens of tasks each send one XADD, SET or GET at almost the same moment. Sent one
by one, each takes a pooled connection, a write system call and a read of its own, and that CPU
is taken from the acks Slack is waiting for. Gathered over one loop turn and sent together
(non-transactional, as ioredis' and Upstash's auto-pipelining do), they cost one of each.
Callers do not change: every command still returns its own reply or raises its own error.

Only commands that answer at once are batched; blocking reads (XREADGROUP … BLOCK) and
everything else go out alone, as before. A script's NOSCRIPT error reaches its caller alone, and
redis-py's Script loads the script and runs it again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.errors import DependencyChanged

BATCHED = frozenset(
    {
        b"GET", b"SET", b"DEL", b"EXISTS", b"PEXPIRE", b"EXPIRE", b"MGET",
        b"XADD", b"XACK", b"XCLAIM", b"EVALSHA",
    }
)  # fmt: skip
MOST_PER_PIPELINE = 512
_PROBE = "incident-bot:self-check"
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

_Waiting = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


def _name(command: Any) -> bytes:
    raw = command.encode() if isinstance(command, str) else bytes(command)
    return raw.upper()


class AutoPipelineRedis(aioredis.Redis):
    """`redis.asyncio.Redis` whose short commands of one loop turn travel as one pipeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gathering: list[_Waiting] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.pipelines_sent = 0

    async def self_check(self) -> None:
        """Two GETs in one loop turn must travel as one pipeline. redis-py routes every command
        through `execute_command`; if a release stops doing so, batching silently ends: say so loudly.
        Redis unreachable: nothing to check now (the cache's fallback takes over)."""
        before = self.pipelines_sent
        try:
            await asyncio.gather(self.get(_PROBE), self.get(_PROBE))
        except REDIS_ERRORS:
            return
        if self.pipelines_sent != before + 1:
            raise DependencyChanged(
                f"redis-py {redis.__version__} no longer sends commands through Redis.execute_command, "
                "so bot/state/redis_pipeline.py cannot batch them: update it, or install redis 8.1"
            )

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _name(args[0]) not in BATCHED:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if self._gathering is not None and len(self._gathering) < MOST_PER_PIPELINE:
            reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._gathering.append((args, options, reply))
            return await reply
        # The first command of the turn leads: it yields once, so that the tasks already due in
        # this turn can add theirs, then sends them all. Alone, it goes out as a plain command.
        gathered: list[_Waiting] = []
        self._gathering = gathered
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            self._stop_gathering(gathered)
            if gathered:  # the others still want their replies
                self._spawn(gathered)
            raise
        self._stop_gathering(gathered)
        if not gathered:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        mine: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # A task of its own, so that cancelling the leader does not cancel the others' commands.
        self._spawn([(args, options, mine), *gathered])
        return await mine

    def _stop_gathering(self, gathered: list[_Waiting]) -> None:
        if self._gathering is gathered:
            self._gathering = None

    def _spawn(self, batch: list[_Waiting]) -> None:
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Waiting]) -> None:
        self.pipelines_sent += 1
        pipe = self.pipeline(transaction=False)
        for args, options, _ in batch:
            pipe.execute_command(*args, **options)
        try:
            results = await pipe.execute(raise_on_error=False)
        except BaseException as error:  # the connection, not a command: every caller hears it
            for _, _, reply in batch:
                _fail(reply, error)
            return
        for (_, _, reply), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                _fail(reply, result)
            else:
                _answer(reply, result)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        await super().aclose(close_connection_pool)


def _answer(reply: asyncio.Future[Any], result: Any) -> None:
    if not reply.done():  # its caller may have been cancelled meanwhile
        reply.set_result(result)


def _fail(reply: asyncio.Future[Any], error: BaseException) -> None:
    if not reply.done():
        if isinstance(error, asyncio.CancelledError):
            reply.cancel()
        else:
            reply.set_exception(error)
