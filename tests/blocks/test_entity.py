"""Work Object entities (bot/blocks/entity.py): golden entities, slack_sdk's models, what a redacted
entity leaves out, and the external_ref the flexpane request comes back with.

The leak test walks every string of the fixture incidents, as tests/blocks/test_redacted_card.py does for
the redacted card, and finds none of them in a redacted entity but the id (and the title where shown).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models import metadata as sdk

from bot.blocks.entity import (
    DESCRIPTION_CHARS,
    ENTITY_TYPE,
    LIMITED_NOTE,
    TITLE_CHARS,
    UNREADABLE,
    details_refusal,
    incident_details,
    incident_entity,
    parse_external_ref,
    unfurl_metadata,
)
from bot.blocks.incident import CardContext, incident_url
from bot.models import IncidentSnapshot
from bot.models.reading import read_incident

from .conftest import (
    FETCHED,
    HOSTILE_TITLE,
    PORTAL,
    SEAL,
    TENANT,
    beta_payload,
    context,
    hostile_payload,
    normal_payload,
    snapshot,
)
from .test_redacted_card import _NAMES, PAYLOADS, needles, payload_strings

UNFURL_URL = f"{PORTAL}/incidents/2972395?tid={TENANT}"
HOSTILE_URL = f"{PORTAL}/incidents/6666?tid={TENANT}"


def entity(
    payload: dict[str, Any], *, redacted: bool, show_title: bool = False, **ctx: Any
) -> dict[str, Any]:
    """The entity of the incident's own portal link, as the unfurl handler would build it."""
    url = incident_url(PORTAL, str(payload["id"]), TENANT)
    return incident_entity(
        snapshot(payload), context(**ctx), url=url, redacted=redacted, show_title=show_title
    )


# --- slack_sdk's models --------------------------------------------------------------------------------

_FIELD_MODELS: dict[str, Callable[..., Any]] = {
    "status": sdk.EntityStringField,
    "priority": sdk.EntityStringField,
    "urgency": sdk.EntityStringField,
    "description": sdk.EntityStringField,
    "service": sdk.EntityStringField,
    "date_created": sdk.EntityTimestampField,
    "date_updated": sdk.EntityTimestampField,
}


_SHOWN_ORDER = ("status", "priority", "assigned_to", "date_created", "date_updated", "description")


def _typed(raw: dict[str, Any]) -> sdk.EntityTypedField:
    user = raw.get("user")
    return sdk.EntityTypedField(**{**raw, "user": sdk.EntityUserField(**user) if user else None})


def _custom(raw: dict[str, Any]) -> sdk.EntityCustomField:
    value = raw["value"]
    if isinstance(value, list):
        value = [sdk.EntityArrayItemField(**item) for item in value]
    return sdk.EntityCustomField(**{**raw, "value": value})


def sdk_entity(raw: dict[str, Any]) -> sdk.EntityMetadata:
    """The entity rebuilt from its JSON with slack_sdk's models, every level a model (not a dict), so
    their validators run and any key they do not know is dropped (and the round trip then differs)."""
    payload = raw["entity_payload"]
    fields: dict[str, Any] = {
        name: _FIELD_MODELS[name](**value) if name in _FIELD_MODELS else _typed(value)
        for name, value in payload.get("fields", {}).items()
    }
    attributes = {**payload["attributes"], "title": sdk.EntityTitle(**payload["attributes"]["title"])}
    return sdk.EntityMetadata(
        **{
            **raw,
            "external_ref": sdk.ExternalRef(**raw["external_ref"]),
            "entity_payload": sdk.EntityPayload(
                **{
                    **payload,
                    "attributes": sdk.EntityAttributes(**attributes),
                    "fields": sdk.IncidentEntityFields(**fields),
                    "custom_fields": [_custom(c) for c in payload.get("custom_fields", [])] or None,
                }
            ),
        }
    )


def _entities() -> dict[str, Any]:
    return {
        "entity-full-normal": unfurl_metadata([entity(normal_payload(), redacted=False)]),
        "entity-redacted-normal": unfurl_metadata([entity(normal_payload(), redacted=True)]),
        "entity-redacted-hostile": unfurl_metadata([entity(hostile_payload(), redacted=True)]),
        "entity-details-normal": incident_details(snapshot(normal_payload()), context()),
    }


