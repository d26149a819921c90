"""Checks of single setting values: each returns the value to keep or raises ValueError saying what is
expected, with an example of the right form for that setting (pydantic names the variable)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

# The keys of INCIDENT_API_BUDGET: per kind of call (get an incident, list incidents, update one),
# per window. bot.state.budget.BudgetLimits has one field per key (a test keeps them equal).
BUDGET_KEYS = tuple(
    f"{kind}_per_{window}" for kind in ("get", "list", "update") for window in ("minute", "hour")
)
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A tenant as Entra names one: its directory GUID, or one of its domains (contoso.onmicrosoft.com).
TENANT = re.compile(rf"{GUID.pattern}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_TOKEN_PREFIXES = {
    "slack_bot_token": (
        ("xoxb-", "xoxe.xoxb-"),
        "a bot token xoxb-… (OAuth & Permissions → Bot User OAuth Token)",
    ),
    "slack_app_token": (("xapp-",), "an app-level token xapp-… (Basic Information → App-Level Tokens)"),
}


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(value: str | None, *, example: str) -> str | None:
    """An https URL without a trailing slash (http only to this machine, for local fakes)."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    loopback_http = parts.scheme == "http" and is_loopback(parts.hostname)
    if not parts.hostname or (parts.scheme != "https" and not loopback_http):
        raise ValueError(f"must be an https:// URL, e.g. {example}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not carry a query or fragment, e.g. {example}")
    return value.strip().rstrip("/")


def checked_token(value: SecretStr | None, field: str) -> SecretStr | None:
    """A Slack token with the prefix of its kind (the value itself never goes into the message)."""
    prefixes, expected = _TOKEN_PREFIXES[field]
    if value is not None and not value.get_secret_value().startswith(prefixes):
        raise ValueError(f"must be {expected}")
    return value


def checked_cache_url(value: str) -> str:
    """memory://, or a Redis URL whose port and database number are numbers."""
    example = "memory://, or redis://[:password@]host:6379/0 (rediss:// for TLS)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"the port must be a number: {example}") from None
    if parts.scheme == "memory":
        return value
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"must be {example}")
    if not parts.hostname:
        raise ValueError(f"names no host: {example}")
    if port == 0:
        raise ValueError(f"the port must be 1–65535: {example}")
    databases = [parts.path.strip("/")] if parts.path.strip("/") else []
    databases += parse_qs(parts.query).get("db", [])
    for database in databases:
        if not database.isdigit():
            raise ValueError(f"the database must be a number (the /0 at the end), e.g. {example}")
    return value


def checked_host(value: str) -> str:
    """An IP address or a host name; dotted digits must be a real IPv4 address (999.1.1.1 is not)."""
    expected = "must be an IP address of this machine (0.0.0.0, 127.0.0.1, ::) or a host name"
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value.strip("[]")
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if not value or not all(_HOST_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(expected)
    return value


def checked_budget(value: Any) -> dict[str, int]:
    """INCIDENT_API_BUDGET: a JSON object of known keys, each a whole number ≥ 1."""
    example = 'e.g. {"get_per_minute": 60, "list_per_hour": 600}'
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"must be a JSON object, {example} ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object, {example}")
    unknown = sorted(str(key) for key in value if key not in BUDGET_KEYS)
    if unknown:
        raise ValueError(
            f"unknown key {', '.join(map(repr, unknown))}: the keys are {', '.join(BUDGET_KEYS)}"
        )
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"{key} must be a whole number of requests ≥ 1, not {number!r}")
    return {str(key): int(number) for key, number in value.items()}
