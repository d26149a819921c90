"""The two incident APIs behind one interface: Microsoft Graph security and legacy Defender."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.errors import UnreadableAnswer
from bot.graph.transport import Answer, ApiTransport, Permissions
from bot.models import Incident, validate_incident_id
from bot.models.enums import camel_value
from bot.models.reading import read_incident

logger = logging.getLogger(__name__)

GRAPH_PERMISSIONS = Permissions(read="SecurityIncident.Read.All", write="SecurityIncident.ReadWrite.All")
DEFENDER_PERMISSIONS = Permissions(read="Incident.Read.All", write="Incident.ReadWrite.All")

# Fields an update may change, by their Graph v1.0 names.
UPDATABLE_FIELDS = frozenset(
    {"assignedTo", "classification", "determination", "status", "customTags", "resolvingComment"}
)


@dataclass(frozen=True)
class Written:
    """What a write answered: the incident when the API sent it back, and the request-id to cite."""

    incident: Incident | None
    request_id: str | None = None


class IncidentApi(Protocol):
    """Read and change incidents; both backends and the demo source implement it."""

    async def get_incident(self, incident_id: str, *, expand_alerts: bool = True) -> Incident: ...

    def list_incidents(self, *, filter: str | None = None, top: int = 50) -> AsyncIterator[Incident]: ...

    def changed_since(self, since: datetime) -> AsyncIterator[Incident]:
        """Every incident last updated at or after `since`, all pages (without alerts)."""
        ...

    async def update_incident(self, incident_id: str, changes: dict[str, Any]) -> Written: ...

    async def add_comment(self, incident_id: str, text: str) -> Written: ...


class AnswerReader:
    """Reads incidents out of answers, logging each field that could not be read once per incident,
    not on every fetch of it (a busy card would fill the log with the same line)."""

    REMEMBERED = 2048

    def __init__(self) -> None:
        self.logged: OrderedDict[tuple[str, str], None] = OrderedDict()

    def incident(self, body: dict[str, Any]) -> Incident:
        """The incident of a read; UnreadableAnswer when there is none to show."""
        reading = read_incident(body)
        incident = reading.incident
        for problem in reading.problems:
            key = (incident.id, problem.path)
            if key in self.logged:
                self.logged.move_to_end(key)
                continue
            self.logged[key] = None
            if len(self.logged) > self.REMEMBERED:
                self.logged.popitem(last=False)
            logger.warning(
                "incident %s: field %s could not be read (%s); shown as unknown",
                incident.id,
                problem.path,
                problem.reason,
            )
        return incident

    def written(self, body: dict[str, Any]) -> Incident | None:
        """The incident a write answered with, or None (the caller reads it back) if it cannot be read."""
        try:
            return self.incident(body)
        except UnreadableAnswer as error:
            logger.warning("the incident a write answered with could not be read: %s", error)
            return None


# Both APIs' largest page: one list call covers this many changes.
GRAPH_PAGE = 50
DEFENDER_PAGE = 100


def odata_date(when: datetime) -> str:
    """An OData DateTimeOffset literal (unquoted, UTC): 2026-12-02T10:42:00.123456Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    return {key: str(value) if hasattr(value, "value") else value for key, value in changes.items()}


async def _pages(
    transport: ApiTransport, reader: AnswerReader, url: str, filter: str | None, top: int
) -> AsyncIterator[Incident]:
    """Every readable incident of a listing, following `@odata.nextLink` (both APIs page the same way)."""
    params: dict[str, str] | None = {"$top": str(top)}
    if filter and params is not None:
        params["$filter"] = filter
    next_url: str | None = url
    while next_url:
        body = await transport.call("GET", next_url, params=params, kind="list")
        items = body.get("value")
        for item in items if isinstance(items, list) else []:
            try:
                yield reader.incident(item)
            except UnreadableAnswer as error:
                logger.warning("an incident of a listing could not be read: %s", error)
        next_url = body.get("@odata.nextLink")
        if not isinstance(next_url, str):
            break
        # The next link carries its own query; httpx would replace it with any params given, even {}.
        params = None


