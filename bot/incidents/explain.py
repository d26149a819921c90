"""Known errors in words, for analysts in Slack and operators on the command line."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from bot.errors import (
    ApiError,
    AuthError,
    BotError,
    InvalidIncidentId,
    NotFound,
    PermissionDenied,
    Throttled,
    Unavailable,
    UnreadableAnswer,
)


def _request_id(error: BotError) -> str:
    request_id = getattr(error, "request_id", None)
    return f" (request-id {request_id})" if request_id else ""


def retry_hint(retry_after: float | None, now: datetime | None = None) -> str:
    """'; try again in 30 s (at 10:42 UTC)' or '' when the API did not say."""
    if retry_after is None:
        return ""
    seconds = max(1, math.ceil(retry_after))  # never "try again in 0 s"
    at = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    return f"; try again in {seconds} s (at {at:%H:%M:%S} UTC)"


def wait_note(seconds: float) -> str:
    """'The incident API asks us to wait 8 s; the card follows.' (never '0 s')."""
    return f"The incident API asks us to wait {max(1, math.ceil(seconds))} s; the card follows."


def explain(
    error: BotError, incident_id: str | None = None, tenant_id: str | None = None, *, kind: str = "incident"
) -> str:
    """One sentence saying what went wrong and what to do; never a token or a secret. `kind`
    "alert" speaks of an alert (then `incident_id` is the alert's id)."""
    which = f"{kind.capitalize()} {incident_id}" if incident_id else f"The {kind}"
    tenant = f" in tenant {tenant_id}" if tenant_id else ""
    if isinstance(error, InvalidIncidentId):
        return str(error)
    if isinstance(error, NotFound):
        return f"{which} was not found{tenant}{_request_id(error)}"
    if isinstance(error, PermissionDenied):
        return (
            f"The bot's app registration lacks the {error.permission} application permission "
            f"(with admin consent){_request_id(error)}"
        )
    if isinstance(error, Throttled):
        hint = retry_hint(error.retry_after)
        return f"Microsoft's incident API is throttling the bot{hint}{_request_id(error)}"
    if isinstance(error, Unavailable):
        return f"Microsoft's incident API is unavailable right now: {error.message}{_request_id(error)}"
    if isinstance(error, UnreadableAnswer):
        about = f"{kind} {incident_id}" if incident_id else f"the {kind}"
        return (
            f"Microsoft's incident API sent an answer about {about} that the bot cannot read "
            f"({error.message}){_request_id(error)}; open it in the Defender portal"
        )
    if isinstance(error, AuthError):
        return f"Authentication with Microsoft Entra failed: {error}"
    if isinstance(error, ApiError):
        return f"Microsoft's incident API refused the request: {error.message}{_request_id(error)}"
    return str(error)
