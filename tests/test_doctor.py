"""`incident-bot doctor` against the fake Entra, incident API and Slack, and a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from bot.config.load import SettingProblem, inspect_settings
from bot.config.settings import Settings
from bot.ops.doctor import Check, doctor_command, redact_url, render_table
from tests.conftest import CLIENT_SECRET
from tests.fakes import FakeIncidentApi, FakeSlackApi
from tests.fakes.slack_api import BOT_SCOPES

BOT_TOKEN = "xoxb-doctor-bot-token-2b9e"
APP_TOKEN = "xapp-doctor-app-token-8c1d"
SIGNING_SECRET = "doctor-signing-secret-5f0a"
SECRETS = (CLIENT_SECRET, BOT_TOKEN, APP_TOKEN, SIGNING_SECRET)
ALL_SCOPES = BOT_SCOPES + ",usergroups:read"

Rows = dict[str, tuple[str, str, str]]  # check name → (result, detail, fix)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def doctor_settings(make_settings: Callable[..., Settings], slack: FakeSlackApi) -> Callable[..., Settings]:
    """Settings pointing at every fake, in Socket Mode; keyword overrides win."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_app_token": APP_TOKEN,
            "slack_api_url": slack.api_url,
        }
        return make_settings(**{**values, **overrides})

    return make


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_doctor(
    settings: Settings, capsys: pytest.CaptureFixture[str], problems: Sequence[SettingProblem] = ()
) -> tuple[int, Rows, str]:
    """Exit code, the rows by name (read back from the printed table) and the whole output."""
    code = await doctor_command(settings, problems)
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out and secret not in err
    rows: Rows = {}
    name = ""
    table = out.split("\n\n")[0]  # the summary line follows a blank line
    for line in table.splitlines()[2:]:
        cells = [line[0:14], line[16:22], line[24:74], line[76:]]
        if cells[0].strip():
            name = cells[0].strip()
            rows[name] = (cells[1].strip(), "", "")
        result, detail, fix = rows[name]
        rows[name] = (result, f"{detail} {cells[2].strip()}".strip(), f"{fix} {cells[3].strip()}".strip())
    return code, rows, out


