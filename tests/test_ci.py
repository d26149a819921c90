"""CI and the operator promises around it: every claimed Python, no shared Redis, a drain Docker allows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bot.config.settings import Settings

ROOT = Path(__file__).parent.parent
CI = (ROOT / ".ci" / "run").read_text()
DOCKER_STOP_TIMEOUT = 10  # seconds `docker stop` waits before SIGKILL, unless --stop-timeout says otherwise


def test_ci_runs_the_suite_on_every_python_the_package_claims() -> None:
    claimed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert claimed == ">=3.11"
    assert re.search(r"for minor in 3\.11 3\.12 3\.13; do", CI)


def test_ci_and_tests_leave_the_machines_redis_alone() -> None:
    assert "6379" not in CI  # the tests start redis-servers of their own on free ports
    assert "redis-server --daemonize" not in CI
    assert "6379" not in (ROOT / "tests" / "conftest.py").read_text()


def test_the_default_drain_fits_inside_dockers_stop_timeout() -> None:
    default = Settings.model_fields["shutdown_seconds"].default
    assert default < DOCKER_STOP_TIMEOUT
    readme = (ROOT / "README.md").read_text()
    assert "--stop-timeout" in readme  # for operators who raise SHUTDOWN_SECONDS