class GraphIncidentApi:
    """`/security/incidents` on Microsoft Graph (v1.0 or beta: the base URL says which)."""

    def __init__(self, transport: ApiTransport, base_url: str) -> None:
        self._transport = transport
        self._base = base_url.rstrip("/")
        self._reader = AnswerReader()

    def _url(self, incident_id: str, suffix: str = "") -> str:
        return f"{self._base}/security/incidents/{validate_incident_id(incident_id)}{suffix}"

    async def get_incident(self, incident_id: str, *, expand_alerts: bool = True) -> Incident:
        params = {"$expand": "alerts"} if expand_alerts else None
        body = await self._transport.call("GET", self._url(incident_id), params=params)
        return self._reader.incident(body)

    def list_incidents(self, *, filter: str | None = None, top: int = 50) -> AsyncIterator[Incident]:
        return _pages(self._transport, self._reader, f"{self._base}/security/incidents", filter, top)

    def changed_since(self, since: datetime) -> AsyncIterator[Incident]:
        # Graph filters incidents on lastUpdateDateTime (and six other fields), pages with $top ≤ 50
        # and @odata.nextLink, and takes no $orderby on incidents: the caller sorts.
        return self.list_incidents(filter=f"lastUpdateDateTime ge {odata_date(since)}", top=GRAPH_PAGE)

    async def update_incident(self, incident_id: str, changes: dict[str, Any]) -> Written:
        url = self._url(incident_id)
        answer = await self._transport.send("PATCH", url, json=_checked_changes(changes), write=True)
        body = answer.body
        return Written(self._reader.written(body) if body.get("id") else None, answer.request_id)

    async def add_comment(self, incident_id: str, text: str) -> Written:
        payload = {"@odata.type": "microsoft.graph.security.alertComment", "comment": text}
        url = self._url(incident_id, "/comments")
        answer = await self._transport.send("POST", url, json=payload, write=True, idempotent=False)
        return Written(None, answer.request_id)  # Graph answers with the comments only, not the incident


def _pascal(value: Any) -> Any:
    return value[:1].upper() + value[1:] if isinstance(value, str) else value


# The legacy API knows some determinations by their older names.
_LEGACY_DETERMINATIONS = {
    "compromisedAccount": "CompromisedUser",
    "notMalicious": "Clean",
    "notEnoughDataToValidate": "InsufficientData",
    "confirmedActivity": "ConfirmedUserActivity",
}


def to_legacy_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Graph-named changes → the legacy API's PATCH body (PascalCase values, `tags`)."""
    body: dict[str, Any] = {}
    for key, value in _checked_changes(changes).items():
        if key == "customTags":
            body["tags"] = value
        elif key == "resolvingComment":
            body["comment"] = value
        elif key == "determination":
            name = camel_value(str(value))
            body[key] = _LEGACY_DETERMINATIONS.get(name, _pascal(name))
        elif key in ("status", "classification"):
            body[key] = _pascal(value)
        else:
            body[key] = value
    return body


class DefenderIncidentApi:
    """The legacy Microsoft 365 Defender API, `api.security.microsoft.com/api/incidents`."""

    def __init__(self, transport: ApiTransport, base_url: str) -> None:
        self._transport = transport
        self._base = base_url.rstrip("/")
        self._reader = AnswerReader()

    def _url(self, incident_id: str) -> str:
        return f"{self._base}/api/incidents/{validate_incident_id(incident_id)}"

    async def get_incident(self, incident_id: str, *, expand_alerts: bool = True) -> Incident:
        body = await self._transport.call("GET", self._url(incident_id))
        return self._reader.incident(body)

    def list_incidents(self, *, filter: str | None = None, top: int = 50) -> AsyncIterator[Incident]:
        return _pages(self._transport, self._reader, f"{self._base}/api/incidents", filter, top)

    def changed_since(self, since: datetime) -> AsyncIterator[Incident]:
        # The legacy API's name for it is lastUpdateTime; its pages hold up to 100.
        return self.list_incidents(filter=f"lastUpdateTime ge {odata_date(since)}", top=DEFENDER_PAGE)

    async def update_incident(self, incident_id: str, changes: dict[str, Any]) -> Written:
        answer = await self._transport.send(
            "PATCH", self._url(incident_id), json=to_legacy_changes(changes), write=True
        )
        return _legacy_written(self._reader, answer)

    async def add_comment(self, incident_id: str, text: str) -> Written:
        answer = await self._transport.send(
            "PATCH", self._url(incident_id), json={"comment": text}, write=True, idempotent=False
        )
        return _legacy_written(self._reader, answer)


def _legacy_written(reader: AnswerReader, answer: Answer) -> Written:
    body = answer.body
    incident = reader.written(body) if body.get("incidentId") or body.get("id") else None
    return Written(incident, answer.request_id)
