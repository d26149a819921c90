"""The Slack app manifests: valid against Slack's schema, in sync across clouds, and declaring what
the app registers.

manifest.yml is for INCIDENT_CLOUD=global; manifests/manifest.<cloud>.yml for the others. They
differ only in features.unfurl_domains and their header comment.

tests/data/slack/manifest.schema.json is the slice of Slack's manifest schema our manifests use
(see tests/data/slack/README.md). When the full schema is beside the clone
(../shared/reference/slack/), the manifests are checked against it too, and the slice must be
exactly what `slice_schema` cuts from it. Regenerate the slice with
`python -m tests.test_manifest [path/to/manifest.schema.1.0.0.json]`.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from bot.config.clouds import CLOUDS
from bot.ops.unfurl_domains import manifest_path_for
from bot.slack.listeners.commands import COMMAND

ROOT = Path(__file__).parent.parent
FULL_SCHEMA = ROOT.parent / "shared" / "reference" / "slack" / "manifest.schema.1.0.0.json"
SLICE = Path(__file__).parent / "data" / "slack" / "manifest.schema.json"
SLICE_COMMENT = (
    "Slice of Slack's app manifest JSON Schema 1.0.0 (manifest.schema.1.0.0.json): only the keys "
    "this project's manifests use, each kept verbatim. Made by slice_schema() in tests/test_manifest.py; "
    "see README.md beside this file."
)
REQUIRED_SCOPES = {"commands", "chat:write", "links:read", "links:write", "users:read", "users:read.email"}
MANIFEST_PATHS = {cloud: ROOT / manifest_path_for(cloud) for cloud in CLOUDS}

Json = dict[str, Any]


def load_manifest(path: Path) -> Json:
    data: Json = yaml.safe_load(path.read_text())
    return data


@pytest.fixture(scope="module")
def manifest() -> Json:
    return load_manifest(ROOT / "manifest.yml")


@pytest.fixture(scope="module")
def shipped_schema() -> Json:
    schema: Json = json.loads(SLICE.read_text())
    return schema


@pytest.fixture(scope="module")
def full_schema() -> Json:
    if not FULL_SCHEMA.exists():
        pytest.skip("../shared/reference (Slack's full manifest schema) is not beside this clone")
    schema: Json = json.loads(FULL_SCHEMA.read_text())
    return schema


# ---- the slice ------------------------------------------------------------------------------------


def used_keys(value: Any) -> Json:
    """The key tree a manifest uses; a list's items are merged into one tree."""
    if isinstance(value, dict):
        return {key: used_keys(item) for key, item in value.items()}
    merged: Json = {}
    if isinstance(value, list):
        for item in value:
            merged = _merge(merged, used_keys(item))
    return merged


def _merge(left: Json, right: Json) -> Json:
    out = dict(left)
    for key, value in right.items():
        out[key] = _merge(out.get(key, {}), value)
    return out


def slice_schema(full: Json, used: Json) -> Json:
    """`full` cut down to the properties in `used`, every kept node and definition verbatim.

    Properties are only dropped from objects with additionalProperties: false, so the slice
    accepts nothing the full schema rejects (a key the slice lacks fails as "additional property").
    """
    definitions: Json = {}

    def cut(node: Json, used: Json) -> Json:
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/definitions/")
            definitions[name] = cut(full["definitions"][name], used)
            return node
        node = dict(node)
        if "properties" in node:
            kept = {key: cut(sub, used[key]) for key, sub in node["properties"].items() if key in used}
            if kept.keys() != node["properties"].keys() and node.get("additionalProperties") is not False:
                raise ValueError(f"cannot drop properties from an open object: {sorted(node['properties'])}")
            node["properties"] = kept
        if isinstance(node.get("items"), dict):
            node["items"] = cut(node["items"], used)
        return node

    top = cut({key: value for key, value in full.items() if key != "definitions"}, used)
    return {"$comment": SLICE_COMMENT, **top, "definitions": dict(sorted(definitions.items()))}


