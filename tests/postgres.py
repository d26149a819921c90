"""The machine's PostgreSQL for the tests: 127.0.0.1:5432, user postgres, trust auth. This session
makes databases of its own (incident_bot_test_<random>_<n>) and drops them at the end: no other
database of the server is touched.

Without PostgreSQL its tests skip, saying why; in CI (CI=true), where .ci/run starts it, they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import asyncpg
import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
_ADMIN = {"host": PG_HOST, "port": PG_PORT, "user": "postgres", "database": "postgres"}
_T = TypeVar("_T")


def run_aside(work: Callable[[], Awaitable[_T]]) -> _T:
    """Run `work` on a loop of its own in a thread: a session fixture may be set up from inside a test's
    running loop (an async fixture asking for it), where asyncio.run cannot start another."""

    async def main() -> _T:
        return await work()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


class PostgresServer:
    """The machine's PostgreSQL, as this test session uses it: databases made here, dropped at the end."""

    def __init__(self) -> None:
        self.prefix = f"incident_bot_test_{secrets.token_hex(4)}"
        self.names: list[str] = []

    def url(self, name: str) -> str:
        return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"

    async def fresh(self) -> str:
        """A new empty database (on the caller's loop), dropped with the others at the session's end."""
        name = f"{self.prefix}_{len(self.names)}"
        self.names.append(name)
        connection = await asyncpg.connect(**_ADMIN, timeout=10)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    async def drop_all(self) -> None:
        connection = await asyncpg.connect(**_ADMIN, timeout=10)
        try:
            for name in self.names:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def _answers() -> bool:
    try:
        connection = await asyncpg.connect(**_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if not run_aside(_answers):
        reason = (
            f"PostgreSQL is not answering on {PG_HOST}:{PG_PORT} as user postgres (trust auth): start it, "
            "e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (in CI the PostgreSQL tests must run: .ci/run starts it)", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer()
    try:
        yield server
    finally:
        run_aside(server.drop_all)


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new empty PostgreSQL database of this test's own."""
    return run_aside(postgres.fresh)
