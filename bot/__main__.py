"""Entry point: `incident-bot` (the Slack bot) and its operator commands."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import load_settings
from bot.errors import ConfigError
from bot.logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-bot", description="Slack bot for Microsoft 365 Defender incidents."
    )
    parser.add_argument("--demo", action="store_true", help="use built-in sample incidents")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the Slack bot (the default)")
    get = commands.add_parser("get", help="print one incident as JSON")
    get.add_argument("incident_id", help="numeric incident id, e.g. 2972395")
    commands.add_parser("doctor", help="check settings, Entra, the incident API, Slack and the cache")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, build Settings once, and run the command."""
    args = _parser().parse_args(argv)
    overrides = {"incident_source": "demo"} if args.demo else {}
    try:
        settings = load_settings(**overrides)
    except ConfigError as error:
        print(f"incident-bot: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "get":
        from bot.cli import get_command

        return asyncio.run(get_command(settings, args.incident_id))
    if args.command == "doctor":
        from bot.doctor import doctor_command

        return asyncio.run(doctor_command(settings))
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
