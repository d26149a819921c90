"""Alerts on their own (`GET /security/alerts_v2/{id}`): their ids, checked before they reach any URL,
and the alert as the bot reads it from Graph v1.0 or the legacy Defender API (`GET /api/alerts/{id}`).

Alert ids have no published grammar: Graph's CSDL types `alert.id` as a plain `Edm.String` ("Unique
identifier to represent the alert resource"). `ALERT_ID_PATTERN` is therefore the union of the forms
real answers show: a two-letter source prefix, then the provider's own alert id (`providerAlertId`).

- `<prefix><digits>_<optional ->digits`: Defender for Endpoint and custom detections. Microsoft's
  examples: `da637551227677560813_-961444813` (Graph "List alerts_v2"), `da637578995287051192_756343937`
  (Graph "Get alert"), `ed639047114220050398_-1516486255` (Graph "List incidents", a custom detection),
  `da637472900382838869_1364969609` (Defender for Endpoint "Alert resource type").
- `<prefix><GUID>`, optionally `_<n>`: `da09e47ccc-b74a-45bb-985f-8d6c077b70b6_1` (Graph "List
  incidents", providerAlertId `09e47ccc-…_1`); `fa410e4342-4bfc-80a3-9600-08dd53ec811c` (Defender for
  Office 365, in an integration's published sample answer). And a bare GUID: the portal link
  integrations build for a Microsoft Sentinel alert (`/alerts/<systemAlertId>`).
- `<prefix><hex>`: Entra ID Protection and Defender for Cloud Apps alerts in integrations' published
  sample answers, e.g. `ad3ef58dc561c3234527be2d9ff82524a967a5fb1c` (40 hex digits) and a 50-digit one.

The prefix is any two lowercase letters (da, ed, fa and ad are seen; Defender has more sources), so a
new source's alerts are not refused for their prefix. Every form is ASCII letters, digits, `_` and `-`
only, so nothing in an accepted id can change the path or query of the URL it is put into, and none is
all digits, so an alert id is never also an incident id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError, model_validator

from bot.errors import InvalidIncidentId, UnreadableAnswer
from bot.models.enums import AnyClassification, AnyDetermination, camel_value
from bot.models.evidence import summarize_graph_evidence, summarize_legacy_evidence
from bot.models.incident import Alert
from bot.models.text import OptionalText, clean_strings

MAX_ALERT_ID_CHARS = 128
_PREFIX = r"[a-z]{2}"
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ALERT_ID_PATTERN = (
    rf"(?:{_PREFIX}[0-9]{{1,20}}_-?[0-9]{{1,20}}"  # da637551227677560813_-961444813
    rf"|(?:{_PREFIX})?{_GUID}(?:_[0-9]{{1,10}})?"  # fa410e4342-4bfc-…, da09e47ccc-…_1, a bare GUID
    rf"|{_PREFIX}[0-9a-f]{{16,120}})"  # ad3ef58dc561c3234527be2d9ff82524a967a5fb1c
)
_ALERT_ID = re.compile(ALERT_ID_PATTERN)
EXAMPLE_ALERT_ID = "da637551227677560813_-961444813"


class InvalidAlertId(InvalidIncidentId):
    """Text that is not an alert id. A kind of InvalidIncidentId, so every place that answers a bad
    incident id ("nothing was sent", the CLI's exit status 2) answers a bad alert id the same way."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        self.args = (
            f"{shown!r} is not an alert id: use the one in the alert's link, e.g. {EXAMPLE_ALERT_ID}",
        )


def validate_alert_id(raw: object) -> str:
    """Return the alert id as given, or raise InvalidAlertId: one of the forms above, at most 128 chars."""
    if not isinstance(raw, str):
        raise InvalidAlertId(repr(raw))
    if len(raw) > MAX_ALERT_ID_CHARS or not _ALERT_ID.fullmatch(raw):
        raise InvalidAlertId(raw)
    return raw


def is_alert_id(raw: object) -> bool:
    """Whether `raw` is an alert id (validate_alert_id would return it)."""
    try:
        validate_alert_id(raw)
    except InvalidAlertId:
        return False
    return True


# The legacy Defender for Endpoint API's names → Graph v1.0 names (a v1.0 name wins when both come).
_LEGACY_RENAMES = {
    "alertId": "id",
    "alertCreationTime": "createdDateTime",
    "creationTime": "createdDateTime",
    "firstEventTime": "firstActivityDateTime",
    "lastEventTime": "lastActivityDateTime",
    "lastUpdateTime": "lastUpdateDateTime",
    "lastUpdatedTime": "lastUpdateDateTime",
    "resolvedTime": "resolvedDateTime",
    "aadTenantId": "tenantId",
    "threatName": "threatDisplayName",
}
_GRAPH_TYPE_PREFIX = "#microsoft.graph.security."
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,59}")
_LEGACY_KIND_NAMES = {"machine": "device", "ipAddress": "ip", "mailBox": "mailbox"}


