"""Building Settings at start: every missing or malformed setting is named in one message, no traceback.

`inspect_settings` never fails: it returns Settings with each malformed value replaced by its default,
plus the list of problems, so `doctor` can show its whole table for an incomplete configuration.
`load_settings` raises ConfigError listing all the problems at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.config.settings import Settings
from bot.errors import ConfigError

_BOT_TOKEN = "required to run the bot: the Bot User OAuth Token xoxb-… (OAuth & Permissions)"
_MODE = (
    "set SLACK_APP_TOKEN (xapp-…, Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode: Basic Information → "
    "Signing Secret)"
)
_DEMO_HINT = " (or start with --demo / INCIDENT_SOURCE=demo for sample data)"


@dataclass(frozen=True)
class SettingProblem:
    """One setting that is missing or malformed, and what is expected instead."""

    variable: str  # e.g. "CACHE_URL", or "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET"
    expected: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.expected}"


def _field_problems(error: ValidationError) -> tuple[list[SettingProblem], set[str]]:
    problems, fields = [], set()
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        fields.add(field)
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(SettingProblem(field.upper() or "settings", message))
    return problems, fields


def _requirements(settings: Settings, malformed: set[str], *, needs_slack: bool) -> list[SettingProblem]:
    """Settings that must be given together; a malformed one is reported once, as malformed."""
    problems = []
    if needs_slack:
        if settings.slack_bot_token is None and "slack_bot_token" not in malformed:
            problems.append(SettingProblem("SLACK_BOT_TOKEN", _BOT_TOKEN))
        given = {"slack_app_token", "slack_signing_secret"} & malformed
        if settings.slack_app_token is None and settings.slack_signing_secret is None and not given:
            problems.append(SettingProblem("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET", _MODE))
    if settings.incident_source != "demo":
        for name, expected in (
            ("azure_tenant_id", "the Directory (tenant) ID of the app registration, a GUID"),
            ("azure_client_id", "the Application (client) ID of the app registration, a GUID"),
        ):
            if getattr(settings, name) is None and name not in malformed:
                problems.append(SettingProblem(name.upper(), "required: " + expected + _DEMO_HINT))
        credential = {"azure_client_secret", "azure_client_certificate_path"}
        has_credential = settings.azure_client_secret or settings.azure_client_certificate_path
        if not has_credential and not credential & malformed:
            problems.append(
                SettingProblem(
                    "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
                    "required: a client secret, or a PEM file with the certificate and its key" + _DEMO_HINT,
                )
            )
    return problems


def inspect_settings(needs_slack: bool = False, /, **overrides: Any) -> tuple[Settings, list[SettingProblem]]:
    """Settings from the environment (and overrides), malformed values set to their defaults, and
    every problem found."""
    problems: list[SettingProblem] = []
    malformed: set[str] = set()
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        problems, malformed = _field_problems(error)
        defaults = {
            name: Settings.model_fields[name].get_default(call_default_factory=True)
            for name in malformed
            if name in Settings.model_fields
        }
        settings = Settings(**{**overrides, **defaults})
    return settings, [*problems, *_requirements(settings, malformed, needs_slack=needs_slack)]


def describe(problems: list[SettingProblem]) -> str:
    """One message: a single line for one problem, a list for several."""
    if len(problems) == 1:
        return f"invalid settings: {problems[0]}"
    return f"invalid settings ({len(problems)}):\n" + "\n".join(f"  - {problem}" for problem in problems)


def load_settings(needs_slack: bool = False, /, **overrides: Any) -> Settings:
    """Settings, or ConfigError naming every missing or malformed setting and what it should be.

    `needs_slack`: the Slack tokens are required too (running the bot, not `get` or `card`).
    """
    settings, problems = inspect_settings(needs_slack, **overrides)
    if problems:
        raise ConfigError(describe(problems))
    return settings
