"""One alert by its id, from Microsoft Graph (`GET /security/alerts_v2/{id}`) or the legacy Defender
for Endpoint API (`GET /api/alerts/{id}`), over the same `ApiTransport` as incidents.

The id is checked (`validate_alert_id`) before anything is sent. Reading an alert needs its own
application permission, not the incident one: Graph's SecurityAlert.Read.All, the legacy API's
Alert.Read.All ("Read all alerts"). A 403 names that permission whichever `Permissions` the shared
transport was built with.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Protocol

from bot.errors import PermissionDenied
from bot.graph.transport import ApiTransport, Permissions
from bot.models.alert_ids import AlertDetail, read_alert, validate_alert_id

logger = logging.getLogger(__name__)

GRAPH_ALERT_PERMISSIONS = Permissions(read="SecurityAlert.Read.All", write="SecurityAlert.ReadWrite.All")
DEFENDER_ALERT_PERMISSIONS = Permissions(read="Alert.Read.All", write="Alert.ReadWrite.All")


class AlertApi(Protocol):
    """Read one alert; both backends implement it."""

    async def get_alert(self, alert_id: str) -> AlertDetail: ...


class _AlertReader:
    """Reads alerts out of answers, logging each field that could not be read once per alert."""

    REMEMBERED = 2048

    def __init__(self) -> None:
        self.logged: OrderedDict[tuple[str, str], None] = OrderedDict()

    def alert(self, body: dict[str, Any]) -> AlertDetail:
        alert = read_alert(body)
        for name in alert.unreadable_fields:
            key = (alert.id, name)
            if key in self.logged:
                self.logged.move_to_end(key)
                continue
            self.logged[key] = None
            if len(self.logged) > self.REMEMBERED:
                self.logged.popitem(last=False)
            logger.warning("alert %s: field %s could not be read; shown as unknown", alert.id, name)
        return alert


async def _get(transport: ApiTransport, url: str, permissions: Permissions) -> dict[str, Any]:
    try:
        return await transport.call("GET", url, kind="get")
    except PermissionDenied as error:
        if error.permission == permissions.read:
            raise
        raise PermissionDenied(
            error.message.replace(error.permission, permissions.read),
            permission=permissions.read,
            status=error.status,
            code=error.code,
            request_id=error.request_id,
            retry_after=error.retry_after,
        ) from error


class GraphAlertApi:
    """`/security/alerts_v2` on Microsoft Graph (v1.0 or beta: the base URL says which)."""

    def __init__(self, transport: ApiTransport, base_url: str) -> None:
        self._transport = transport
        self._base = base_url.rstrip("/")
        self._reader = _AlertReader()

    def url(self, alert_id: str) -> str:
        """The alert's API URL; InvalidAlertId (nothing sent) for anything but an alert id."""
        return f"{self._base}/security/alerts_v2/{validate_alert_id(alert_id)}"

    async def get_alert(self, alert_id: str) -> AlertDetail:
        body = await _get(self._transport, self.url(alert_id), GRAPH_ALERT_PERMISSIONS)
        return self._reader.alert(body)


class DefenderAlertApi:
    """The legacy Defender for Endpoint alert API, `api.security.microsoft.com/api/alerts/{id}`; its
    field names (alertCreationTime, firstEventTime, lastEventTime, aadTenantId, entityType evidence…)
    are read as Graph v1.0's."""

    def __init__(self, transport: ApiTransport, base_url: str) -> None:
        self._transport = transport
        self._base = base_url.rstrip("/")
        self._reader = _AlertReader()

    def url(self, alert_id: str) -> str:
        """The alert's API URL; InvalidAlertId (nothing sent) for anything but an alert id."""
        return f"{self._base}/api/alerts/{validate_alert_id(alert_id)}"

    async def get_alert(self, alert_id: str) -> AlertDetail:
        body = await _get(self._transport, self.url(alert_id), DEFENDER_ALERT_PERMISSIONS)
        return self._reader.alert(body)
