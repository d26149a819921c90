"""The database's URLs, settings and migrations, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection

from bot.config.load import load_settings
from bot.config.settings import Settings
from bot.errors import ConfigError
from bot.state.database import Database, alembic_config, async_url, check_database, shown_url
from bot.state.live_cards import CardPlace, LiveCardStore
from bot.state.tables import METADATA, live_cards
from tests.world import wait_until

ROOT = Path(__file__).parent.parent.parent
ALEMBIC = Path(sys.executable).parent / "alembic"
HEAD = "0004"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# ---- URLs and settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///incident-bot.db", "sqlite+aiosqlite:///incident-bot.db"),
        ("sqlite:////data/incident-bot.db", "sqlite+aiosqlite:////data/incident-bot.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://bot@db:5432/bot", "postgresql+asyncpg://bot@db:5432/bot"),
        ("postgres://bot:pw@db/bot", "postgresql+asyncpg://bot:pw@db/bot"),
        ("postgresql+asyncpg://bot@db/bot?ssl=require", "postgresql+asyncpg://bot@db/bot?ssl=require"),
    ],
)
def test_async_url_names_the_async_driver(given: str, expected: str) -> None:
    assert async_url(given) == expected


def test_async_url_refuses_another_database_without_showing_its_password() -> None:
    with pytest.raises(ValueError, match="not a database URL") as caught:
        async_url("mysql://root:hunter2@db/bot")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://bot:s3cret@db:5432/bot", "postgresql://bot:***@db:5432/bot"),
        (
            "postgresql://bot@db/bot?password=s3cret&ssl=require",
            "postgresql://bot@db/bot?password=***&ssl=require",
        ),
        ("postgresql://bot@db/bot", "postgresql://bot@db/bot"),
        ("sqlite:////data/incident-bot.db", "sqlite:////data/incident-bot.db"),
    ],
)
def test_shown_url_masks_the_password(given: str, shown: str) -> None:
    assert shown_url(given) == shown


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///incident-bot.db",
        "sqlite:////data/incident-bot.db",
        "sqlite+aiosqlite:///x.db",
        "postgresql://bot@db:5432/bot",
        "postgres://bot@db/bot",
        "postgresql+asyncpg://bot@db/bot",
    ],
)
def test_settings_accept_the_database_urls_the_bot_knows(url: str) -> None:
    assert Settings(database_url=url).database_url == url


@pytest.mark.parametrize("url", ["mysql://root@db/bot", "sqlite://", "sqlite:///", "postgresql://", "bot.db"])
def test_settings_refuse_any_other_database_url_in_one_clear_line(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(incident_source="demo", database_url=url)
    message = str(caught.value)
    assert message == (
        "invalid settings: DATABASE_URL: must be sqlite:///path/to/incident-bot.db (one process) "
        "or postgresql://user@host:5432/db (replicas)"
    )


def test_the_database_settings_defaults_and_bounds() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///incident-bot.db"
    assert (settings.live_card_days, settings.live_poll_seconds) == (7, 60.0)
    for wrong in ({"live_card_days": 0}, {"live_card_days": 91}, {"live_poll_seconds": 0.5}):
        with pytest.raises(ValidationError):
            Settings(**wrong)


@pytest.mark.parametrize("cache", ["redis://:pw@cache:6379/0", "rediss://cache:6380/0"])
def test_replicas_on_sqlite_are_refused_in_one_line(cache: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_database("sqlite:////data/incident-bot.db", cache)
    message = str(caught.value)
    assert "\n" not in message and "pw" not in message
    assert message.startswith("invalid settings: CACHE_URL=redis")
    assert "cannot share the SQLite file DATABASE_URL=sqlite:////data/incident-bot.db" in message
    assert message.endswith("set DATABASE_URL=postgresql://user@host:5432/db")


@pytest.mark.parametrize(
    ("database_url", "cache_url"),
    [
        ("postgresql://bot@db/bot", "redis://cache:6379/0"),
        ("postgres://bot@db/bot", "rediss://cache:6380/0"),
        ("sqlite:///incident-bot.db", "memory://"),
        ("postgresql://bot@db/bot", "memory://"),
    ],
)
def test_replicas_on_postgresql_and_one_process_on_sqlite_are_accepted(
    database_url: str, cache_url: str
) -> None:
    check_database(database_url, cache_url)


# ---- opening ----------------------------------------------------------------------------------------


async def test_sqlite_gets_its_folder_and_its_pragmas_on_every_connection(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "incident-bot.db"
    database = Database.open(f"sqlite:///{path}")
    try:
        assert database.kind == "sqlite" and path.parent.is_dir()
        async with database.engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            ]
        assert pragmas == ["wal", 1, 15000, 1]  # synchronous 1 is NORMAL
    finally:
        await database.close()


async def test_sqlite_transactions_that_read_then_write_all_go_through_when_many_run_at_once(
    tmp_path: Path,
) -> None:
    # A deferred BEGIN fails such a transaction with "database is locked" (no busy wait) as soon as
    # another connection commits between its read and its write: every claim is read-then-write.
    database = Database.open(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await connection.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump() -> None:
            async with database.sessions.begin() as session:
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0.001)  # others commit meanwhile
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(40)))
        async with database.sessions.begin() as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 40
    finally:
        await database.close()


async def test_sqlite_reads_go_on_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await connection.execute(text("INSERT INTO counter VALUES (0)"))
        async with database.sessions.begin() as writer:
            await writer.execute(text("UPDATE counter SET n = 1"))
            # The writer has not committed: a read sees the last commit, at once (an IMMEDIATE
            # BEGIN would wait up to busy_timeout for the writer).
            async with asyncio.timeout(2), database.reads.begin() as reader:
                assert (await reader.execute(text("SELECT n FROM counter"))).scalar_one() == 0
        async with database.reads.begin() as reader:
            assert (await reader.execute(text("SELECT n FROM counter"))).scalar_one() == 1
    finally:
        await database.close()


async def test_postgresql_gets_a_pool_of_five_that_pings(postgres_shared_url: str) -> None:
    """A pooled connection the server dropped (a restart, a failover, an idle timeout) is replaced
    before use: the next transaction goes through instead of failing on a dead socket."""
    database = Database.open(postgres_shared_url)
    try:
        assert database.kind == "postgresql"
        assert database.engine.pool.size() == 5  # type: ignore[attr-defined]
        async with database.engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect(postgres_shared_url, timeout=10)
        try:  # the pooled connection, idle in the pool, is ended by the server
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            gone = "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)"
            await wait_until(lambda: admin.fetchval(gone, pid), within=10)
        finally:
            await admin.close()
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    finally:
        await database.close()


# ---- migrations -------------------------------------------------------------------------------------


async def test_a_fresh_database_is_migrated_to_head_once(fresh_url: str) -> None:
    database = Database.open(fresh_url)
    try:
        assert await database.revision() is None
        assert await database.migrate() == (None, HEAD)
        assert await database.migrate() == (HEAD, HEAD)
        assert await database.revision() == HEAD
    finally:
        await database.close()


async def test_an_upgrade_from_the_first_schema_keeps_the_cards(fresh_url: str) -> None:
    database = Database.open(fresh_url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0001"))
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert "live_cards" in tables and "incident_versions" not in tables
            place = CardPlace("message", channel="C0SOC", ts="1700000000.000100")
            await connection.execute(
                insert(live_cards).values(
                    incident_id="2972395", follows_id="2972395", surface="message", channel="C0SOC",
                    ts="1700000000.000100", place_key=place.key, digest="d1", created_at=NOW,
                    expires_at=NOW + timedelta(days=7), drawn_at=NOW,
                )
            )  # fmt: skip
        assert await database.revision() == "0001"
        assert await database.migrate() == ("0001", HEAD)
        (card,) = await LiveCardStore(database).following(["2972395"], now=NOW)
        assert (card.place, card.digest, card.uses, card.needs_redraw) == (place, "d1", 0, False)
        assert card.detail == "full"  # 0003: every card recorded before it was drawn in full
        assert card.expires_at == NOW + timedelta(days=7)
    finally:
        await database.close()


def _differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), METADATA))


async def test_the_migrations_make_exactly_the_tables_the_code_queries(fresh_url: str) -> None:
    database = Database.open(fresh_url)
    try:
        await database.migrate()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await database.close()


async def _alembic(*args: str, database_url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(ALEMBIC), "-c", "alembic.ini", *args,
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_alembic_command_line_migrates_database_url(fresh_url: str) -> None:
    code, output = await _alembic("upgrade", "head", database_url=fresh_url)
    assert code == 0, output
    assert "Running upgrade 0001 -> 0002" in output
    database = Database.open(fresh_url)
    try:
        assert await database.revision() == HEAD
    finally:
        await database.close()


async def test_the_alembic_command_line_prints_the_sql_without_touching_the_database(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    code, output = await _alembic("upgrade", "head", "--sql", database_url=f"sqlite:///{path}")
    assert code == 0, output
    assert "CREATE TABLE live_cards" in output and "CREATE TABLE incident_versions" in output
    assert not path.exists()


async def test_two_replicas_migrating_one_postgresql_at_once_both_succeed(postgres_url: str) -> None:
    first, second = Database.open(postgres_url), Database.open(postgres_url)
    try:
        results = await asyncio.gather(first.migrate(), second.migrate())
        assert sorted(results, key=str) == [(HEAD, HEAD), (None, HEAD)]
        async with first.engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [tuple(row) for row in versions] == [(HEAD,)]
    finally:
        await first.close()
        await second.close()


async def test_a_table_of_the_schema_is_there_after_migrate(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert (await connection.execute(select(live_cards.c.id))).all() == []