def _kind_name(raw: object, *, legacy: bool) -> str:
    """'#microsoft.graph.security.registryKeyEvidence' → 'registryKey'; legacy 'User' → 'user'."""
    text = str(raw or "")
    name = camel_value(text) if legacy else text.removeprefix(_GRAPH_TYPE_PREFIX).removesuffix("Evidence")
    name = _LEGACY_KIND_NAMES.get(name, name) if legacy else name
    return name if _KIND.fullmatch(name) else "other"


def count_evidence_kinds(items: Iterable[Any], *, legacy: bool) -> dict[str, int]:
    """How many evidence items of each kind, in the order the kinds first appear."""
    counts: dict[str, int] = {}
    for item in items:
        if isinstance(item, Mapping):
            kind = _kind_name(item.get("entityType") if legacy else item.get("@odata.type"), legacy=legacy)
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def _is_legacy_evidence(items: list[Any]) -> bool:
    mappings = [item for item in items if isinstance(item, Mapping)]
    return bool(mappings) and all("entityType" in i and "@odata.type" not in i for i in mappings)


def as_alert_v1_names(raw: Any) -> Any:
    """A cleaned copy of an alert answer with every legacy field name moved to its Graph v1.0 name."""
    data = clean_strings(raw)
    if not isinstance(data, dict):
        return data
    for old, new in _LEGACY_RENAMES.items():
        if old in data:
            value = data.pop(old)
            data.setdefault(new, value)
    return data


class AlertDetail(Alert):
    """An alert as `GET /security/alerts_v2/{id}` (or the legacy `GET /api/alerts/{id}`) answers it:
    the incident's `Alert` plus what a card of the alert alone shows. `evidence` is summarised as in
    `Alert`; `evidence_kinds` counts every evidence item by kind, those the summary has no place for too
    (registry keys, email messages, cloud apps…)."""

    incident_id: OptionalText = None
    tenant_id: OptionalText = None
    provider_alert_id: OptionalText = None
    description: OptionalText = None
    classification: AnyClassification = "unknown"
    determination: AnyDetermination = "unknown"
    assigned_to: OptionalText = None
    product_name: OptionalText = None
    threat_display_name: OptionalText = None
    first_activity_date_time: datetime | None = None
    last_activity_date_time: datetime | None = None
    last_update_date_time: datetime | None = None
    resolved_date_time: datetime | None = None
    evidence_kinds: dict[str, int] = Field(default_factory=dict)
    # Fields of the API's answer that could not be read (Graph names): shown as unknown on the card.
    unreadable_fields: tuple[str, ...] = ()

    # Pydantic runs a subclass's before-validator ahead of its base's (tests/models/test_alert_ids.py
    # checks it): the evidence list is still a list here, so it can be counted, then summarised.
    @model_validator(mode="before")
    @classmethod
    def _detail_shapes(cls, raw: Any) -> Any:
        data = as_alert_v1_names(raw)
        if not isinstance(data, dict):
            return data
        for key in ("classification", "determination", "evidenceKinds"):
            if key in data and data[key] is None:
                del data[key]
        evidence = data.get("evidence")
        if isinstance(evidence, list):
            legacy = _is_legacy_evidence(evidence)
            counts = count_evidence_kinds(evidence, legacy=legacy)
            if legacy:
                host = data.get("computerDnsName")
                devices = [{"deviceDnsName": host}] if isinstance(host, str) and host.strip() else []
                if devices and "device" not in counts:
                    counts = {"device": 1, **counts}
                data["evidence"] = summarize_legacy_evidence(devices, evidence)
            else:
                data["evidence"] = summarize_graph_evidence(evidence)
            data["evidenceKinds"] = counts
        return data


# Each round drops every field pydantic reported; a later round can only find fewer.
_ROUNDS = 4


def read_alert(raw: Any) -> AlertDetail:
    """The alert in an API answer, tolerant field by field: a field that does not parse is left out
    and named in `unreadable_fields`. Only an answer without an id is `UnreadableAnswer`."""
    if not isinstance(raw, dict):
        raise UnreadableAnswer("the answer is not a JSON object")
    try:
        data = as_alert_v1_names(raw)
        failed: list[str] = []
        for _ in range(_ROUNDS):
            try:
                alert = AlertDetail.model_validate(data)
            except ValidationError as error:
                names = [str(e["loc"][0]) for e in error.errors() if e["loc"]]
                if not names or "id" in names:
                    raise UnreadableAnswer("the answer has no readable alert id") from None
                for name in names:
                    data.pop(name, None)
                    failed.append(name)
                continue
            if not alert.id.strip():
                raise UnreadableAnswer("the answer has no readable alert id")
            if failed:
                alert = alert.model_copy(update={"unreadable_fields": tuple(dict.fromkeys(failed))})
            return alert
    except RecursionError:
        raise UnreadableAnswer("the answer is nested too deeply") from None
    raise UnreadableAnswer("the answer does not read as an alert")
