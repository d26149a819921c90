"""Work Object entities of incidents: the `metadata` of `chat.unfurl` and of `entity.presentDetails`.

Slack draws a Work Object (https://docs.slack.dev/messaging/work-objects-implementation) from an
entity: an `external_ref` naming the incident, the `url` a click opens, typed fields. An unfurled
entity is read by everyone in the conversation, like an unfurl card, so a redacted one carries only
what the redacted card (`bot.blocks.redacted`) shows: id, status, severity, when it was opened,
whether it is assigned (never to whom), the portal link, the title only where the deployment lets
it. The flexpane's (`incident_details`) goes to one person, whom the caller has let read incidents.

Enums are shown only as values the bot knows ("Other" otherwise), so those words are the bot's, never
Defender's; titles, assignees, tags and descriptions are cleaned (`clean_text`) and cut. The `url` is
`portal_link`, never the API's `incidentWebUrl`. slack_sdk's models build every piece (their
validators check entity and field types) and `.to_dict()` makes the JSON.

`external_ref` is `{"id": "<tenant>/<incident id>", "type": "incident"}` (`"<incident id>"` where no
tenant is known): Defender ids are unique only within a tenant, and Slack asks that the ref only
identify the object and never change for it, hence the tenant (lower-cased) and id, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from slack_sdk.models import metadata as sdk

from bot.blocks.incident import TAG_CHARS, TAGS_SHOWN, CardContext, portal_link
from bot.blocks.redacted import KNOWN_SEVERITIES, KNOWN_STATUSES, OTHER
from bot.blocks.text import (
    as_utc,
    classification_label,
    determination_label,
    one_line,
    severity_label,
    status_label,
    truncate,
)
from bot.config.values import TENANT
from bot.errors import InvalidIncidentId
from bot.models import Classification, Determination, Incident, IncidentSnapshot, Severity, Status
from bot.models.ids import validate_incident_id
from bot.models.text import clean_text

ENTITY_TYPE = "slack#/entities/incident"
REF_TYPE = "incident"
PRODUCT_NAME = "Microsoft Defender"
DISPLAY_TYPE = "Incident"
# Slack documents no length limits for entity strings: the card's own are used (its header's 150).
TITLE_CHARS = 150
VALUE_CHARS = 120
DESCRIPTION_CHARS = 3000  # what Slack lets a flexpane text field hold (its plain-text input's limit)
REFUSAL_CHARS = 1000
REFUSAL_TITLE = "Incident details not available"
UNREADABLE = "Unknown (unreadable)"
LIMITED_NOTE = "Limited in this conversation: open it for the full incident, shown to you if you may see it"
_MAX_REF_ID_CHARS = 300
_TENANT_CHARS = 253
_CLASSIFICATIONS = frozenset({*Classification, "unknownFutureValue"})
_DETERMINATIONS = frozenset({*Determination, "unknownFutureValue"})
# Slack's tag colours are red, yellow, green, gray and blue; a value without one here is gray.
_STATUS_COLORS: dict[str, str] = {
    Status.ACTIVE: "red",
    Status.IN_PROGRESS: "yellow",
    Status.AWAITING_ACTION: "yellow",
    Status.RESOLVED: "green",
}
_NO_COLORS: dict[str, str] = {}
_SEVERITY_COLORS: dict[str, str] = {Severity.HIGH: "red", Severity.MEDIUM: "yellow", Severity.LOW: "blue"}


def _line(text: str | None, limit: int) -> str:
    """Untrusted text as one cleaned line of at most `limit` characters ("" for none)."""
    return truncate(one_line(clean_text(text or "")), limit)


def _is_tenant(text: str) -> bool:
    """A tenant as the bot accepts one (AZURE_TENANT_ID), in the lower case refs carry it in."""
    return len(text) <= _TENANT_CHARS and text == text.lower() and TENANT.fullmatch(text) is not None


def _tenant(incident: Incident, ctx: CardContext) -> str | None:
    """The tenant the portal link names (the deployment's, else the incident's), if it looks like one."""
    tenant = (ctx.tenant_id or incident.tenant_id or "").strip().lower()
    return tenant if _is_tenant(tenant) else None


def _external_ref(incident: Incident, ctx: CardContext) -> sdk.ExternalRef:
    tenant = _tenant(incident, ctx)
    return sdk.ExternalRef(id=f"{tenant}/{incident.id}" if tenant else incident.id, type=REF_TYPE)


def parse_external_ref(ref: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(incident id, tenant or None) of an `external_ref` this module built; None for anything else
    (another type, a path, an id that is not 1–20 digits, a tenant that is not a GUID or domain)."""
    if not isinstance(ref, Mapping) or ref.get("type") != REF_TYPE:
        return None
    raw = ref.get("id")
    if not isinstance(raw, str) or len(raw) > _MAX_REF_ID_CHARS:
        return None
    tenant, slash, incident_id = raw.rpartition("/")
    if slash and not _is_tenant(tenant):
        return None
    try:
        return validate_incident_id(incident_id), tenant or None
    except InvalidIncidentId:
        return None


