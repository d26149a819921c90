"""The two databases the bot runs on, for the state tests: a temporary SQLite file, and PostgreSQL
(tests/postgres.py: databases of this session's own, dropped at its end)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.state.database import Database
from bot.state.tables import METADATA
from tests.postgres import PostgresServer, run_aside

KINDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_shared_url(postgres: PostgresServer) -> str:
    """One database for all the repository tests of the session (each test empties its tables)."""
    return run_aside(postgres.fresh)


@pytest.fixture(params=KINDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a database never migrated: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'nested' / 'incident-bot.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest_asyncio.fixture(params=KINDS)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """A database at head with empty tables, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'incident-bot.db'}"
    else:
        url = request.getfixturevalue("postgres_shared_url")
    opened = Database.open(url)
    try:
        await opened.migrate()
        async with opened.engine.begin() as connection:
            for table in reversed(METADATA.sorted_tables):
                await connection.execute(table.delete())
        yield opened
    finally:
        await opened.close()
