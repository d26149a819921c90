"""A running bot with a 1 s watcher, and a fake API that creates incidents as Defender would."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes import FakeIncidentApi
from tests.listeners.conftest import (  # noqa: F401 (fixtures)
    fake_slack,
    slack_overrides,
    start_world,
    world,
)

GRAPH_DATA = Path(__file__).parent.parent / "data" / "graph"
POLL = 1.0


def graph_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_incident(api: FakeIncidentApi, incident_id: str, **fields: Any) -> dict[str, Any]:
    """A new incident in the fake API (a copy of 2972395: title, alerts, evidence), created now."""
    incident = json.loads((GRAPH_DATA / "incident_2972395.v1.json").read_text(encoding="utf-8"))
    incident = copy.deepcopy(incident)
    now = graph_now()
    incident.update(id=incident_id, createdDateTime=now, lastUpdateDateTime=now, status="active",
                    assignedTo=None, customTags=[], comments=[], classification="unknown",
                    determination="unknown")  # fmt: skip
    for alert in incident.get("alerts") or []:
        alert["incidentId"] = incident_id
    incident.update(fields)
    api.put("v1.0", incident)
    return incident
