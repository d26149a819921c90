"""Entry point: `incident-bot` (the Slack bot) and its operator commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot import __version__
from bot.blocks.bodies import SURFACES
from bot.config.load import inspect_settings, load_settings
from bot.errors import ConfigError
from bot.logs import configure_logging

DEMO_HELP = "use built-in sample incidents"
INCIDENT_HELP = "incident id (2972395 or #2972395) or its Defender portal link"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-bot", description="Slack bot for Microsoft 365 Defender incidents."
    )
    parser.add_argument("--version", action="version", version=f"incident-bot {__version__}")
    parser.add_argument("--demo", action="store_true", help=DEMO_HELP)
    # --demo after the subcommand too; SUPPRESS keeps a subcommand without it from resetting a
    # --demo given before the subcommand to False
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help=DEMO_HELP)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", parents=[shared], help="run the Slack bot (the default)")
    get = commands.add_parser("get", parents=[shared], help="print one incident as JSON")
    get.add_argument("incident", help=INCIDENT_HELP)
    card = commands.add_parser(
        "card", parents=[shared], help="print the Block Kit JSON the bot would send for an incident"
    )
    card.add_argument("incident", help=INCIDENT_HELP)
    card.add_argument(
        "--surface",
        choices=SURFACES,
        default="ephemeral",
        help="the /incident answer (ephemeral, the default), the shared message, or a link unfurl",
    )
    card.add_argument(
        "--preview-url",
        action="store_true",
        help="print a Block Kit Builder link instead (it carries the incident's data)",
    )
    commands.add_parser(
        "doctor", parents=[shared], help="check settings, Entra, the incident API, Slack and the cache"
    )
    commands.add_parser(
        "migrate", help="create or upgrade the database at DATABASE_URL to this release's schema"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, build Settings once, and run the command."""
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {"incident_source": "demo"} if args.demo else {}
    if args.command == "doctor":
        # doctor shows its whole table for an incomplete configuration, marking what is missing
        from bot.ops.doctor import doctor_command

        settings, problems = inspect_settings(True, **overrides)
        configure_logging(settings.log_level, settings.log_format)
        return asyncio.run(doctor_command(settings, problems))
    if args.command == "migrate":
        # only the database's settings matter here, not the Slack or Entra ones
        from bot.ops.cli import migrate_command

        settings, problems = inspect_settings(False, **overrides)
        configure_logging(settings.log_level, settings.log_format)
        return asyncio.run(migrate_command(settings, problems))
    try:
        # Running the bot needs the Slack settings too; `get` and `card` do not.
        settings = load_settings(args.command in (None, "run"), **overrides)
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "get":
        from bot.ops.cli import get_command

        return asyncio.run(get_command(settings, args.incident))
    if args.command == "card":
        from bot.ops.cli import card_command

        return asyncio.run(card_command(settings, args.incident, args.surface, args.preview_url))
    from bot.server import run

    try:
        return asyncio.run(run(settings))
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
