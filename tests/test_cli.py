"""`python -m bot get|card …` in a real subprocess, against the fakes running in this test's loop
(demo mode needs none)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from slack_sdk.models.blocks import Block

import bot
from bot.blocks.bodies import ephemeral_card_body
from bot.blocks.incident import CardContext, incident_url
from bot.blocks.seal import CardSeal
from bot.graph.demo import DemoIncidentApi
from bot.models import IncidentSnapshot
from bot.services import PREVIEW_SEAL_SECRET
from tests.fakes import TENANT_ID, FakeEntra, FakeIncidentApi

ID = "2972395"
PORTAL = "https://security.microsoft.com"
LINK = f"{PORTAL}/incidents/{ID}?tid={TENANT_ID}"
LOOKALIKE = f"https://security.microsoft.com.evil.example/incidents/{ID}"
SURFACES = ("ephemeral", "message", "unfurl")
# the card's "data as of" time is when the subprocess fetched the incident
FETCHED = re.compile(r"data as of <!date\^(\d+)\^[^>]*>")
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
    assert run.stderr == f"incident-bot: incident 4242 was merged into {ID}; showing {ID}\n"


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


async def test_missing_settings_are_all_named(tmp_path: Path) -> None:
    run = await run_cli("get", ID, env=base_env(), cwd=tmp_path)
    assert run.code == 2 and run.stdout == ""
    run.assert_clean()
    # one ConfigError message, however bot.config.load lays several problems out
    assert run.stderr.startswith("incident-bot: ")
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        assert name in run.stderr


async def test_starting_the_bot_with_nothing_set_names_every_setting_it_needs(tmp_path: Path) -> None:
    run = await run_cli(env=base_env(), cwd=tmp_path)
    assert run.code == 2
    run.assert_clean()
    assert run.stderr.startswith("incident-bot: invalid settings (5):\n")
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET", "AZURE_TENANT_ID"):
        assert f"  - {name}: " in run.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INCIDENT_API_BUDGET", "{bad"),
        ("CACHE_URL", "redis://127.0.0.1/abc"),
        ("INCIDENT_API_BUDGET", '{"get_per_minut": 5}'),
        ("SLACK_API_URL", "ftp://x"),
        ("HOST", "999.1.1.1"),
        ("SLACK_BOT_TOKEN", "foo"),
    ],
)
async def test_a_bad_setting_is_one_line_naming_it_without_a_traceback(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = base_env() | {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", variable: value}
    run = await run_cli("--demo", env=env, cwd=tmp_path)
    assert run.code == 2
    run.assert_clean()
    [line] = run.stderr.splitlines()
    assert line.startswith(f"incident-bot: invalid settings: {variable}: ")


async def test_doctor_shows_its_table_when_settings_are_incomplete(tmp_path: Path) -> None:
    run = await run_cli("doctor", env=base_env() | {"CACHE_URL": "redis://127.0.0.1/abc"}, cwd=tmp_path)
    assert run.code == 1
    run.assert_clean()
    rows = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines()[2:] if line[:1].strip()}
    assert rows["settings"] == "FAIL" and rows["token"] == "SKIP" and rows["cache"] == "OK"
    assert "CACHE_URL" in run.stdout and "SLACK_BOT_TOKEN" in run.stdout
    assert run.stdout.rstrip().endswith("1 of 8 checks failed: settings")


def _blocks(body: dict[str, Any], surface: str) -> list[dict[str, Any]]:
    if surface == "unfurl":
        [entry] = body.values()
        return entry["blocks"]  # type: ignore[no-any-return]
    return body["blocks"]  # type: ignore[no-any-return]


def _without_fetch_time(value: Any) -> Any:
    return json.loads(FETCHED.sub("data as of <fetched>", json.dumps(value)))


def assert_slack_accepts(blocks: list[dict[str, Any]]) -> None:
    assert blocks
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict() == block


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("demo_first", [True, False], ids=["--demo card", "card --demo"])
async def test_demo_card_prints_a_body_slack_accepts(tmp_path: Path, surface: str, demo_first: bool) -> None:
    args = ("--demo", "card", ID) if demo_first else ("card", ID, "--demo")
    run = await run_cli(*args, "--surface", surface, env=base_env(), cwd=tmp_path)
    assert run.code == 0, run.stderr
    run.assert_clean()
    assert run.stderr == ""
    body = json.loads(run.stdout)
    shape = {
        "ephemeral": {"response_type", "text", "blocks"},
        "message": {"text", "blocks", "unfurl_links"},
        "unfurl": {incident_url(PORTAL, ID, None)},  # for an id, the link the bot itself builds
    }
    assert set(body) == shape[surface]
    blocks = _blocks(body, surface)
    assert_slack_accepts(blocks)
    assert "Sample data" in blocks[0]["elements"][0]["text"]
    actions = {e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]}
    assert ("incident-share" in actions) == (surface == "ephemeral")


async def test_card_without_surface_is_the_incident_answer_the_bot_sends(tmp_path: Path) -> None:
    run = await run_cli("--demo", "card", ID, env=base_env(), cwd=tmp_path)
    assert run.code == 0, run.stderr
    body = json.loads(run.stdout)
    match = FETCHED.search(run.stdout)
    assert match is not None
    fetched_at = datetime.fromtimestamp(int(match.group(1)), UTC)
    snapshot = IncidentSnapshot(incident=await DemoIncidentApi().get_incident(ID), fetched_at=fetched_at)
    seal = CardSeal(PREVIEW_SEAL_SECRET)  # no Slack secret is set: the card is a preview
    ctx = CardContext(portal_url=PORTAL, tenant_id=None, seal=seal, sample_data=True, shareable=True)
    # bot/work/reading.py answers `/incident` with this same function
    assert body == ephemeral_card_body(snapshot, ctx)


@pytest.mark.parametrize("surface", SURFACES)
async def test_preview_url_opens_the_same_blocks_in_block_kit_builder(tmp_path: Path, surface: str) -> None:
    card, preview = await asyncio.gather(
        run_cli("--demo", "card", ID, "--surface", surface, env=base_env(), cwd=tmp_path),
        run_cli("--demo", "card", ID, "--surface", surface, "--preview-url", env=base_env(), cwd=tmp_path),
    )
    assert card.code == 0 and preview.code == 0, preview.stderr
    preview.assert_clean()
    [url] = preview.stdout.splitlines()
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "app.slack.com", "/block-kit-builder/")
    opened = json.loads(unquote(parts.fragment))
    expected = {"blocks": _blocks(json.loads(card.stdout), surface)}
    assert _without_fetch_time(opened) == _without_fetch_time(expected)
    [warning] = preview.stderr.splitlines()
    assert "incident's data" in warning and "Block Kit Builder" in warning


@pytest.mark.parametrize("given", [f"#{ID}", LINK, f"{PORTAL}/incident2/{ID}/overview?tid={TENANT_ID}"])
async def test_get_and_card_take_what_slash_incident_takes(
    fake_env: dict[str, str], tmp_path: Path, given: str
) -> None:
    got, card = await asyncio.gather(
        run_cli("get", given, env=fake_env, cwd=tmp_path),
        run_cli("card", given, env=fake_env, cwd=tmp_path),
    )
    assert got.code == 0 and card.code == 0, got.stderr + card.stderr
    assert json.loads(got.stdout)["id"] == ID
    assert f"Incident {ID}" in json.loads(card.stdout)["text"]


async def test_an_unfurl_is_keyed_by_the_link_as_pasted(fake_env: dict[str, str], tmp_path: Path) -> None:
    link = f"{PORTAL}/incident2/{ID}/overview?tid={TENANT_ID}"
    run = await run_cli("card", link, "--surface", "unfurl", env=fake_env, cwd=tmp_path)
    assert run.code == 0, run.stderr
    [(key, entry)] = json.loads(run.stdout).items()
    assert key == link
    assert_slack_accepts(entry["blocks"])
    assert not any("Sample data" in json.dumps(block) for block in entry["blocks"])


async def test_another_tenants_link_is_not_unfurled(
    fake_env: dict[str, str], incident_api: FakeIncidentApi, tmp_path: Path
) -> None:
    link = f"{PORTAL}/incidents/{ID}?tid=11111111-2222-4333-8444-555555555555"
    run = await run_cli("card", link, "--surface", "unfurl", env=fake_env, cwd=tmp_path)
    assert run.code == 2 and run.stdout == ""
    run.assert_clean()
    assert len(run.stderr.splitlines()) == 1 and "another tenant" in run.stderr
    assert incident_api.requests == []


@pytest.mark.parametrize("command", ["get", "card"])
async def test_a_lookalike_link_fails_on_one_line_before_any_request(
    fake_env: dict[str, str], entra: FakeEntra, incident_api: FakeIncidentApi, tmp_path: Path, command: str
) -> None:
    run = await run_cli(command, LOOKALIKE, env=fake_env, cwd=tmp_path)
    assert run.code == 2 and run.stdout == ""
    run.assert_clean(entra.client_secret)
    [line] = run.stderr.splitlines()
    assert "is not an incident id" in line and f"https://{urlsplit(PORTAL).netloc}/incidents/" in line
    assert incident_api.requests == [] and entra.token_requests == 0


@pytest.mark.parametrize("command", ["get", "card"])
async def test_a_merged_demo_incident_is_named_on_stderr(tmp_path: Path, command: str) -> None:
    run = await run_cli(command, "4242", "--demo", env=base_env(), cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert run.stderr == f"incident-bot: incident 4242 was merged into {ID}; showing {ID}\n"
    shown = json.loads(run.stdout)
    assert (shown["id"] if command == "get" else shown["text"]).count(ID) == 1


async def test_version(tmp_path: Path) -> None:
    run = await run_cli("--version", env=base_env(), cwd=tmp_path)
    assert run.code == 0 and run.stderr == ""
    assert run.stdout == f"incident-bot {bot.__version__}\n"
    assert bot.__version__ == version("incident-bot")


async def test_replicas_on_a_sqlite_file_are_refused_at_start_in_one_line(tmp_path: Path) -> None:
    env = base_env() | {
        "SLACK_BOT_TOKEN": "xoxb-1-test",
        "SLACK_SIGNING_SECRET": "test-secret",
        "CACHE_URL": "redis://127.0.0.1:1/0",  # refused before anything connects to it
    }
    run = await run_cli("--demo", env=env, cwd=tmp_path)
    assert run.code == 2
    assert run.stderr.startswith("incident-bot: invalid settings: CACHE_URL=redis://127.0.0.1:1/0 means ")
    assert "set DATABASE_URL=postgresql://" in run.stderr and run.stderr.count("\n") == 1
    assert not (tmp_path / "incident-bot.db").exists()
    run.assert_clean("test-secret")
