"""Incident data, validated and normalised to Graph v1.0 names."""

from bot.models.enums import (
    DETERMINATIONS_BY_CLASSIFICATION,
    Classification,
    Determination,
    Severity,
    Status,
)
from bot.models.ids import validate_incident_id
from bot.models.incident import Alert, AlertComment, EvidenceSummary, HuntingQuery, Incident
from bot.models.snapshot import IncidentSnapshot

__all__ = [
    "DETERMINATIONS_BY_CLASSIFICATION",
    "Alert",
    "AlertComment",
    "Classification",
    "Determination",
    "EvidenceSummary",
    "HuntingQuery",
    "Incident",
    "IncidentSnapshot",
    "Severity",
    "Status",
    "validate_incident_id",
]
