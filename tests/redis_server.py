"""A redis-server process of a test's own (never the shared one on 6379): stop, kill, restart."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

import redis.asyncio as aioredis

from tests.world import free_port


class RedisServer:
    """`redis-server` on a free port of 127.0.0.1; with `persistent`, an AOF that survives restarts."""

    def __init__(self, directory: Path, port: int | None = None, *, persistent: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persistent = persistent
        self.process: asyncio.subprocess.Process | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, wait_seconds: float = 10.0) -> None:
        """Start (or start again, on the same port and directory) and wait for PING."""
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        )
        args = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            *persistence,
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + wait_seconds
        while not await self.answers():
            if self.process.returncode is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {self.port} did not answer PING")
            await asyncio.sleep(0.02)

    async def answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.readline(), 1.0)).startswith(b"+PONG")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def stop(self) -> None:
        """SIGTERM: Redis drops every client and exits (an AOF, if any, is already on disk)."""
        if self.running:
            assert self.process is not None
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)

    async def kill(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)

    async def restart(self, *, empty: bool = False, down_seconds: float = 0.0) -> None:
        """Stop, stay down `down_seconds`, start again; `empty`: come back without the data."""
        await self.stop()
        if empty:
            shutil.rmtree(self.directory / "appendonlydir", ignore_errors=True)
        await asyncio.sleep(down_seconds)
        await self.start()

    def client(self, db: int = 0, *, decode: bool = False) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.url(db), decode_responses=decode)
