"""deploy/compose.yaml, checked without a Docker engine: valid against the Compose Specification
schema (tests/data/compose/compose-spec.json), and every variable handed to a bot is one it reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SCHEMA = ROOT / "tests" / "data" / "compose" / "compose-spec.json"
NGINX = ROOT / "deploy" / "proxy" / "nginx.conf"

# Read by the bot but not Settings fields (README.md, "Configuration": TLS trust).
NON_FIELD_VARIABLES = {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}
SECRETS = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_CONFIG_TOKEN"}
BOTS = ("bot-1", "bot-2")
# ${NAME:?message}, ${NAME:-default}, ${NAME}
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves the x-bot merge keys
    assert isinstance(loaded, dict)
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the list form: NAME=value or NAME
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: str(value) for name, value in env.items()}


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    """The schema is really applied: a misspelt key and a bad condition fail."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(compose))
    broken["services"]["bot-1"]["helthcheck"] = {}
    broken["services"]["bot-2"]["depends_on"]["redis"]["condition"] = "healthy"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_bots_get_only_variables_the_bot_reads(compose: dict[str, Any]) -> None:
    known = {name.upper() for name in Settings.model_fields} | NON_FIELD_VARIABLES
    for name in BOTS:
        unknown = set(environment(compose["services"][name])) - known
        assert not unknown, f"{name}: not settings of the bot: {sorted(unknown)}"


def test_bots_run_http_mode_on_demo_data_redis_and_postgres(compose: dict[str, Any]) -> None:
    for name in BOTS:
        service = compose["services"][name]
        env = environment(service)
        assert "SLACK_APP_TOKEN" not in env  # HTTP mode
        assert env["INCIDENT_SOURCE"] == "demo"
        assert not any(key.startswith("AZURE_") for key in env)
        assert env["CACHE_URL"] == "redis://redis:6379/0"
        assert re.fullmatch(r"postgresql://[^@/]+@postgres:5432/incident_bot", env["DATABASE_URL"])
        assert service["build"]["context"] == ".."
        assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        for dependency in ("redis", "postgres"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy"
        probe = service["healthcheck"]["test"]
        # python:3.11-slim has no curl/wget: the probe must use python, at /healthz
        assert probe[:2] == ["CMD", "python"] and "/healthz" in probe[-1]
        assert "FROM python:3.11-slim" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_no_literal_secrets(compose: dict[str, Any]) -> None:
    """Secrets come from the environment (${NAME:?…}), never from the file."""
    for name in BOTS:
        env = environment(compose["services"][name])
        for secret in SECRETS & set(env):
            assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", env[secret]), secret
        password = env["DATABASE_URL"].split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert INTERPOLATION.fullmatch(password), "the database password is interpolated"
    postgres = environment(compose["services"]["postgres"])
    assert INTERPOLATION.fullmatch(postgres["POSTGRES_PASSWORD"])
    text = COMPOSE.read_text(encoding="utf-8")
    assert not re.search(r"xox[bpa]-[A-Za-z0-9]", text) and not re.search(r"xapp-[A-Za-z0-9]", text)


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose["volumes"]
    assert "healthcheck" in redis


def test_postgres_has_a_volume_and_pg_isready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert postgres["volumes"][0].split(":")[0] in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert environment(postgres)["POSTGRES_DB"] == "incident_bot"


def test_proxy_balances_both_bots(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    mount = proxy["volumes"][0].split(":")
    assert (COMPOSE.parent / mount[0]).resolve() == NGINX and mount[1] == "/etc/nginx/nginx.conf"
    for name in BOTS:
        assert proxy["depends_on"][name]["condition"] == "service_healthy"
    conf = NGINX.read_text(encoding="utf-8")
    upstream = re.search(r"upstream incident_bot \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.findall(r"server (bot-\d):3000", upstream.group(1)) == list(BOTS)
    # no balancing directive: nginx's default round-robin
    assert not re.search(r"\b(ip_hash|hash|least_conn|random)\b", upstream.group(1))
    assert "location = /slack/events" in conf and "healthz" in conf
    assert "/metrics" not in conf.split("server {", 1)[1]
    assert "client_max_body_size 1m;" in conf
    listen = re.search(r"listen (\d+);", conf)
    assert listen is not None and proxy["ports"][0].endswith(f":{listen.group(1)}")
