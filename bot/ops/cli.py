"""Operator commands: `incident-bot get` prints one normalised incident as JSON, and
`incident-bot card` the Block Kit body the bot would send for it, so a card can be checked
without a Slack workspace; `incident-bot migrate` brings the database's schema up to this release."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.blocks.bodies import (
    Surface,
    block_kit_builder_url,
    card_context_for,
    ephemeral_card_body,
    message_card_body,
    unfurl_body,
)
from bot.blocks.incident import incident_url
from bot.config.load import SettingProblem, describe
from bot.config.settings import Settings
from bot.errors import BotError, ConfigError, InvalidIncidentId
from bot.incidents.explain import explain
from bot.incidents.links import parse_command_text, parse_incident_link
from bot.models import IncidentSnapshot
from bot.services import card_seal, open_services

# What `migrate` reads; a problem with any other setting (Slack, Entra) is not its business.
_MIGRATE_SETTINGS = ("DATABASE_URL", "CACHE_URL", "LOG_LEVEL", "LOG_FORMAT")
PREVIEW_WARNING = (
    "this link contains the incident's data: opening it hands the card to Slack's "
    "Block Kit Builder page, which reads it in your browser"
)


class _Failed(Exception):
    """Already told on stderr; the command ends with `code`."""

    def __init__(self, code: int) -> None:
        self.code = code


@dataclass(frozen=True)
class _Found:
    snapshot: IncidentSnapshot
    sample_data: bool


def _say(text: str) -> None:
    print(f"incident-bot: {text}", file=sys.stderr)


def _incident_id(settings: Settings, raw: str) -> str:
    """The id in `2972395`, `#2972395` or a portal link, parsed as `/incident` parses it."""
    try:
        return parse_command_text(raw, settings.portal_host)
    except InvalidIncidentId as error:
        # a link of another host (a lookalike, or another cloud's portal) gets the same answer as
        # any bad id, plus the form this deployment accepts
        _say(f"{error}, or a link like https://{settings.portal_host}/incidents/2972395")
        raise _Failed(2) from None


async def _fetch(settings: Settings, incident_id: str) -> _Found:
    try:
        async with open_services(settings) as services:
            snapshot = await services.incidents.get(incident_id)
            sample_data = services.demo
    except BotError as error:
        _say(explain(error, incident_id, settings.azure_tenant_id))
        raise _Failed(2 if isinstance(error, InvalidIncidentId) else 1) from None
    shown = snapshot.incident.id
    if snapshot.merged_from:
        # stdout stays pure JSON for pipes; the person at the terminal still learns of the redirect
        _say(f"incident {incident_id} was merged into {shown}; showing {shown}")
    return _Found(snapshot, sample_data)


def _write_json(value: Any, *, indent: int | None = None) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


async def get_command(settings: Settings, raw: str) -> int:
    """Print the incident as one JSON object on stdout; one line on stderr on failure."""
    try:
        found = await _fetch(settings, _incident_id(settings, raw))
    except _Failed as failed:
        return failed.code
    _write_json(found.snapshot.incident.to_json_dict())
    return 0


def _unfurl_url(settings: Settings, raw: str, incident_id: str) -> str:
    """The link as pasted, as the bot keys `unfurls` by it; for an id, the link the bot builds."""
    link = parse_incident_link(raw.strip(), settings.portal_host)
    if link is None:
        return incident_url(settings.portal_url, incident_id, settings.azure_tenant_id)
    tenant = (settings.azure_tenant_id or "").lower()
    if tenant and link.tenant_id and link.tenant_id.lower() != tenant:
        # as bot/work/reading.py does: such links are left to Slack, so there is no card to show
        _say("the bot does not unfurl this link: its ?tid= names another tenant")
        raise _Failed(2)
    return link.url


def _card_body(found: _Found, settings: Settings, surface: Surface, unfurl_url: str | None) -> dict[str, Any]:
    """What the bot sends for this card on `surface`; the message has no "Shared by" line."""
    snapshot = found.snapshot
    ctx = card_context_for(
        settings,
        card_seal(settings),
        sample_data=found.sample_data,
        now=datetime.now(UTC),
        unfurl_url=unfurl_url if surface == "unfurl" else None,
        shareable=surface == "ephemeral",
    )
    if surface == "ephemeral":
        return ephemeral_card_body(snapshot, ctx)
    if surface == "message":
        return message_card_body(snapshot, ctx)
    assert unfurl_url is not None
    return {unfurl_url: unfurl_body(snapshot, ctx)}


def _blocks(body: dict[str, Any], surface: Surface) -> list[dict[str, Any]]:
    if surface == "unfurl":
        (entry,) = body.values()
        return list(entry["blocks"])
    return list(body["blocks"])


async def card_command(settings: Settings, raw: str, surface: Surface, preview_url: bool = False) -> int:
    """Print the card's JSON body for `surface`, or with `preview_url` a Block Kit Builder link."""
    try:
        incident_id = _incident_id(settings, raw)
        url = _unfurl_url(settings, raw, incident_id) if surface == "unfurl" else None
        found = await _fetch(settings, incident_id)
    except _Failed as failed:
        return failed.code
    body = _card_body(found, settings, surface, url)
    if preview_url:
        _say(PREVIEW_WARNING)
        sys.stdout.write(block_kit_builder_url(_blocks(body, surface)) + "\n")
    else:
        _write_json(body, indent=2)
    return 0


def _database_failure(error: Exception, database_url: str) -> str:
    """The first line of what the driver said, without SQLAlchemy's wrapping or the password."""
    from sqlalchemy.exc import DBAPIError

    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines else type(cause).__name__
    try:
        password = urlsplit(database_url).password
    except ValueError:
        password = None
    return reason.replace(password, "***") if password else reason


async def migrate_command(settings: Settings, problems: Sequence[SettingProblem]) -> int:
    """Upgrade the schema at DATABASE_URL to head and say so in one line; exit 1 when the database
    cannot be reached or migrated, 2 when its settings are wrong."""
    if settings.log_level != "DEBUG":
        # before Alembic is imported, as it logs its plugins then; the line printed below says the rest
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # imported here: `get` and `card` need no database, and SQLAlchemy and Alembic take a while to load
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from bot.state.database import Database, check_database, shown_url

    wrong = [problem for problem in problems if problem.variable in _MIGRATE_SETTINGS]
    try:
        if wrong:
            raise ConfigError(describe(wrong))
        check_database(settings.database_url, settings.cache_url)
    except ConfigError as error:
        _say(str(error))
        return 2
    shown = shown_url(settings.database_url)
    try:
        database = Database.open(settings.database_url)
        try:
            before, after = await database.migrate()
        finally:
            await database.close()
    except (OSError, SQLAlchemyError, CommandError) as error:
        _say(f"database {shown}: cannot migrate: {_database_failure(error, settings.database_url)}")
        return 1
    sys.stdout.write(f"database {shown}: schema at {after} (was {before or 'none'})\n")
    return 0