def _enum(
    incident: Incident,
    name: str,
    known: frozenset[str],
    label: Callable[[str], str],
    colors: Mapping[str, str] = _NO_COLORS,
) -> tuple[str, str]:
    """(label, tag colour) of an enum field: "Other" for a value the bot does not know (never the value
    as sent), unknown where the answer could not be read (`name` is the Graph and the model's name)."""
    value = str(getattr(incident, name))
    if name in incident.unreadable_fields:
        return UNREADABLE, "gray"
    return (label(value) if value in known else OTHER), colors.get(value, "gray")


def _string(label: str, value: str, color: str | None = None) -> sdk.EntityStringField:
    return sdk.EntityStringField(value=value, label=label, tag_color=color)


def _timestamp(label: str, moment: datetime | None) -> sdk.EntityTimestampField | None:
    return sdk.EntityTimestampField(value=int(as_utc(moment).timestamp()), label=label) if moment else None


def _assignment(incident: Incident, *, redacted: bool) -> sdk.EntityTypedField:
    """Who it is assigned to (full), or only whether it is (redacted); unknown where unreadable."""
    label = "Assignment" if redacted else "Assigned to"
    name = _line(incident.assigned_to, VALUE_CHARS)
    if "assignedTo" in incident.unreadable_fields:
        return sdk.EntityTypedField(type="string", label=label, value=UNREADABLE)
    if not name:
        return sdk.EntityTypedField(type="string", label=label, value="Unassigned")
    if redacted:
        return sdk.EntityTypedField(type="string", label=label, value="Assigned")
    return sdk.EntityTypedField(type="slack#/types/user", label=label, user=sdk.EntityUserField(text=name))


def _fields(incident: Incident, *, redacted: bool, description: bool) -> dict[str, Any]:
    """The incident schema's fields, in the order they are shown; a field with no value is left out."""
    fields: dict[str, Any] = {
        "status": _string("Status", *_enum(incident, "status", KNOWN_STATUSES, status_label, _STATUS_COLORS)),
        # Slack's incident schema calls it `priority` (its docs' prose, severity): Defender's severity
        "priority": _string(
            "Severity", *_enum(incident, "severity", KNOWN_SEVERITIES, severity_label, _SEVERITY_COLORS)
        ),
        "assigned_to": _assignment(incident, redacted=redacted),
        "date_created": _timestamp("Opened" if redacted else "Created", incident.created_date_time),
        "date_updated": None if redacted else _timestamp("Last updated", incident.last_update_date_time),
    }
    if description:
        summarised = bool(incident.summary and incident.summary.strip())
        raw = incident.summary if summarised else incident.description
        text = truncate(clean_text(raw or "").strip(), DESCRIPTION_CHARS)
        label = "Summary" if summarised else "Description"
        fields["description"] = _string(label, text) if text else None
    return {name: field for name, field in fields.items() if field is not None}


def _custom(key: str, label: str, type_: str, value: Any, **extra: Any) -> sdk.EntityCustomField:
    return sdk.EntityCustomField(key=key, label=label, type=type_, value=value, **extra)


def _tags(key: str, label: str, tags: list[str], unreadable: bool) -> sdk.EntityCustomField | None:
    if unreadable:
        return _custom(key, label, "string", UNREADABLE)
    shown = [tag for tag in (_line(tag, TAG_CHARS) for tag in tags) if tag]
    items = shown[:TAGS_SHOWN] + ([f"+{len(shown) - TAGS_SHOWN} more"] if len(shown) > TAGS_SHOWN else [])
    if not items:
        return None
    values = [sdk.EntityArrayItemField(value=item) for item in items]
    return _custom(key, label, "array", values, item_type="string")


