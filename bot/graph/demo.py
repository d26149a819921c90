"""Built-in sample incidents, so a team can try the bot before the Entra app has admin consent.

Changes (comments, assignments, status) live in this process's memory only. The sample alerts are
the incidents' own `alerts` entries, so an alert link on a demo card opens the alert of that card.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from bot.errors import NotFound
from bot.graph.api import Written
from bot.models import Incident, validate_incident_id
from bot.models.alert_ids import AlertDetail, is_alert_id, read_alert, validate_alert_id

DEMO_TENANT_ID = "00000000-0000-4000-8000-000000000000"
DEMO_AUTHOR = "Incident Bot (sample data)"


def _load() -> dict[str, dict[str, Any]]:
    text = files("bot.graph").joinpath("demo_data/incidents.json").read_text(encoding="utf-8")
    return {str(item["id"]): item for item in json.loads(text)}


class DemoIncidentApi:
    """An in-memory IncidentApi over the sample incidents."""

    def __init__(self) -> None:
        self._incidents = _load()

    def raw_incidents(self) -> Iterator[dict[str, Any]]:
        """The sample incidents as the API would answer them (with their alerts), changes included."""
        yield from self._incidents.values()

    def _raw(self, incident_id: str) -> dict[str, Any]:
        raw = self._incidents.get(validate_incident_id(incident_id))
        if raw is None:
            raise NotFound(f"incident {incident_id} is not in the sample data", status=404)
        return raw

    async def get_incident(self, incident_id: str, *, expand_alerts: bool = True) -> Incident:
        return Incident.model_validate(self._raw(incident_id))

    async def list_incidents(self, *, filter: str | None = None, top: int = 50) -> AsyncIterator[Incident]:
        for raw in list(self._incidents.values())[:top]:
            yield Incident.model_validate(raw)

    async def changed_since(self, since: datetime) -> AsyncIterator[Incident]:
        for raw in list(self._incidents.values()):
            incident = Incident.model_validate(raw)
            if incident.last_update_date_time is not None and incident.last_update_date_time >= since:
                yield incident

    async def update_incident(self, incident_id: str, changes: dict[str, Any]) -> Written:
        raw = self._raw(incident_id)
        raw.update({key: str(value) if hasattr(value, "value") else value for key, value in changes.items()})
        raw["lastUpdateDateTime"] = datetime.now(UTC).isoformat()
        return Written(Incident.model_validate(raw))

    async def add_comment(self, incident_id: str, text: str) -> Written:
        raw = self._raw(incident_id)
        now = datetime.now(UTC).isoformat()
        raw.setdefault("comments", []).append(
            {"comment": text, "createdByDisplayName": DEMO_AUTHOR, "createdDateTime": now}
        )
        raw["lastUpdateDateTime"] = now
        return Written(Incident.model_validate(raw))


class DemoAlertApi:
    """An in-memory AlertApi over the alerts of the sample incidents (those of `incidents`, so both
    sources show the same data). An alert reads as `GET /security/alerts_v2/{id}` would answer it:
    with its incident's id and tenant, which the incident's `alerts` entries leave out."""

    def __init__(self, incidents: DemoIncidentApi | None = None) -> None:
        self._incidents = incidents or DemoIncidentApi()

    def _alerts(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for incident in self._incidents.raw_incidents():
            for alert in incident.get("alerts") or ():
                yield incident, alert

    def alert_ids(self) -> list[str]:
        """The ids `get_alert` answers: the sample alerts whose id is an alert id."""
        return [str(alert["id"]) for _, alert in self._alerts() if is_alert_id(alert.get("id"))]

    async def get_alert(self, alert_id: str) -> AlertDetail:
        alert_id = validate_alert_id(alert_id)
        for incident, alert in self._alerts():
            if alert.get("id") == alert_id:
                return read_alert(
                    {"incidentId": incident["id"], "tenantId": incident.get("tenantId"), **alert}
                )
        raise NotFound(f"alert {alert_id} is not in the sample data", status=404)