async def test_all_ok(
    doctor_settings: Callable[..., Settings], slack: FakeSlackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.manifests["A0BOT"] = {"features": {"unfurl_domains": ["security.microsoft.com"]}}
    settings = doctor_settings(slack_config_token=slack.config_token, slack_app_id="A0BOT")
    code, rows, out = await run_doctor(settings, capsys)
    assert code == 0, out
    assert list(rows) == [
        "settings",
        "token",
        "incident API",
        "slack",
        "slack scopes",
        "socket mode",
        "unfurl domains",
        "cache",
    ]
    assert slack.config_token not in out
    assert {result for result, _, _ in rows.values()} == {"OK"}, out
    assert "Socket Mode" in rows["settings"][1]
    assert "read incident" in rows["incident API"][1]
    assert "team Example (T0001), bot @incidentbot (U0BOT)" in rows["slack"][1]
    assert "memory (one process)" in rows["cache"][1]
    assert out.rstrip().endswith("all checks passed")


async def test_http_mode_skips_socket_mode(
    doctor_settings: Callable[..., Settings], slack: FakeSlackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doctor_settings(slack_app_token=None, slack_signing_secret=SIGNING_SECRET)
    code, rows, out = await run_doctor(settings, capsys)
    assert code == 0, out
    assert rows["socket mode"][0] == "SKIP"
    assert "HTTP mode" in rows["settings"][1]
    assert slack.calls_to("apps.connections.open") == []


async def test_wrong_secret_names_aadsts7000215_and_skips_the_incident_read(
    doctor_settings: Callable[..., Settings],
    incident_api: FakeIncidentApi,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, rows, out = await run_doctor(doctor_settings(azure_client_secret="not-the-secret"), capsys)
    assert code == 1
    result, detail, fix = rows["token"]
    assert result == "FAIL" and "AADSTS7000215" in detail
    assert "copy its Value (not its ID)" in fix
    assert rows["incident API"][0] == "SKIP"
    assert incident_api.requests == []
    # the other checks still ran
    assert rows["slack"][0] == rows["cache"][0] == "OK"
    assert "1 of 8 checks failed: token" in out
    assert rows["unfurl domains"][0] == "SKIP" and "manifest.yml" in rows["unfurl domains"][1]
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("overrides", "code", "fix_words"),
    [
        (
            {"azure_client_id": "99999999-2222-3333-4444-555555555555"},
            "AADSTS700016",
            "Application (client) ID",
        ),
        ({"azure_tenant_id": "contoso.onmicrosoft.com"}, "AADSTS90002", "Directory (tenant) ID"),
    ],
)
async def test_token_failures_name_code_and_fix(
    doctor_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, str],
    code: str,
    fix_words: str,
) -> None:
    exit_code, rows, _ = await run_doctor(doctor_settings(**overrides), capsys)
    assert exit_code == 1
    result, detail, fix = rows["token"]
    assert result == "FAIL" and code in detail and fix_words in fix


async def test_unreachable_entra_hints_at_network_and_ca_bundle(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doctor_settings(azure_authority_host=f"https://127.0.0.1:{closed_port()}")
    code, rows, _ = await run_doctor(settings, capsys)
    assert code == 1
    result, detail, fix = rows["token"]
    assert result == "FAIL" and "unavailable" in detail
    assert "REQUESTS_CA_BUNDLE" in fix


@pytest.mark.parametrize(
    ("api", "permission"), [("graph", "SecurityIncident.Read.All"), ("defender", "Incident.Read.All")]
)
async def test_403_names_the_permission(
    doctor_settings: Callable[..., Settings],
    incident_api: FakeIncidentApi,
    capsys: pytest.CaptureFixture[str],
    api: str,
    permission: str,
) -> None:
    incident_api.fail_next(403)
    code, rows, _ = await run_doctor(doctor_settings(incident_api=api), capsys)
    assert code == 1
    result, detail, fix = rows["incident API"]
    assert result == "FAIL"
    assert permission in detail and permission in fix and "admin consent" in fix
    assert rows["token"][0] == "OK"


async def test_invalid_slack_token(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = await run_doctor(doctor_settings(slack_bot_token="xoxb-revoked-long-ago"), capsys)
    assert code == 1
    result, detail, fix = rows["slack"]
    assert result == "FAIL" and "invalid_auth" in detail and "SLACK_BOT_TOKEN" in fix
    assert rows["slack scopes"][0] == "SKIP"
    assert rows["socket mode"][0] == "OK"  # the app token is still fine


async def test_missing_scopes_are_listed(
    doctor_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # FakeSlackApi answers x-oauth-scopes from this module constant.
    monkeypatch.setattr("tests.fakes.slack_api.BOT_SCOPES", "commands,chat:write,users:read")
    code, rows, _ = await run_doctor(doctor_settings(), capsys)
    assert code == 1
    result, detail, fix = rows["slack scopes"]
    assert result == "FAIL"
    assert detail == (
        "missing links:read, links:write, users:read.email, channels:read, groups:read, im:read, mpim:read, "
        "channels:history, groups:history"
    )
    assert "manifest.yml" in fix


async def test_usergroups_read_is_needed_only_for_groups_among_writers(
    doctor_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fake grants the twelve core scopes by default, not usergroups:read.
    code, rows, _ = await run_doctor(doctor_settings(incident_writers="U0WRITER"), capsys)
    assert code == 0 and "no usergroups:read" in rows["slack scopes"][1]
    code, rows, _ = await run_doctor(doctor_settings(incident_writers="U0WRITER,S0GROUP"), capsys)
    assert code == 1 and rows["slack scopes"][1] == "missing usergroups:read"
    monkeypatch.setattr("tests.fakes.slack_api.BOT_SCOPES", ALL_SCOPES)
    code, rows, _ = await run_doctor(doctor_settings(incident_writers="S0GROUP"), capsys)
    assert code == 0 and rows["slack scopes"][1] == "all 13 required scopes granted"


async def test_bad_app_token_fails_socket_mode(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = await run_doctor(doctor_settings(slack_app_token="xapp-not-this-one"), capsys)
    assert code == 1
    result, detail, fix = rows["socket mode"]
    assert result == "FAIL" and "invalid_auth" in detail and "connections:write" in fix


async def test_missing_slack_settings_fail_and_skip_slack(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doctor_settings()
    values = {"slack_bot_token": None, "slack_app_token": None}
    built, problems = inspect_settings(True, **{**settings.model_dump(), **values})
    code, rows, _ = await run_doctor(built, capsys, problems)
    assert code == 1
    result, detail, fix = rows["settings"]
    assert result == "FAIL"
    assert "2 missing or malformed: SLACK_BOT_TOKEN, SLACK_APP_TOKEN or SLACK_SIGNING_SECRET" in detail
    assert "OAuth & Permissions" in fix and "Signing Secret" in fix
    assert rows["slack"][0] == rows["slack scopes"][0] == rows["socket mode"][0] == "SKIP"
    assert rows["token"][0] == rows["incident API"][0] == "OK"


async def test_redis_ok(
    doctor_settings: Callable[..., Settings], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = await run_doctor(doctor_settings(cache_url=redis_url), capsys)
    assert code == 0
    assert rows["cache"] == ("OK", f"{redis_url}: PING answered", "")


async def test_redis_on_a_closed_port_fails_without_showing_the_password(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:hunter2-redis-pw@127.0.0.1:{closed_port()}/0"
    loop = asyncio.get_running_loop()
    started = loop.time()
    code, rows, out = await run_doctor(doctor_settings(cache_url=url), capsys)
    assert loop.time() - started < 10
    assert code == 1
    result, detail, fix = rows["cache"]
    assert result == "FAIL" and "127.0.0.1" in detail and "CACHE_URL" in fix
    assert "hunter2" not in out and ":***@127.0.0.1" in out


async def test_demo_mode_skips_token_and_incidents(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doctor_settings(
        incident_source="demo", azure_tenant_id=None, azure_client_id=None, azure_client_secret=None
    )
    code, rows, _ = await run_doctor(settings, capsys)
    assert code == 0
    assert rows["token"] == ("SKIP", "skipped (demo mode)", "")
    assert rows["incident API"] == ("SKIP", "skipped (demo mode)", "")
    assert "demo incidents" in rows["settings"][1]


async def test_everything_failing_prints_no_secret(
    doctor_settings: Callable[..., Settings],
    incident_api: FakeIncidentApi,
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = doctor_settings().model_dump() | {
        "slack_bot_token": "xoxp-a-user-token-by-mistake",
        "slack_app_token": "xapp-not-this-one",
        "slack_signing_secret": SIGNING_SECRET,
        "cache_url": f"redis://:{CLIENT_SECRET}@127.0.0.1:{closed_port()}/0",
    }
    settings, problems = inspect_settings(True, **values)
    code, rows, out = await run_doctor(settings, capsys, problems)
    assert code == 1
    assert [rows[name][0] for name in ("settings", "socket mode", "cache")] == ["FAIL"] * 3
    assert rows["slack"][0] == "SKIP" and "SLACK_BOT_TOKEN" in rows["settings"][1]
    assert "xoxp-a-user-token-by-mistake" not in out and "xapp-not-this-one" not in out


def test_render_table_wraps_long_cells_inside_their_columns() -> None:
    table = render_table(
        [Check("cache", "FAIL", "word " * 20, "fix " * 20), Check("slack", "OK", "fine")], (8, 6, 20, 20)
    )
    lines = table.splitlines()
    assert lines[0].split() == ["CHECK", "RESULT", "DETAIL", "FIX"]
    assert lines[2] == "cache     FAIL    word word word word   fix fix fix fix fix"
    assert lines[3].startswith(" " * 18 + "word")
    assert all(len(line) <= 8 + 6 + 20 + 20 + 6 for line in lines)
    assert lines[-1] == "slack     OK      fine"


def test_redact_url() -> None:
    assert redact_url("redis://:p%40ss@cache.internal:6380/2") == "redis://:***@cache.internal:6380/2"
    assert redact_url("rediss://user:pw@h/0") == "rediss://user:***@h/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def _cli_has_doctor() -> bool:
    from bot.__main__ import _parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            _parser().parse_args(["doctor"])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(not _cli_has_doctor(), reason="bot/__main__.py has no `doctor` subcommand yet")
async def test_python_m_bot_doctor(doctor_settings: Callable[..., Settings], slack: FakeSlackApi) -> None:
    settings = doctor_settings()
    env = {
        **os.environ,
        "AZURE_TENANT_ID": str(settings.azure_tenant_id),
        "AZURE_CLIENT_ID": str(settings.azure_client_id),
        "AZURE_CLIENT_SECRET": CLIENT_SECRET,
        "AZURE_AUTHORITY_HOST": settings.authority_host,
        "GRAPH_BASE_URL": settings.graph_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode() + err.decode()
    assert out.decode().rstrip().endswith("all checks passed")
    for secret in (CLIENT_SECRET, BOT_TOKEN, APP_TOKEN):
        assert secret not in out.decode() and secret not in err.decode()

    env["AZURE_CLIENT_SECRET"] = "not-the-secret"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "doctor", env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert "AADSTS7000215" in out.decode() and "Traceback" not in err.decode()


async def test_unreachable_slack_fails_slack_and_socket_mode(
    doctor_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = doctor_settings(slack_api_url=f"http://127.0.0.1:{closed_port()}/api/")
    code, rows, _ = await run_doctor(settings, capsys)
    assert code == 1
    assert rows["slack"][0] == rows["socket mode"][0] == "FAIL"
    assert "cannot reach" in rows["slack"][2] and rows["slack scopes"][0] == "SKIP"
    assert rows["token"][0] == rows["incident API"][0] == rows["cache"][0] == "OK"
