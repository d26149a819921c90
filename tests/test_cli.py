"""`python -m bot get <id>` in a real subprocess, against the fakes running in this test's loop."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import TENANT_ID, FakeEntra, FakeIncidentApi

ID = "2972395"
DOCUMENTED = [
    "id",
    "displayName",
    "status",
    "severity",
    "classification",
    "determination",
    "assignedTo",
    "tenantId",
    "createdDateTime",
    "lastUpdateDateTime",
    "customTags",
    "systemTags",
    "description",
    "summary",
    "recommendedActions",
    "comments",
    "incidentWebUrl",
    "redirectIncidentId",
    "alerts",
]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def assert_clean(self, *secrets: str) -> None:
        """No traceback, and none of the secrets, on either stream."""
        assert "Traceback" not in self.stderr, self.stderr
        for secret in secrets:
            assert secret not in self.stdout and secret not in self.stderr


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


def base_env() -> dict[str, str]:
    """This process's environment (already without the bot's variables), minus CURL_CA_BUNDLE."""
    return {k: v for k, v in os.environ.items() if k != "CURL_CA_BUNDLE"}


@pytest.fixture
def fake_env(entra: FakeEntra, incident_api: FakeIncidentApi) -> dict[str, str]:
    return base_env() | {
        "AZURE_TENANT_ID": TENANT_ID,
        "AZURE_CLIENT_ID": entra.client_id,
        "AZURE_CLIENT_SECRET": entra.client_secret,
        "AZURE_AUTHORITY_HOST": entra.authority_host,
        "GRAPH_BASE_URL": incident_api.graph_v1_url,
        "INCIDENT_API_RETRIES": "0",
        "REQUESTS_CA_BUNDLE": entra.ca_bundle_path,  # MSAL (requests) must trust the fake's CA
    }


async def test_get_prints_one_json_object_with_the_documented_names(
    fake_env: dict[str, str], entra: FakeEntra, tmp_path: Path
) -> None:
    run = await run_cli("get", ID, env=fake_env, cwd=tmp_path)
    assert run.code == 0, run.stderr
    run.assert_clean(entra.client_secret)
    assert run.stdout.count("\n") == 1
    incident = json.loads(run.stdout)
    assert set(DOCUMENTED) <= set(incident)
    assert incident["id"] == ID and incident["tenantId"] == TENANT_ID
    assert (incident["status"], incident["severity"], incident["classification"]) == (
        "active",
        "high",
        "truePositive",
    )
    assert incident["createdDateTime"] == "2021-08-13T08:43:35.553333Z"
    assert set(incident["comments"][0]) == {"comment", "createdByDisplayName", "createdDateTime"}
    assert len(incident["alerts"]) == 3 and incident["alerts"][0]["evidence"]["devices"]
    assert incident["redirectIncidentId"] is None and incident["customTags"] == ["Demo"]
    assert entra.token_requests == 1


async def test_a_merged_incident_prints_its_target(fake_env: dict[str, str], tmp_path: Path) -> None:
    run = await run_cli("get", "4242", env=fake_env, cwd=tmp_path)
    assert run.code == 0 and json.loads(run.stdout)["id"] == ID


async def test_not_found_names_the_id(fake_env: dict[str, str], entra: FakeEntra, tmp_path: Path) -> None:
    run = await run_cli("get", "999", env=fake_env, cwd=tmp_path)
    assert run.code != 0 and run.stdout == ""
    run.assert_clean(entra.client_secret)
    assert "999" in run.stderr and "not found" in run.stderr


@pytest.mark.parametrize("bad_id", ["1/comments", "２９７２３９５", "2972395?$select=id"])
async def test_an_invalid_id_fails_before_any_request(
    fake_env: dict[str, str], entra: FakeEntra, incident_api: FakeIncidentApi, tmp_path: Path, bad_id: str
) -> None:
    run = await run_cli("get", bad_id, env=fake_env, cwd=tmp_path)
    assert run.code != 0 and run.stdout == ""
    run.assert_clean(entra.client_secret)
    assert "is not an incident id" in run.stderr
    assert incident_api.requests == [] and entra.token_requests == 0


async def test_a_wrong_secret_prints_the_entra_reason(
    fake_env: dict[str, str], entra: FakeEntra, incident_api: FakeIncidentApi, tmp_path: Path
) -> None:
    wrong = "wrong-" + entra.client_secret
    run = await run_cli("get", ID, env=fake_env | {"AZURE_CLIENT_SECRET": wrong}, cwd=tmp_path)
    assert run.code != 0 and run.stdout == ""
    run.assert_clean(wrong, entra.client_secret)
    assert "AADSTS7000215" in run.stderr and "Invalid client secret provided" in run.stderr
    assert incident_api.requests == []


async def test_demo_mode_needs_no_azure_settings(tmp_path: Path) -> None:
    run = await run_cli("--demo", "get", ID, env=base_env(), cwd=tmp_path)
    assert run.code == 0, run.stderr
    run.assert_clean()
    assert json.loads(run.stdout)["id"] == ID


async def test_missing_settings_are_named_on_one_line(tmp_path: Path) -> None:
    run = await run_cli("get", ID, env=base_env(), cwd=tmp_path)
    assert run.code == 2 and run.stdout == ""
    run.assert_clean()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        assert name in lines[0]
