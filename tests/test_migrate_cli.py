"""`python -m bot migrate` in a real subprocess: one line on success, one line (no traceback, no
password) when the database cannot be reached or its settings are wrong."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.test_cli import Run

SECRET = "pg-s3cret-never-print"


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def migrate(env: dict[str, str], cwd: Path) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate",
        env={**os.environ, **env}, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


async def test_migrate_brings_a_new_sqlite_file_to_head_and_says_so_in_one_line(tmp_path: Path) -> None:
    # no Slack or Entra settings: migrating needs only the database
    url = f"sqlite:///{tmp_path / 'data' / 'incident-bot.db'}"
    first = await migrate({"DATABASE_URL": url}, tmp_path)
    assert (first.code, first.stdout, first.stderr) == (0, f"database {url}: schema at 0004 (was none)\n", "")
    again = await migrate({"DATABASE_URL": url}, tmp_path)
    assert (again.code, again.stdout) == (0, f"database {url}: schema at 0004 (was 0004)\n")
    assert (tmp_path / "data" / "incident-bot.db").is_file()


async def test_an_unreachable_database_is_one_line_with_the_password_masked(tmp_path: Path) -> None:
    run = await migrate({"DATABASE_URL": f"postgresql://bot:{SECRET}@127.0.0.1:1/bot"}, tmp_path)
    assert run.code == 1 and run.stdout == ""
    run.assert_clean(SECRET)
    (line,) = run.stderr.splitlines()
    assert line.startswith("incident-bot: database postgresql://bot:***@127.0.0.1:1/bot: cannot migrate: ")
    assert "127.0.0.1" in line.split("cannot migrate: ", 1)[1]


async def test_wrong_database_settings_are_one_line_and_nothing_is_migrated(tmp_path: Path) -> None:
    wrong = await migrate({"DATABASE_URL": "mysql://root@db/bot"}, tmp_path)
    assert wrong.code == 2 and wrong.stdout == ""
    assert wrong.stderr.startswith("incident-bot: invalid settings: DATABASE_URL: must be sqlite:///")
    assert len(wrong.stderr.splitlines()) == 1
    replicas = await migrate(
        {"DATABASE_URL": "sqlite:///incident-bot.db", "CACHE_URL": f"redis://:{SECRET}@127.0.0.1:1/0"},
        tmp_path,
    )
    assert replicas.code == 2 and replicas.stdout == ""
    replicas.assert_clean(SECRET)
    (line,) = replicas.stderr.splitlines()
    assert "cannot share the SQLite file" in line
    assert _files(tmp_path) == []
