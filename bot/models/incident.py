"""Incident, Alert and AlertComment: one model for Graph v1.0, Graph beta and the legacy Defender API.

Each `model_validator(mode="before")` renames the older shapes' fields to Graph v1.0 names,
so `Incident.model_validate(payload)` accepts any of the three, and also the bot's own JSON
(`model_dump(by_alias=True)`), which is what the cache stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from bot.models.enums import (
    AnyClassification,
    AnyDetermination,
    AnySeverity,
    AnyStatus,
    Status,
    camel_value,
)
from bot.models.evidence import summarize_graph_evidence, summarize_legacy_evidence
from bot.models.text import OptionalText, Text, Texts, clean_strings

_INCIDENT_RENAMES = {
    "incidentId": "id",
    "incidentName": "displayName",
    "incidentUri": "incidentWebUrl",
    "createdTime": "createdDateTime",
    "lastUpdateTime": "lastUpdateDateTime",
    "tags": "customTags",
    "aadTenantId": "tenantId",
}
_ALERT_RENAMES = {
    "alertId": "id",
    "creationTime": "createdDateTime",
    "lastUpdatedTime": "lastUpdateDateTime",
}
_COMMENT_RENAMES = {"createdBy": "createdByDisplayName", "createdTime": "createdDateTime"}


def _renamed(raw: Any, renames: Mapping[str, str]) -> Any:
    """Copy of `raw` with old field names moved to their v1.0 names (a v1.0 name wins)."""
    if not isinstance(raw, Mapping):
        return raw
    data = dict(raw)
    for old, new in renames.items():
        if old in data:
            value = data.pop(old)
            data.setdefault(new, value)
    return data


def _drop_nulls(data: dict[str, Any], keys: tuple[str, ...]) -> None:
    """A null enum means "not set": let the field's default stand."""
    for key in keys:
        if key in data and data[key] is None:
            del data[key]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class AlertComment(_Model):
    """A comment on an incident, with who wrote it and when."""

    comment: Text = ""
    created_by_display_name: OptionalText = None
    created_date_time: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, raw: Any) -> Any:
        return _renamed(raw, _COMMENT_RENAMES)


class EvidenceSummary(_Model):
    """What an alert touched, one readable value per entity."""

    devices: Texts = Field(default_factory=list)
    users: Texts = Field(default_factory=list)
    mailboxes: Texts = Field(default_factory=list)
    ips: Texts = Field(default_factory=list)
    urls: Texts = Field(default_factory=list)
    files: Texts = Field(default_factory=list)
    processes: Texts = Field(default_factory=list)


class Alert(_Model):
    """An alert of an incident, with its evidence summarised."""

    id: Text
    title: Text = ""
    severity: AnySeverity = "unknown"
    status: OptionalText = None  # new, inProgress, resolved (legacy PascalCase normalised)
    category: OptionalText = None
    created_date_time: datetime | None = None
    mitre_techniques: Texts = Field(default_factory=list)
    recommended_actions: OptionalText = None
    alert_web_url: OptionalText = None
    # Which product raised it and which detection found it (Graph v1.0 `serviceSource` and
    # `detectionSource`): what subscriptions' `source=` filters on.
    service_source: OptionalText = None
    detection_source: OptionalText = None
    evidence: EvidenceSummary = Field(default_factory=EvidenceSummary)

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, raw: Any) -> Any:
        data = _renamed(raw, _ALERT_RENAMES)
        if not isinstance(data, dict):
            return data
        _drop_nulls(data, ("severity", "evidence"))
        for key in ("status", "detectionSource", "serviceSource"):  # the legacy API's are PascalCase
            if isinstance(data.get(key), str):
                data[key] = camel_value(data[key])
        if isinstance(data.get("evidence"), list):
            data["evidence"] = summarize_graph_evidence(data["evidence"])
        elif "devices" in data or "entities" in data:
            devices, entities = _list(data.get("devices")), _list(data.get("entities"))
            data["evidence"] = summarize_legacy_evidence(devices, entities)
        return data


class HuntingQuery(_Model):
    """A recommended advanced-hunting query (KQL)."""

    kql_text: Text = ""


class Incident(_Model):
    """A Defender incident in Graph v1.0 terms, whichever API it came from."""

    id: Text
    tenant_id: OptionalText = None
    display_name: Text = ""
    status: AnyStatus = Status.ACTIVE
    severity: AnySeverity = "unknown"
    classification: AnyClassification = "unknown"
    determination: AnyDetermination = "unknown"
    assigned_to: OptionalText = None
    created_date_time: datetime | None = None
    last_update_date_time: datetime | None = None
    custom_tags: Texts = Field(default_factory=list)
    system_tags: Texts = Field(default_factory=list)
    description: OptionalText = None
    summary: OptionalText = None
    recommended_actions: Texts = Field(default_factory=list)
    recommended_hunting_queries: list[HuntingQuery] = Field(default_factory=list)
    comments: list[AlertComment] = Field(default_factory=list)
    incident_web_url: OptionalText = None
    redirect_incident_id: OptionalText = None
    resolving_comment: OptionalText = None
    last_modified_by: OptionalText = None  # who changed it last: for a resolved incident, who resolved it
    alerts: list[Alert] = Field(default_factory=list)
    # Fields of the API's answer that could not be read (Graph names): shown as unknown on the card.
    unreadable_fields: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, raw: Any) -> Any:
        data = _renamed(clean_strings(raw), _INCIDENT_RENAMES)
        if not isinstance(data, dict):
            return data
        _drop_nulls(data, ("status", "severity", "classification", "determination"))
        actions = data.get("recommendedActions")
        if isinstance(actions, str):
            data["recommendedActions"] = [actions] if actions.strip() else []
        elif actions is None:
            data["recommendedActions"] = _actions_from_alerts(data.get("alerts"))
        return data

    @field_validator("comments", "alerts", "recommended_hunting_queries", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        """Null is an empty collection, and a null element is left out (Graph's schema allows both)."""
        if value is None:
            return []
        return [item for item in value if item is not None] if isinstance(value, list) else value

    @property
    def is_redirected(self) -> bool:
        return self.status == Status.REDIRECTED and bool(self.redirect_incident_id)

    def to_json_dict(self) -> dict[str, Any]:
        """Graph v1.0 camelCase JSON, the bot's one serialized form (cache, CLI)."""
        return self.model_dump(mode="json", by_alias=True)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_v1_names(raw: Any) -> Any:
    """A copy of an incident answer with every older field name (its alerts' and comments' too)
    moved to its Graph v1.0 name: the names validation errors are reported under."""
    data = _renamed(clean_strings(raw), _INCIDENT_RENAMES)
    if isinstance(data, dict):
        for key, renames in (("alerts", _ALERT_RENAMES), ("comments", _COMMENT_RENAMES)):
            if isinstance(data.get(key), list):
                data[key] = [_renamed(item, renames) for item in data[key]]
    return data


def _actions_from_alerts(alerts: Any) -> list[str]:
    """An incident without its own recommended actions gets its alerts', each text once."""
    found: list[str] = []
    for alert in _list(alerts):
        text = alert.get("recommendedActions") if isinstance(alert, Mapping) else None
        if isinstance(text, str) and text.strip() and text.strip() not in found:
            found.append(text.strip())
    return found
