"""Alert links: their unfurls (the alert with its incident, under the conversation's policy) and
`/incident <alert id>` (the card of the alert's incident).

An alert id is checked against its published form before any request (bot.models.alert_ids); a
link whose id is not one is left to Slack. Each distinct alert is read once, then each distinct
incident of those alerts once, through the same services (cache, single-flight, API budget) as
incident links.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.blocks.alert_card import build_alert_card
from bot.blocks.bodies import unfurl_error_body
from bot.blocks.redacted_alert import build_redacted_alert_card
from bot.config.unfurl import Detail
from bot.errors import BotError, InvalidIncidentId
from bot.incidents.alert_links import AlertLink, parse_alert_link
from bot.incidents.explain import explain
from bot.models import IncidentSnapshot, validate_incident_id
from bot.models.alert_ids import AlertDetail
from bot.work.context import Work

logger = logging.getLogger(__name__)


def accepted_alert_links(work: Work, urls: tuple[str, ...]) -> list[AlertLink]:
    """Alert links to this deployment's portal and tenant; others are left to Slack."""
    host = work.settings.portal_host
    tenant = (work.settings.azure_tenant_id or "").lower()
    accepted = []
    for url in urls:
        link = parse_alert_link(url, host)
        if link is None:
            continue
        if tenant and link.tenant_id and link.tenant_id.lower() != tenant:
            logger.info("not unfurling an alert: link is for another tenant")
            continue
        accepted.append(link)
    return accepted


def incident_of(alert: AlertDetail) -> str | None:
    """The alert's incident id, when it names a valid one."""
    try:
        return validate_incident_id(alert.incident_id) if alert.incident_id else None
    except InvalidIncidentId:
        return None


async def alerts_with_incidents(
    work: Work, alert_ids: list[str]
) -> tuple[dict[str, AlertDetail | BaseException], dict[str, IncidentSnapshot]]:
    """Each alert (or why not), and the incidents of those read (those that could be read)."""
    results = await asyncio.gather(*(work.alerts.get(i) for i in alert_ids), return_exceptions=True)
    alerts: dict[str, AlertDetail | BaseException] = dict(zip(alert_ids, results, strict=True))
    incident_ids = list(
        dict.fromkeys(i for a in alerts.values() if isinstance(a, AlertDetail) and (i := incident_of(a)))
    )
    found = await asyncio.gather(*(work.incidents.get(i) for i in incident_ids), return_exceptions=True)
    incidents = {i: s for i, s in zip(incident_ids, found, strict=True) if isinstance(s, IncidentSnapshot)}
    return alerts, incidents


async def alert_unfurls(work: Work, links: list[AlertLink], *, detail: Detail) -> dict[str, Any]:
    """chat.unfurl's `unfurls` entries of the alert links, full or redacted as `detail` says."""
    if not links:
        return {}
    ids = list(dict.fromkeys(link.alert_id for link in links))
    alerts, incidents = await alerts_with_incidents(work, ids)
    unfurls: dict[str, Any] = {}
    for link in links:
        alert = alerts[link.alert_id]
        if isinstance(alert, AlertDetail):
            incident_id = incident_of(alert)
            incident = incidents.get(incident_id) if incident_id else None
            ctx = work.card_context(unfurl_url=link.url, detail=detail)
            blocks = (
                build_redacted_alert_card(alert, incident, ctx, show_title=ctx.show_title)
                if ctx.redacted
                else build_alert_card(alert, incident, ctx)
            )
            unfurls[link.url] = {"blocks": blocks}
        elif isinstance(alert, BotError):
            text = explain(alert, link.alert_id, work.settings.azure_tenant_id, kind="alert")
            unfurls[link.url] = unfurl_error_body(text)
        else:
            logger.error("unfurl of alert %s failed", link.alert_id, exc_info=alert)
            unfurls[link.url] = unfurl_error_body(f"Alert {link.alert_id} could not be shown.")
    return unfurls
