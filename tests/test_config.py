"""Settings: defaults, cloud presets, the API scope, and one clear ConfigError per bad variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config.load import inspect_settings, load_settings
from bot.config.settings import Settings
from bot.config.values import BUDGET_KEYS
from bot.errors import ConfigError
from bot.state.budget import BudgetLimits

TENANT = "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"
CLIENT = "11111111-2222-3333-4444-555555555555"
SECRET = "Zq8~SECRET-never-print-me-7f3a"
AZURE_ENV = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": SECRET}


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AZURE_ENV.items():
        monkeypatch.setenv(name, value)


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(caught.value)


@pytest.mark.usefixtures("azure_env")
def test_defaults_read_graph_v1_with_a_memory_cache_for_sixty_seconds() -> None:
    settings = load_settings()
    assert settings.incident_api == "graph" and settings.incident_source == "api"
    assert settings.graph_url == "https://graph.microsoft.com/v1.0"
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.portal_url == "https://security.microsoft.com"
    assert settings.defender_url == "https://api.security.microsoft.com"
    assert settings.cache_url == "memory://" and settings.incident_cache_ttl == 60
    assert settings.azure_client_secret is not None
    assert settings.azure_client_secret.get_secret_value() == SECRET


@pytest.mark.usefixtures("azure_env")
@pytest.mark.parametrize(
    ("cloud", "authority", "graph", "portal"),
    [
        ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us", "https://security.microsoft.us"),
        ("usgovdod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us", "https://security.apps.mil"),
        ("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
         "https://security.microsoft.cn"),
    ],
)  # fmt: skip
def test_cloud_preset_fills_authority_graph_and_portal(
    monkeypatch: pytest.MonkeyPatch, cloud: str, authority: str, graph: str, portal: str
) -> None:
    monkeypatch.setenv("INCIDENT_CLOUD", cloud)
    settings = load_settings()
    assert settings.authority_host == authority
    assert settings.graph_url == graph + "/v1.0"
    assert settings.portal_url == portal
    assert settings.api_scope == graph + "/.default"


@pytest.mark.usefixtures("azure_env")
def test_explicit_variables_win_over_the_cloud_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_CLOUD", "usgov")
    monkeypatch.setenv("GRAPH_BASE_URL", "https://graph.contoso.example/beta/")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://login.contoso.example")
    monkeypatch.setenv("DEFENDER_PORTAL_URL", "https://portal.contoso.example")
    settings = load_settings()
    assert settings.graph_url == "https://graph.contoso.example/beta"  # trailing slash dropped
    assert settings.authority_host == "https://login.contoso.example"
    assert settings.portal_url == "https://portal.contoso.example"
    assert settings.portal_host == "portal.contoso.example"
    assert settings.defender_url == "https://api-gov.security.microsoft.us"  # not given: preset


@pytest.mark.usefixtures("azure_env")
@pytest.mark.parametrize(
    ("env", "scope"),
    [
        ({}, "https://graph.microsoft.com/.default"),
        ({"GRAPH_BASE_URL": "https://graph.microsoft.com/beta"}, "https://graph.microsoft.com/.default"),
        ({"INCIDENT_API": "defender"}, "https://api.security.microsoft.com/.default"),
        (
            {"INCIDENT_API": "defender", "INCIDENT_CLOUD": "china"},
            "https://api.security.microsoft.cn/.default",
        ),
        ({"GRAPH_BASE_URL": "http://127.0.0.1:8080/v1.0"}, "http://127.0.0.1:8080/.default"),
    ],
)
def test_scope_is_the_origin_of_the_api_root_with_default(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], scope: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().api_scope == scope


@pytest.mark.usefixtures("azure_env")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AZURE_TENANT_ID", "not a tenant!"),
        ("AZURE_CLIENT_ID", "my-app"),
        ("INCIDENT_CACHE_TTL", "sixty"),
        ("INCIDENT_CACHE_TTL", "0"),
        ("CACHE_URL", "memcached://127.0.0.1:11211"),
        ("GRAPH_BASE_URL", "http://graph.microsoft.com/v1.0"),
        ("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0?$top=1"),
        ("AZURE_AUTHORITY_HOST", "login.microsoftonline.com"),
        ("INCIDENT_API", "splunk"),
        ("INCIDENT_CLOUD", "mars"),
        ("INCIDENT_API_RETRIES", "99"),
        ("INCIDENT_API_BUDGET", "{bad"),
        ("INCIDENT_API_BUDGET", '{"get_per_minut": 5}'),
        ("INCIDENT_API_BUDGET", '{"get_per_minute": 0}'),
        ("INCIDENT_API_BUDGET", "[60]"),
        ("CACHE_URL", "redis://127.0.0.1/abc"),
        ("CACHE_URL", "redis://127.0.0.1:abc/0"),
        ("CACHE_URL", "redis:///0"),
        ("SLACK_API_URL", "ftp://x"),
        ("HOST", "999.1.1.1"),
        ("HOST", "bad host"),
        ("SLACK_BOT_TOKEN", "foo"),
        ("SLACK_APP_TOKEN", "xoxb-not-an-app-token"),
    ],
)
def test_a_malformed_setting_raises_one_config_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = config_error(monkeypatch, **{variable: value})
    assert message.startswith("invalid settings: ")
    assert "\n" not in message and message.count(";") == 0, message
    assert f"{variable}:" in message
    others = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "CACHE_URL", "GRAPH_BASE_URL", "INCIDENT_CACHE_TTL"}
    assert not [name for name in others - {variable} if name in message]


@pytest.mark.usefixtures("azure_env")
def test_plain_http_is_allowed_only_to_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_BASE_URL", "http://localhost:9000/v1.0")
    monkeypatch.setenv("DEFENDER_API_URL", "http://[::1]:9001")
    settings = load_settings()
    assert settings.graph_url == "http://localhost:9000/v1.0"
    assert settings.defender_url == "http://[::1]:9001"
    assert "GRAPH_BASE_URL" in config_error(monkeypatch, GRAPH_BASE_URL="http://10.0.0.5/v1.0")


def test_missing_azure_settings_raise_one_message_naming_each_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid settings (3):\n")
    for name in (
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
    ):
        assert name in message
    assert "--demo" in message


def test_a_certificate_path_replaces_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(tmp_path / "app.pem"))
    settings = load_settings()
    assert settings.azure_client_secret is None
    assert settings.azure_client_certificate_path == tmp_path / "app.pem"


def test_demo_mode_needs_no_azure_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(incident_source="demo").incident_source == "demo"
    monkeypatch.setenv("INCIDENT_SOURCE", "demo")
    settings = load_settings()
    assert settings.azure_tenant_id is None and settings.azure_client_secret is None


@pytest.mark.usefixtures("azure_env")
def test_secrets_never_appear_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-" + SECRET)
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", SECRET + "-pem")
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert "**********" in repr(settings)


@pytest.mark.parametrize(
    "variable", ["AZURE_CLIENT_ID", "INCIDENT_CACHE_TTL", "CACHE_URL", "AZURE_TENANT_ID"]
)
def test_a_secret_pasted_into_the_wrong_variable_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    message = config_error(monkeypatch, **{variable: SECRET})
    assert variable in message and SECRET not in message


def test_explicit_settings_and_no_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(f"AZURE_TENANT_ID={TENANT}\nINCIDENT_CACHE_TTL=5\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None, incident_source="demo")
    assert settings.azure_tenant_id is None and settings.incident_cache_ttl == 60
    assert load_settings(incident_source="demo").incident_cache_ttl == 60  # no .env read by default


@pytest.mark.usefixtures("azure_env")
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("INCIDENT_API_BUDGET", "{bad", '{"get_per_minute": 60'),
        ("INCIDENT_API_BUDGET", '{"get_per_minut": 5}', "'get_per_minut': the keys are get_per_minute,"),
        ("CACHE_URL", "redis://127.0.0.1/abc", "redis://[:password@]host:6379/0"),
        ("SLACK_API_URL", "ftp://x", "e.g. https://slack.com/api/"),
        ("HOST", "999.1.1.1", "IP address of this machine (0.0.0.0, 127.0.0.1, ::)"),
        ("SLACK_BOT_TOKEN", "foo", "xoxb-… (OAuth & Permissions → Bot User OAuth Token)"),
    ],
)
def test_a_malformed_setting_says_what_is_expected_for_that_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    message = config_error(monkeypatch, **{variable: value})
    assert expected in message
    assert "graph.microsoft.com" not in message  # the example is the setting's own
    assert "Traceback" not in message and "SettingsError" not in message


@pytest.mark.usefixtures("azure_env")
def test_valid_forms_of_the_checked_settings_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CACHE_URL": "rediss://:pw@redis.internal:6380/2",
        "INCIDENT_API_BUDGET": '{"get_per_minute": 60, "list_per_hour": 600}',
        "HOST": "::",
        "SLACK_BOT_TOKEN": "xoxe.xoxb-1-abc",
        "SLACK_APP_TOKEN": "xapp-1-A0-1-abc",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.incident_api_budget == {"get_per_minute": 60, "list_per_hour": 600}
    assert settings.host == "::"
    monkeypatch.setenv("HOST", "bot-1.internal")
    assert load_settings().host == "bot-1.internal"


def test_starting_the_bot_with_nothing_set_names_every_missing_setting_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(True)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "invalid settings (5):"
    assert [line.split(":")[0].strip(" -") for line in lines[1:]] == [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
    ]


def test_every_malformed_and_missing_setting_is_listed_in_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_URL", "redis://127.0.0.1/abc")
    monkeypatch.setenv("HOST", "999.1.1.1")
    monkeypatch.setenv("AZURE_CLIENT_ID", "my-app")
    message = config_error(monkeypatch, SLACK_BOT_TOKEN="foo")
    for variable in ("CACHE_URL:", "HOST:", "AZURE_CLIENT_ID:", "SLACK_BOT_TOKEN:", "AZURE_TENANT_ID:"):
        assert variable in message
    assert message.count("AZURE_CLIENT_ID") == 1  # malformed, so not also "missing"


def test_inspect_settings_keeps_what_parsed_and_lists_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_CACHE_TTL", "30")
    monkeypatch.setenv("CACHE_URL", "redis://127.0.0.1/abc")
    settings, problems = inspect_settings(True)
    assert settings.incident_cache_ttl == 30 and settings.cache_url == "memory://"
    assert {problem.variable for problem in problems} >= {"CACHE_URL", "SLACK_BOT_TOKEN", "AZURE_TENANT_ID"}


def test_budget_keys_are_the_fields_of_the_budget_limits() -> None:
    assert tuple(field.name for field in dataclasses.fields(BudgetLimits)) == BUDGET_KEYS