ENTITIES = _entities()


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_entity_matches_golden(name: str, golden: Callable[[str, Any], None]) -> None:
    golden(name, ENTITIES[name])


@pytest.mark.parametrize("redacted", [False, True], ids=["full", "redacted"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_entities_are_valid_for_slack_sdk(name: str, redacted: bool) -> None:
    payload = PAYLOADS[name]()
    built = [
        entity(payload, redacted=redacted, show_title=True),
        entity(payload, redacted=redacted, sample_data=True),
        incident_details(snapshot(payload, stale=True), context()),
    ]
    for raw in built:
        assert sdk_entity(raw).to_dict() == raw
        assert raw["entity_type"] == ENTITY_TYPE
        order = raw["entity_payload"]["display_order"]
        custom = [c["key"] for c in raw["entity_payload"].get("custom_fields", [])]
        shown = [name for name in _SHOWN_ORDER if name in raw["entity_payload"]["fields"]]
        assert order == [*shown, *custom] and len(shown) == len(raw["entity_payload"]["fields"])
    metadata = unfurl_metadata(built[:2])
    assert sdk.EventAndEntityMetadata(entities=[sdk_entity(e) for e in built[:2]]).to_dict() == metadata


def test_unfurl_metadata_is_the_entities_array() -> None:
    one = entity(normal_payload(), redacted=True)
    assert unfurl_metadata([one]) == {"entities": [one]}
    assert one["app_unfurl_url"] == UNFURL_URL  # exactly the link Slack sent


def test_details_are_the_full_entity_with_the_summary_and_the_same_ref() -> None:
    details = ENTITIES["entity-details-normal"]
    unfurled = ENTITIES["entity-full-normal"]["entities"][0]
    assert "app_unfurl_url" not in details
    # Slack refuses flexpane metadata whose entity is not the one the request was for
    assert details["external_ref"] == unfurled["external_ref"] and details["url"] == unfurled["url"]
    assert details["entity_payload"]["fields"]["description"] == {
        "label": "Description",
        "value": normal_payload()["description"],
    }
    beta = incident_details(snapshot(beta_payload()), context())
    assert beta["entity_payload"]["fields"]["description"]["label"] == "Summary"  # the summary wins
    hostile = incident_details(snapshot(hostile_payload()), context())["entity_payload"]["fields"]
    assert len(hostile["description"]["value"]) <= DESCRIPTION_CHARS
    assert "\x1b" not in hostile["description"]["value"]


# --- what a redacted entity leaves out -------------------------------------------------------------------


def _walked_payloads(load_fixture: Callable[[str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {**{name: make() for name, make in PAYLOADS.items()}, "file-666": load_fixture("666.v1")}


def _haystack(raw: dict[str, Any], *, title: str | None = None) -> str:
    """Every string of the entity, lowered; the title left out where it is the title allowed, and the
    portal links (the configured portal, the validated id and tenant: checked exactly instead)."""
    url = incident_url(PORTAL, raw["entity_payload"]["attributes"]["display_id"], TENANT)
    assert raw["url"] == raw.get("app_unfurl_url", url) == url
    raw = {key: value for key, value in raw.items() if key not in ("url", "app_unfurl_url")}
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, f"{path}[]")
        elif isinstance(node, str) and not (path.endswith("attributes.title.text") and node == title):
            found.append(node)

    walk(raw, "$")
    return "\n".join(found).lower()


@pytest.mark.parametrize("show_title", [False, True], ids=["title-hidden", "title-shown"])
@pytest.mark.parametrize("name", [*sorted(PAYLOADS), "file-666"])
def test_no_string_of_the_incident_is_in_a_redacted_entity(
    name: str, show_title: bool, load_fixture: Callable[[str], dict[str, Any]]
) -> None:
    payload = _walked_payloads(load_fixture)[name]
    raw = entity(payload, redacted=True, show_title=show_title)
    title = raw["entity_payload"]["attributes"]["title"]["text"]
    if show_title:
        assert title == " ".join(payload["displayName"].split())[:TITLE_CHARS]
    else:
        assert title == f"Incident {payload['id']}"
    text = _haystack(raw, title=title if show_title else None)
    checked = 0
    for path, value in payload_strings(payload):
        if (show_title and path == "displayName") or value == str(payload["id"]):
            continue  # the title where allowed; the id (alerts name their incident) is on the entity
        for needle in needles(value):
            assert needle not in text, f"{name}: {path} ({needle!r}) is in the redacted entity"
            checked += 1
    for word in (*_NAMES, "classification", "determination", "tag"):
        assert word not in text, f"{name}: {word!r} is in the redacted entity"
    assert checked > 20  # the walk found the fixture's strings


def test_the_walk_finds_what_the_full_entity_shows(load_fixture: Callable[[str], dict[str, Any]]) -> None:
    """The check above is not vacuous: in a full entity it finds the title, assignee and tags."""
    for name in ("normal", "hostile", "exposed", "file-666"):
        payload = _walked_payloads(load_fixture)[name]
        text = _haystack(entity(payload, redacted=False))
        found = {
            path.split(".")[0].split("[")[0]
            for path, value in payload_strings(payload)
            if any(needle in text for needle in needles(value))
        }
        assert {"displayName", "assignedTo", "customTags"} <= found, name


def test_a_redacted_entity_says_assigned_or_not_and_is_limited() -> None:
    fields = ENTITIES["entity-redacted-normal"]["entities"][0]["entity_payload"]["fields"]
    assert fields["assigned_to"] == {"label": "Assignment", "type": "string", "value": "Assigned"}
    assert set(fields) == {"status", "priority", "assigned_to", "date_created"}  # no last update
    unassigned = entity({**normal_payload(), "assignedTo": None}, redacted=True)["entity_payload"]
    assert unassigned["fields"]["assigned_to"]["value"] == "Unassigned"
    assert unassigned["custom_fields"] == [
        {"key": "details", "label": "Details", "type": "string", "value": LIMITED_NOTE}
    ]


def test_the_title_is_shown_only_when_allowed_and_a_full_entity_always_has_it() -> None:
    hidden = entity(normal_payload(), redacted=True)["entity_payload"]["attributes"]["title"]["text"]
    shown = entity(normal_payload(), redacted=True, show_title=True)["entity_payload"]["attributes"]
    full = ENTITIES["entity-full-normal"]["entities"][0]["entity_payload"]["attributes"]
    assert hidden == "Incident 2972395"
    assert shown["title"]["text"] == full["title"]["text"] == normal_payload()["displayName"]
    # no `format`, so Slack does not parse it: shown as Defender has it, like the card's header
    hostile = entity(hostile_payload(), redacted=False)["entity_payload"]["attributes"]
    assert hostile["title"]["text"] == HOSTILE_TITLE
    blank = entity({"id": "1", "displayName": "  "}, redacted=False)["entity_payload"]["attributes"]
    assert blank["title"]["text"] == "Incident 1"
    long = entity({"id": "1", "displayName": "word " * 100}, redacted=False)["entity_payload"]["attributes"]
    assert len(long["title"]["text"]) <= TITLE_CHARS


def test_values_the_bot_does_not_know_are_not_shown_as_sent() -> None:
    hostile = entity(hostile_payload(), redacted=False)["entity_payload"]
    assert hostile["fields"]["status"]["value"] == "Other"  # "active<!here>" as Defender sent it
    assert {c["key"]: c.get("value") for c in hostile["custom_fields"]}["classification"] == "Other"
    odd = entity({**normal_payload(), "severity": "catastrophic<!channel>"}, redacted=True)["entity_payload"]
    assert odd["fields"]["priority"] == {"label": "Severity", "value": "Other", "tag_color": "gray"}


def test_unreadable_fields_are_unknown_never_unassigned() -> None:
    payload = {**normal_payload(), "status": {"odd": 1}, "assignedTo": ["x"], "customTags": "x"}
    snap = IncidentSnapshot(incident=read_incident(payload).incident, fetched_at=FETCHED)
    for redacted in (False, True):
        raw = incident_entity(snap, context(), url=UNFURL_URL, redacted=redacted, show_title=False)
        fields = raw["entity_payload"]["fields"]
        assert fields["status"]["value"] == fields["assigned_to"]["value"] == UNREADABLE
    custom = {c["key"]: c["value"] for c in raw["entity_payload"]["custom_fields"]}
    assert "tags" not in custom  # the redacted entity has no tags at all
    full = incident_entity(snap, context(), url=UNFURL_URL, redacted=False, show_title=False)
    assert {c["key"]: c["value"] for c in full["entity_payload"]["custom_fields"]}["tags"] == UNREADABLE


def test_the_apis_own_link_is_never_used() -> None:
    for name in ("entity-redacted-hostile", "entity-details-normal", "entity-full-normal"):
        assert "evil.example/incidents" not in json.dumps(ENTITIES[name])
    assert ENTITIES["entity-redacted-hostile"]["entities"][0]["url"] == HOSTILE_URL


# --- external_ref --------------------------------------------------------------------------------------


def test_external_ref_names_the_tenant_and_the_incident_and_round_trips() -> None:
    ref = ENTITIES["entity-full-normal"]["entities"][0]["external_ref"]
    assert ref == {"id": f"{TENANT}/2972395", "type": "incident"}
    assert parse_external_ref(ref) == ("2972395", TENANT)
    upper = CardContext(portal_url=PORTAL, tenant_id=TENANT.upper(), seal=SEAL)
    same = incident_entity(snapshot(normal_payload()), upper, url=UNFURL_URL, redacted=True, show_title=False)
    assert same["external_ref"] == ref  # the same incident always has the same ref
    domain = CardContext(portal_url=PORTAL, tenant_id="Contoso.onmicrosoft.com", seal=SEAL)
    named = incident_details(snapshot(normal_payload()), domain)["external_ref"]
    assert parse_external_ref(named) == ("2972395", "contoso.onmicrosoft.com")
    bare = CardContext(portal_url=PORTAL, tenant_id=None, seal=SEAL)
    alone = incident_details(snapshot(beta_payload()), bare)["external_ref"]  # no tenant anywhere
    assert alone == {"id": "2972396", "type": "incident"} and parse_external_ref(alone) == ("2972396", None)
    from_incident = incident_details(snapshot(normal_payload()), bare)["external_ref"]
    assert from_incident == ref


@pytest.mark.parametrize(
    "ref",
    [
        {"id": "", "type": "incident"},
        {"id": "../2972395", "type": "incident"},
        {"id": f"{TENANT}/../2972395", "type": "incident"},
        {"id": "a/b/2972395", "type": "incident"},
        {"id": "/2972395", "type": "incident"},
        {"id": f"{TENANT}/", "type": "incident"},
        {"id": "1" * 21, "type": "incident"},
        {"id": f"{TENANT}/{'1' * 21}", "type": "incident"},
        {"id": "x" * 5000 + "/1", "type": "incident"},
        {"id": "12ab", "type": "incident"},
        {"id": " 2972395", "type": "incident"},
        {"id": "2972395\n", "type": "incident"},
        {"id": "２９７", "type": "incident"},
        {"id": f"{TENANT.upper()}/2972395", "type": "incident"},  # never built: tenants go out lower-cased
        {"id": "evil example/2972395", "type": "incident"},
        {"id": 2972395, "type": "incident"},
        {"id": "2972395"},
        {"id": "2972395", "type": "alert"},
        {"type": "incident"},
        {},
    ],
)
def test_parse_external_ref_rejects_what_this_module_did_not_build(ref: dict[str, Any]) -> None:
    assert parse_external_ref(ref) is None


def test_parse_external_ref_rejects_what_is_not_a_mapping() -> None:
    assert parse_external_ref(["2972395"]) is None  # type: ignore[arg-type]
    assert parse_external_ref("2972395") is None  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["id", "type", "x"]), st.text(max_size=60) | st.integers() | st.none())
)
def test_parse_external_ref_never_raises_and_returns_only_valid_ids(ref: dict[str, Any]) -> None:
    parsed = parse_external_ref(ref)
    if parsed is not None:
        incident_id, _tenant = parsed
        assert incident_id.isascii() and incident_id.isdigit() and len(incident_id) <= 20


# --- the refusal ---------------------------------------------------------------------------------------


def test_details_refusal_is_a_custom_partial_view_with_our_message() -> None:
    assert details_refusal("You may not read incidents.") == {
        "status": "custom_partial_view",
        "custom_title": "Incident details not available",
        "custom_message": "You may not read incidents.",
    }
    cleaned = details_refusal("a\u202eb\x00c " + "z" * 5000)["custom_message"]
    assert cleaned.startswith("abc ") and len(cleaned) <= 1000
    assert details_refusal("  ")["custom_message"] == "Incident details not available"
