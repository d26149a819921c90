"""A deadline for each request head, in front of aiohttp's server, so a slow client cannot hold a socket.

aiohttp's server has no header-read timeout: its RequestHandler takes `keepalive_timeout`,
`lingering_time` and size limits, and nothing else bounds the time a request head may take. A
client that sends a head a byte at a time (slowloris) holds its socket until `keepalive_timeout`
(3630 s by default) runs out, counted from the connection's opening and not reset by its bytes.

`web.Server` is documented as the protocol factory for `loop.create_server`. `guarded` wraps each
protocol it makes: the first head must be complete (request line and headers, up to the blank line)
within `header_timeout` of the connection's opening, each next one within `header_timeout` of its
first byte. While a request is being handled (its body read, its answer made) nothing is timed
here: the body's deadline is the handler's, which knows whether it reads one. Idle time after an
answer is `keepalive_timeout`'s. A late head gets a 408 and the connection is closed.

To see where a request ends, the wrapper watches the bytes: a head ends at the first b"\\r\\n\\r\\n"
(aiohttp accepts no bare LF, and skips empty lines before a request line, as this does), and a
request is done when the first line of its answer is written (a 1xx interim answer is not one).
After an answer with `Connection: close` nothing is timed: aiohttp closes (lingering_time at most).
A body that a handler answered without reading, still arriving after the answer, is timed as if it
were the next head: at worst that kept-alive connection is closed (and counted) early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

logger = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
Bytes = bytes | bytearray | memoryview


class _WatchedTransport:
    """The transport handed to aiohttp: everything is the real one's, but writes are seen first."""

    def __init__(self, transport: asyncio.Transport, on_write: Callable[[Bytes], None]) -> None:
        self._transport = transport
        self._on_write = on_write

    def write(self, data: Bytes) -> None:
        self._on_write(data)
        self._transport.write(data)

    def writelines(self, list_of_data: Iterable[Bytes]) -> None:
        chunks = list(list_of_data)
        for chunk in chunks:
            self._on_write(chunk)
        self._transport.writelines(chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadDeadline(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, and the clock of the request head in front of it."""

    def __init__(
        self, inner: asyncio.Protocol, header_timeout: float, on_slow_head: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._timeout = header_timeout
        self._on_slow_head = on_slow_head
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_head = True  # False from a head's blank line until its answer is written
        self._tail = b""  # the head's last bytes so far: its blank line may come split across reads
        self._last = False  # an answer said `Connection: close`: no next head to wait for

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._start_clock()  # the first head is timed from the opening: silence is slow too
        watched = _WatchedTransport(self._transport, self._written)
        self._inner.connection_made(cast(asyncio.Transport, watched))

    def data_received(self, data: bytes) -> None:
        if self._in_head and not self._last:
            self._read_head(data)  # before aiohttp sees the bytes, so before it can answer them
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _read_head(self, data: bytes) -> None:
        if self._timer is None:
            self._start_clock()  # a next head is timed from its first byte
        seen = self._tail + data if self._tail else data.lstrip(b"\r\n")
        if HEAD_END in seen:
            self._in_head, self._tail = False, b""
            self._stop_clock()
        else:
            self._tail = seen[-(len(HEAD_END) - 1) :]

    def _written(self, data: Bytes) -> None:
        """An answer's first line ends its request: the next head will be timed from its first byte."""
        start = bytes(data[:12])
        if not start.startswith(b"HTTP/1.") or start[9:10] == b"1":
            return  # a body chunk, or 100 Continue
        head = bytes(data[:8192]).split(HEAD_END, 1)[0].lower()
        self._last = b"\r\nconnection: close" in head
        self._in_head, self._tail = True, b""
        self._stop_clock()

    def _start_clock(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._too_slow)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._on_slow_head()
        logger.debug("closed a connection whose request head took over %s s", self._timeout)
        transport.write(REQUEST_TIMEOUT)
        transport.abort()  # nothing to flush but the 408: a client that reads nothing holds nothing


def guarded(
    factory: Callable[[], asyncio.Protocol], header_timeout: float, on_slow_head: Callable[[], None]
) -> Callable[[], HeadDeadline]:
    """A protocol factory for `loop.create_server`: `factory`'s protocols, each behind a head deadline."""
    return lambda: HeadDeadline(factory(), header_timeout, on_slow_head)