def _custom_fields(
    snapshot: IncidentSnapshot, ctx: CardContext, *, redacted: bool
) -> list[sdk.EntityCustomField]:
    """Classification, determination, tags and alert count (full only), and the bot's own notes."""
    incident = snapshot.incident
    unreadable = set(incident.unreadable_fields)
    fields: list[sdk.EntityCustomField | None] = []
    if ctx.sample_data:
        fields.append(_custom("sample_data", "Sample data", "string", "Demo mode, not a real incident"))
    if snapshot.stale:
        when = int(as_utc(snapshot.fetched_at).timestamp())
        fields.append(_custom("data_as_of", "Data may be out of date, as of", "slack#/types/timestamp", when))
    if redacted:
        fields.append(_custom("details", "Details", "string", LIMITED_NOTE))
        return [field for field in fields if field is not None]
    for name, known, label in (
        ("classification", _CLASSIFICATIONS, classification_label),
        ("determination", _DETERMINATIONS, determination_label),
    ):
        fields.append(_custom(name, name.title(), "string", _enum(incident, name, known, label)[0]))
    fields.append(_tags("tags", "Tags", incident.custom_tags, "customTags" in unreadable))
    fields.append(_tags("system_tags", "System tags", incident.system_tags, "systemTags" in unreadable))
    if incident.alerts:
        fields.append(_custom("alerts", "Alerts", "integer", len(incident.alerts)))
    return [field for field in fields if field is not None]


def _title(incident: Incident, *, show_title: bool) -> str:
    name = _line(incident.display_name, TITLE_CHARS) if show_title else ""
    return name if name and "displayName" not in incident.unreadable_fields else f"Incident {incident.id}"


def _entity(
    snapshot: IncidentSnapshot, ctx: CardContext, *, redacted: bool, show_title: bool, details: bool
) -> sdk.EntityMetadata:
    incident = snapshot.incident
    link = portal_link(incident, ctx)  # validates the id, which the entity then carries as is
    fields = _fields(incident, redacted=redacted, description=details)
    custom = _custom_fields(snapshot, ctx, redacted=redacted)
    payload = sdk.EntityPayload(
        attributes=sdk.EntityAttributes(
            title=sdk.EntityTitle(text=_title(incident, show_title=show_title)),
            display_id=incident.id,
            display_type=DISPLAY_TYPE,
            product_name=PRODUCT_NAME,
        ),
        fields=sdk.IncidentEntityFields(**fields),
        custom_fields=[*custom],  # a list of the wider type slack_sdk declares (list is invariant)
        display_order=[*fields, *(field.key for field in custom)],
    )
    return sdk.EntityMetadata(
        entity_type=ENTITY_TYPE, entity_payload=payload, external_ref=_external_ref(incident, ctx), url=link
    )


def incident_entity(
    snapshot: IncidentSnapshot, ctx: CardContext, *, url: str, redacted: bool, show_title: bool
) -> dict[str, Any]:
    """The entity of one unfurled link, `url` (its `app_unfurl_url`: exactly the link Slack sent).
    Full: title, status, severity, assignee, dates, classification, determination, tags, alert count.
    Redacted: only what the redacted card shows, the title only when `show_title` (full always has it)."""
    entity = _entity(snapshot, ctx, redacted=redacted, show_title=show_title or not redacted, details=False)
    entity.app_unfurl_url = url
    return entity.to_dict()


def unfurl_metadata(entities: list[dict[str, Any]]) -> dict[str, Any]:
    """`chat.unfurl`'s `metadata` argument: the entities of the links unfurled, one each."""
    return {"entities": entities}


def incident_details(snapshot: IncidentSnapshot, ctx: CardContext) -> dict[str, Any]:
    """`entity.presentDetails`'s `metadata` for one reader: the full entity plus the summary (or the
    description), with the unfurl's `external_ref` (Slack refuses one that does not match)."""
    return _entity(snapshot, ctx, redacted=False, show_title=True, details=True).to_dict()


def details_refusal(message: str) -> dict[str, Any]:
    """`entity.presentDetails`'s `error` argument refusing the flexpane with our `message`.

    `custom_partial_view` is what Slack's docs give for a refusal of one's own: the treatment of its
    `restricted` status with our title and message. No `message_format`: the text is shown as is."""
    text = truncate(clean_text(message).strip(), REFUSAL_CHARS) or REFUSAL_TITLE
    return {"status": "custom_partial_view", "custom_title": REFUSAL_TITLE, "custom_message": text}
