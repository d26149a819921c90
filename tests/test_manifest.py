"""manifest.yml: valid against Slack's manifest schema, and declares what the app registers."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.clouds import CLOUDS
from bot.listeners.commands import COMMAND

ROOT = Path(__file__).parent.parent
SCHEMA = ROOT.parent / "shared" / "reference" / "slack" / "manifest.schema.1.0.0.json"
REQUIRED_SCOPES = {"commands", "chat:write", "links:read", "links:write", "users:read", "users:read.email"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return data


def registrations() -> dict[str, set[str]]:
    """The first argument of every app.command/event/action/view call in bot/listeners."""
    found: dict[str, set[str]] = {"command": set(), "event": set(), "action": set(), "view": set()}
    for path in (ROOT / "bot" / "listeners").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in found
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "app"
            ):
                arg = node.args[0] if node.args else None
                found[node.func.attr].add(ast.unparse(arg) if arg is not None else "")
    return found


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.skip("../shared/reference (Slack's manifest schema) is not beside this clone")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(manifest, schema)


def test_manifest_declares_the_slash_command(manifest: dict[str, Any]) -> None:
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == [COMMAND]
    assert registrations()["command"] == {"COMMAND"}


def test_manifest_declares_every_event_the_app_listens_to(manifest: dict[str, Any]) -> None:
    events = {ast.literal_eval(e) for e in registrations()["event"]}
    assert events == {"link_shared"}
    assert events <= set(manifest["settings"]["event_subscriptions"]["bot_events"])


def test_interactivity_is_on_for_buttons_and_modals(manifest: dict[str, Any]) -> None:
    found = registrations()
    assert found["action"] and found["view"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_scopes_cover_what_the_bot_calls(manifest: dict[str, Any]) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes >= REQUIRED_SCOPES
    assert "usergroups:read" in scopes  # INCIDENT_WRITERS may name user groups


def test_unfurl_domain_is_the_portal_and_socket_mode_is_on(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["unfurl_domains"] == [CLOUDS["global"].portal.removeprefix("https://")]
    assert len(manifest["features"]["unfurl_domains"]) <= 5
    assert manifest["settings"]["socket_mode_enabled"] is True