def all_used_keys() -> Json:
    used: Json = {}
    for path in MANIFEST_PATHS.values():
        used = _merge(used, used_keys(load_manifest(path)))
    return used


def write_slice(full_path: Path = FULL_SCHEMA) -> None:
    full = json.loads(full_path.read_text())
    SLICE.write_text(json.dumps(slice_schema(full, all_used_keys()), indent=2, ensure_ascii=False) + "\n")


# ---- validity -------------------------------------------------------------------------------------


def test_the_shipped_slice_is_a_valid_draft_07_schema(shipped_schema: Json) -> None:
    jsonschema.Draft7Validator.check_schema(shipped_schema)
    assert shipped_schema["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_manifest_is_valid_against_the_shipped_schema(cloud: str, shipped_schema: Json) -> None:
    jsonschema.validate(load_manifest(MANIFEST_PATHS[cloud]), shipped_schema)


def test_every_manifest_is_valid_against_slacks_full_schema(full_schema: Json) -> None:
    for path in MANIFEST_PATHS.values():
        jsonschema.validate(load_manifest(path), full_schema)


def test_the_shipped_slice_is_cut_from_the_full_schema(shipped_schema: Json, full_schema: Json) -> None:
    assert slice_schema(full_schema, all_used_keys()) == shipped_schema, (
        "tests/data/slack/manifest.schema.json is stale: run `python -m tests.test_manifest`"
    )


def _set(path: str, value: Any) -> Callable[[Json], None]:
    *parents, last = path.split(".")

    def mutate(data: Json) -> None:
        for key in parents:
            data = data[key]
        data[last] = value

    return mutate


MISTAKES: dict[str, Callable[[Json], None]] = {
    "unknown top-level key": _set("feature", {}),
    "unknown key under features": _set("features.unfurl_domain", ["security.microsoft.us"]),
    "unknown key under settings": _set("settings.socket_mode", True),
    "six unfurl domains": _set("features.unfurl_domains", [f"d{n}.example.com" for n in range(6)]),
    "no unfurl domain": _set("features.unfurl_domains", []),
    "a scheme in an unfurl domain": _set("features.unfurl_domains", ["https://security.microsoft.us"]),
    "a path in an unfurl domain": _set("features.unfurl_domains", ["security.microsoft.us/incidents"]),
    "an upper-case unfurl domain": _set("features.unfurl_domains", ["Security.Microsoft.US"]),
    "a repeated unfurl domain": _set("features.unfurl_domains", ["security.apps.mil"] * 2),
    "unfurl domains as a string": _set("features.unfurl_domains", "security.microsoft.us"),
    "always_online as a string": _set("features.bot_user.always_online", "yes"),
    "socket_mode_enabled as a string": _set("settings.socket_mode_enabled", "true"),
    "bot scopes as a string": _set("oauth_config.scopes.bot", "commands,chat:write"),
    "a slash command without /": _set(
        "features.slash_commands", [{"command": "incident", "description": "x"}]
    ),
    "interactivity without is_enabled": _set("settings.interactivity", {}),
    "a short long_description": _set("display_information.long_description", "too short"),
    "a name over 35 characters": _set("display_information.name", "x" * 36),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_the_shipped_schema_rejects_mistakes(mistake: str, manifest: Json, shipped_schema: Json) -> None:
    broken = copy.deepcopy(manifest)
    MISTAKES[mistake](broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, shipped_schema)


def test_five_unfurl_domains_are_allowed(manifest: Json, shipped_schema: Json) -> None:
    five = copy.deepcopy(manifest)
    five["features"]["unfurl_domains"] = [urlsplit(cloud.portal).hostname for cloud in CLOUDS.values()]
    five["features"]["unfurl_domains"].append("microsoft.us")
    jsonschema.validate(five, shipped_schema)


def test_the_full_schema_rejects_the_same_mistakes(manifest: Json, full_schema: Json) -> None:
    accepted = []
    for mistake, mutate in MISTAKES.items():
        broken = copy.deepcopy(manifest)
        mutate(broken)
        if jsonschema.Draft7Validator(full_schema).is_valid(broken):
            accepted.append(mistake)
    assert accepted == [], "the slice rejects these but Slack's full schema does not"


def test_background_color_is_a_hex_colour(manifest: Json) -> None:
    # Slack's schema spells this constraint "regex", which JSON Schema ignores: check it here.
    assert re.fullmatch(
        r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", manifest["display_information"]["background_color"]
    )


# ---- one manifest per cloud, in sync --------------------------------------------------------------


def skeleton(text: str) -> list[str]:
    """The manifest's lines without comments and without the entries of features.unfurl_domains."""
    lines: list[str] = []
    in_domains = False
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (in_domains and line.startswith("    - ")):
            continue
        in_domains = line == "  unfurl_domains:"
        lines.append(line)
    return lines


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_cloud_has_a_manifest_unfurling_its_portal(cloud: str) -> None:
    path = MANIFEST_PATHS[cloud]
    assert path.exists(), f"{cloud}: no {path.relative_to(ROOT)}"
    text = path.read_text()
    assert f"INCIDENT_CLOUD={cloud}" in text.splitlines()[0]
    portal_host = CLOUDS[cloud].portal.removeprefix("https://")
    assert load_manifest(path)["features"]["unfurl_domains"] == [portal_host]


@pytest.mark.parametrize("cloud", [c for c in CLOUDS if c != "global"])
def test_cloud_manifests_match_manifest_yml_apart_from_unfurl_domains(cloud: str, manifest: Json) -> None:
    path = MANIFEST_PATHS[cloud]
    assert skeleton(path.read_text()) == skeleton((ROOT / "manifest.yml").read_text()), (
        f"{path.relative_to(ROOT)} differs from manifest.yml beyond unfurl_domains: make the same change"
    )
    other, base = load_manifest(path), copy.deepcopy(manifest)
    del other["features"]["unfurl_domains"], base["features"]["unfurl_domains"]
    assert other == base


def test_manifests_directory_holds_only_cloud_manifests() -> None:
    expected = {p.name for c, p in MANIFEST_PATHS.items() if c != "global"}
    assert {p.name for p in (ROOT / "manifests").iterdir()} == expected


# ---- what the app registers -----------------------------------------------------------------------


def registrations() -> dict[str, set[str]]:
    """The first argument of every app.command/event/action/view call in bot/slack/listeners."""
    found: dict[str, set[str]] = {"command": set(), "event": set(), "action": set(), "view": set()}
    for path in (ROOT / "bot" / "slack" / "listeners").glob("*.py"):
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


def test_manifest_declares_the_slash_command(manifest: Json) -> None:
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == [COMMAND]
    assert registrations()["command"] == {"COMMAND"}


def test_manifest_declares_every_event_the_app_listens_to(manifest: Json) -> None:
    events = {ast.literal_eval(e) for e in registrations()["event"]}
    assert events == {"link_shared", "entity_details_requested", "app_home_opened", "channel_left"}
    assert events <= set(manifest["settings"]["event_subscriptions"]["bot_events"])


def test_interactivity_is_on_for_buttons_and_modals(manifest: Json) -> None:
    found = registrations()
    assert found["action"] and found["view"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_scopes_cover_what_the_bot_calls(manifest: Json) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes >= REQUIRED_SCOPES
    assert "usergroups:read" in scopes  # INCIDENT_WRITERS may name user groups
    # conversations.info of every kind of conversation a link may be shared in (UNFURL_DETAIL)
    assert {"channels:read", "groups:read", "im:read", "mpim:read"} <= scopes


def test_unfurl_domain_is_the_portal_and_socket_mode_is_on(manifest: Json) -> None:
    assert manifest["features"]["unfurl_domains"] == [CLOUDS["global"].portal.removeprefix("https://")]
    assert len(manifest["features"]["unfurl_domains"]) <= 5
    assert manifest["settings"]["socket_mode_enabled"] is True


if __name__ == "__main__":
    write_slice(Path(sys.argv[1]) if len(sys.argv) > 1 else FULL_SCHEMA)
    print(f"wrote {SLICE.relative_to(ROOT)}")
