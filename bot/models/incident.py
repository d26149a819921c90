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
from bot.models.text import clean_strings

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

    comment: str = ""
    created_by_display_name: str | None = None
    created_date_time: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, raw: Any) -> Any:
        return _renamed(raw, _COMMENT_RENAMES)


class EvidenceSummary(_Model):
    """What an alert touched, one readable value per entity."""

    devices: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    mailboxes: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    processes: list[str] = Field(default_factory=list)


class Alert(_Model):
    """An alert of an incident, with its evidence summarised."""

    id: str
    title: str = ""
    severity: AnySeverity = "unknown"
    status: str | None = None  # new, inProgress, resolved (legacy PascalCase normalised)
    category: str | None = None
    created_date_time: datetime | None = None
    mitre_techniques: list[str] = Field(default_factory=list)
    recommended_actions: str | None = None
    alert_web_url: str | None = None
    evidence: EvidenceSummary = Field(default_factory=EvidenceSummary)

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, raw: Any) -> Any:
        data = _renamed(raw, _ALERT_RENAMES)
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("id"), int):
            data["id"] = str(data["id"])
        _drop_nulls(data, ("severity",))
        if isinstance(data.get("status"), str):
            data["status"] = camel_value(data["status"])
        if isinstance(data.get("evidence"), list):
            data["evidence"] = summarize_graph_evidence(data["evidence"])
        elif "devices" in data or "entities" in data:
            data["evidence"] = summarize_legacy_evidence(
                data.get("devices") or [], data.get("entities") or []
            )
        return data


class HuntingQuery(_Model):
    """A recommended advanced-hunting query (KQL)."""

    kql_text: str


class Incident(_Model):
    """A Defender incident in Graph v1.0 terms, whichever API it came from."""

    id: str
    tenant_id: str | None = None
    display_name: str = ""
    status: AnyStatus = Status.ACTIVE
    severity: AnySeverity = "unknown"
    classification: AnyClassification = "unknown"
    determination: AnyDetermination = "unknown"
    assigned_to: str | None = None
    created_date_time: datetime | None = None
    last_update_date_time: datetime | None = None
    custom_tags: list[str] = Field(default_factory=list)
    system_tags: list[str] = Field(default_factory=list)
    description: str | None = None
    summary: str | None = None
    recommended_actions: list[str] = Field(default_factory=list)
    recommended_hunting_queries: list[HuntingQuery] = Field(default_factory=list)
    comments: list[AlertComment] = Field(default_factory=list)
    incident_web_url: str | None = None
    redirect_incident_id: str | None = None
    resolving_comment: str | None = None
    alerts: list[Alert] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, raw: Any) -> Any:
        data = _renamed(clean_strings(raw), _INCIDENT_RENAMES)
        if not isinstance(data, dict):
            return data
        for key in ("id", "redirectIncidentId"):
            if isinstance(data.get(key), int):
                data[key] = str(data[key])
        _drop_nulls(data, ("status", "severity", "classification", "determination"))
        actions = data.get("recommendedActions")
        if isinstance(actions, str):
            data["recommendedActions"] = [actions] if actions.strip() else []
        elif actions is None:
            data["recommendedActions"] = _actions_from_alerts(data.get("alerts"))
        return data

    @field_validator("custom_tags", "system_tags", "comments", "alerts", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def is_redirected(self) -> bool:
        return self.status == Status.REDIRECTED and bool(self.redirect_incident_id)

    def to_json_dict(self) -> dict[str, Any]:
        """Graph v1.0 camelCase JSON, the bot's one serialized form (cache, CLI)."""
        return self.model_dump(mode="json", by_alias=True)


def _actions_from_alerts(alerts: Any) -> list[str]:
    """An incident without its own recommended actions gets its alerts', each text once."""
    found: list[str] = []
    for alert in alerts or []:
        text = alert.get("recommendedActions") if isinstance(alert, Mapping) else None
        if isinstance(text, str) and text.strip() and text.strip() not in found:
            found.append(text.strip())
    return found
