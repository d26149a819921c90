"""A redis-py client that sends the short commands issued in one event-loop turn as one pipeline.

In a burst, dozens of tasks each send one XADD, SET or GET at almost the same moment. Sent one
by one, each takes a pooled connection, a write system call and a read of its own, and that CPU
is taken from the acks Slack is waiting for. Queued for the end of the loop turn and sent
together (non-transactional, as ioredis' and Upstash's auto-pipelining do), they cost one of
each. Callers do not change: every command still returns its own reply or raises its own error.

Only commands that answer at once are batched. Blocking reads (XREADGROUP … BLOCK), scripts
(EVALSHA falls back to EVAL on NOSCRIPT) and everything else go out alone, as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

BATCHED = frozenset(
    {
        b"GET", b"SET", b"DEL", b"EXISTS", b"PEXPIRE", b"EXPIRE", b"MGET",
        b"XADD", b"XACK", b"XCLAIM",
    }
)  # fmt: skip
MOST_PER_PIPELINE = 512

_Waiting = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


def _name(command: Any) -> bytes:
    raw = command.encode() if isinstance(command, str) else bytes(command)
    return raw.upper()


class AutoPipelineRedis(aioredis.Redis):
    """`redis.asyncio.Redis` whose short commands of one loop turn travel as one pipeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: list[_Waiting] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _name(args[0]) not in BATCHED:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((args, options, reply))
        return await reply

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), MOST_PER_PIPELINE):
            task = asyncio.create_task(self._send(waiting[start : start + MOST_PER_PIPELINE]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Waiting]) -> None:
        if len(batch) == 1:  # nothing to gain from a pipeline
            args, options, reply = batch[0]
            try:
                result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            except BaseException as error:
                _fail(reply, error)
            else:
                _answer(reply, result)
            return
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
