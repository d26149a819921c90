"""Operator commands: `incident-bot get <id>` prints one normalised incident as JSON."""

from __future__ import annotations

import json
import sys

from bot.config import Settings
from bot.errors import BotError, InvalidIncidentId
from bot.explain import explain
from bot.models import validate_incident_id
from bot.services import open_services


async def get_command(settings: Settings, raw_id: str) -> int:
    """Print the incident as one JSON object on stdout; one line on stderr on failure."""
    try:
        incident_id = validate_incident_id(raw_id)
        async with open_services(settings) as services:
            snapshot = await services.incidents.get(incident_id)
    except BotError as error:
        print(f"incident-bot: {explain(error, raw_id, settings.azure_tenant_id)}", file=sys.stderr)
        return 2 if isinstance(error, InvalidIncidentId) else 1
    sys.stdout.write(json.dumps(snapshot.incident.to_json_dict(), ensure_ascii=False) + "\n")
    return 0
