"""The bot's durable database: one async SQLAlchemy engine and its migrations.

SQLite (aiosqlite) serves one process; PostgreSQL (asyncpg) serves replicas. Settings give the URL in
its plain form (`sqlite:///…`, `postgresql://…`); `async_url` names the async driver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.dml import Insert

from bot.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic names each of its plugins at INFO as it is imported (here on first use, so that a command
# which never migrates never loads it): noise in the bot's log.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
DATABASE_EXAMPLE = "postgresql://user@host:5432/db"
# Any fixed 64-bit number: the key of the PostgreSQL advisory lock that one migration holds at a time.
_MIGRATION_LOCK = 0x1BC1DE17B07
_ASYNC_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_MASK = "***"
_READ_ONLY = "incident_bot_read_only"  # an execution option of the engine behind Database.reads


def async_url(url: str) -> str:
    """The URL with the async driver named: sqlite:///x → sqlite+aiosqlite:///x,
    postgresql:// or postgres:// → postgresql+asyncpg://; the async forms unchanged."""
    scheme, separator, rest = url.partition("://")
    driver = _ASYNC_SCHEMES.get(scheme.lower()) if separator else None
    if driver is None:
        raise ValueError(f"not a database URL the bot knows: {shown_url(url)}")
    return f"{driver}://{rest}"


def shown_url(url: str) -> str:
    """The URL with its password (in the authority or a ?password= parameter) masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("://", 1)[0] + "://" + _MASK
    shown = url
    if password is not None:
        # only the authority is touched: urlunsplit would drop the // of an authority-less sqlite:///
        user_info, _, host = parts.netloc.rpartition("@")
        shown = shown.replace(f"//{parts.netloc}", f"//{user_info.split(':', 1)[0]}:{_MASK}@{host}", 1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(key.lower() == "password" for key, _ in pairs):
        masked = [(key, _MASK if key.lower() == "password" else value) for key, value in pairs]
        shown = shown.replace(f"?{parts.query}", "?" + urlencode(masked, safe="*/:"), 1)
    return shown


def check_database(database_url: str, cache_url: str) -> None:
    """Refuse replicas (a shared Redis) on SQLite: each replica would keep its own file."""
    replicas = urlsplit(cache_url).scheme in ("redis", "rediss")
    if replicas and make_url(async_url(database_url)).get_backend_name() == "sqlite":
        raise ConfigError(
            f"invalid settings: CACHE_URL={shown_url(cache_url)} means several replicas, and they "
            f"cannot share the SQLite file DATABASE_URL={shown_url(database_url)}; "
            f"set DATABASE_URL={DATABASE_EXAMPLE}"
        )


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations; with `connection`, env.py migrates over
    it (in its transaction) instead of opening an engine of its own."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    from alembic import command

    before = current_revision(connection)
    command.upgrade(alembic_config(connection), "head")
    after = current_revision(connection)
    assert after is not None
    return before, after


@asynccontextmanager
async def migration_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction for a whole migration; on PostgreSQL it first takes the migration lock, so two
    replicas starting at once migrate one after the other (the second finds nothing to do)."""
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        yield connection


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one connection writes; busy_timeout makes a writer wait for
    # another instead of failing at once. synchronous=NORMAL, SQLite's advice for WAL: a commit
    # no longer waits for fsync (the write lock is held for far less, so a bulk change's writers do
    # not queue into busy_timeout); a crash of the bot loses nothing, a power cut at most the last
    # commits, and never corrupts the file.
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=15000", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
    # sqlite3 would begin a transaction only before an INSERT/UPDATE/DELETE, leaving DDL and reads
    # outside it; `_sqlite_begin` begins every transaction instead, so a migration is all or nothing.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN, where busy_timeout applies. A deferred transaction
    # that reads and then writes (every claim's compare-and-set does) fails at once with "database
    # is locked" when another connection committed in between: SQLite cannot move its snapshot.
    # A transaction that only reads (Database.reads) begins deferred: in WAL it reads its snapshot
    # beside a writer instead of queueing for the lock.
    reading = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


class Database:
    """The engine and its session factory; `open` it once per process and `close` it at exit."""

    def __init__(self, kind: Literal["sqlite", "postgresql"], engine: AsyncEngine) -> None:
        self.kind: Literal["sqlite", "postgresql"] = kind
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
        # Sessions for transactions that only read, on the same pool: on SQLite they take no write
        # lock (so they must not write: a deferred read-then-write may fail with "database is
        # locked"); on PostgreSQL they are the same as `sessions`.
        self.reads: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    def insert(self, table: Table) -> Insert:
        """An INSERT of `table` that can take ON CONFLICT: spelt alike on both databases, but each
        dialect has its own construct."""
        dialect = postgresql if self.kind == "postgresql" else sqlite
        return cast(Insert, dialect.insert(table))

    @classmethod
    def open(cls, url: str) -> Database:
        """The engine for `url` (no connection yet); for SQLite, the file's folder is made if missing."""
        address = make_url(async_url(url))
        if address.get_backend_name() == "sqlite":
            path = address.database or ""
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(address)
            event.listen(engine.sync_engine, "connect", _sqlite_connected)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
            return cls("sqlite", engine)
        # asyncpg waits 60 s for an unreachable host by default; start-up should say so sooner.
        engine = create_async_engine(address, pool_size=5, pool_pre_ping=True, connect_args={"timeout": 10})
        return cls("postgresql", engine)

    async def migrate(self) -> tuple[str | None, str]:
        """Upgrade the schema to this release's head: (revision before, revision after)."""
        async with migration_transaction(self.engine) as connection:
            return await connection.run_sync(_upgrade)

    async def revision(self) -> str | None:
        """The schema's revision, None for a database never migrated."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(current_revision)

    async def close(self, seconds: float = 5.0) -> None:
        """Close the pool's connections; a connection that does not close in time is left to the
        server (a stop must end)."""
        try:
            async with asyncio.timeout(seconds):
                await self.engine.dispose()
        except TimeoutError:
            logger.warning("database connections did not close within %.0f s; stopping anyway", seconds)
