"""`doctor`'s table: one row per check, printed without secrets."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit, urlunsplit

from bot.config.settings import Settings

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"


@dataclass(frozen=True)
class Check:
    """One row of the table."""

    name: str
    result: str  # OK, FAIL or SKIP
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.result != FAIL


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}{port}"))


def render_table(checks: list[Check], widths: tuple[int, ...] = (14, 6, 50, 60)) -> str:
    """A plain-text table (check, result, detail, fix); long cells wrap inside their column."""
    rows = [("CHECK", "RESULT", "DETAIL", "FIX")] + [(c.name, c.result, c.detail, c.fix) for c in checks]
    lines: list[str] = []
    for index, row in enumerate(rows):
        cells = [
            textwrap.wrap(t, w, break_on_hyphens=False) or [""] for t, w in zip(row, widths, strict=True)
        ]
        for n in range(max(map(len, cells))):
            parts = [(c[n] if n < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)]
            lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def secrets_of(settings: Settings) -> list[str]:
    found = (settings.azure_client_secret, settings.azure_client_certificate_password,
             settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret,
             settings.slack_config_token)  # fmt: skip
    values = [secret.get_secret_value() for secret in found if secret is not None]
    password = urlsplit(settings.cache_url).password
    values += [password, unquote(password)] if password else []
    return sorted((value for value in values if len(value) >= 4), key=len, reverse=True)


def scrub(check: Check, secrets: list[str]) -> Check:
    detail, fix = check.detail, check.fix
    for secret in secrets:
        detail, fix = detail.replace(secret, "***"), fix.replace(secret, "***")
    return replace(check, detail=detail, fix=fix)
