"""Alembic's environment, run two ways.

- By `Database.migrate()`: the connection arrives in `config.attributes["connection"]`, already inside
  the migration's transaction and on the caller's event loop; nothing is opened here.
- By the `alembic` command line (alembic.ini at the repository root): the URL is DATABASE_URL (or the
  Settings default), and the migration runs on an engine of its own under `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from bot.config.settings import Settings
from bot.state.database import Database, async_url, migration_transaction
from bot.state.tables import METADATA

config = context.config


def _database_url() -> str:
    default = Settings.model_fields["database_url"].default
    return os.environ.get("DATABASE_URL") or str(default)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=METADATA)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_own_engine() -> None:
    database = Database.open(_database_url())
    try:
        async with migration_transaction(database.engine) as connection:
            await connection.run_sync(_run)
    finally:
        await database.close()


def _main() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():  # `alembic upgrade head --sql`: print the SQL, touch nothing
        context.configure(url=async_url(_database_url()), target_metadata=METADATA, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_on_own_engine())


_main()
