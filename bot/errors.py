"""Errors the bot raises, as one documented tree.

BotError
├── ConfigError            a setting is missing or malformed (start-up stops)
│   └── DependencyChanged  an installed dependency lacks what the bot relies on (start-up stops)
├── InvalidIncidentId      the text given is not an incident id; nothing was sent
├── SavedButNotReread      a write succeeded, the read after it failed (carries that error)
├── AuthError              Entra refused the app (AADSTS code and reason), or the API refused its token
└── ApiError               the incident API answered with an error (carries request_id)
    ├── BadRequest         400 / other 4xx the bot cannot fix by retrying
    ├── NotFound           404: no such incident in this tenant
    ├── PermissionDenied   403: names the application permission that is missing
    ├── Throttled          429 after retries: retry_after seconds
    │   └── BudgetExhausted    the bot's own API budget refused the call; nothing was sent
    ├── Unavailable        5xx, timeouts and connection errors after retries
    └── UnreadableAnswer   a success whose body is not the JSON (or the incident) the API documents
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """A setting is missing or malformed; the message names the variable."""


class DependencyChanged(ConfigError):
    """The installed version of a dependency no longer has what the bot relies on; names both."""


class InvalidIncidentId(BotError, ValueError):
    """Text that is not an incident id (digits only, at most 20)."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        super().__init__(f"{shown!r} is not an incident id: use the number, e.g. 2972395")


class SavedButNotReread(BotError):
    """The write reached the API; reading the incident back afterwards failed."""

    def __init__(self, cause: BotError) -> None:
        self.cause = cause
        super().__init__(f"saved, but the incident could not be read back: {cause}")


class AuthError(BotError):
    """Microsoft Entra refused to issue a token."""

    def __init__(
        self,
        reason: str,
        *,
        code: str | None = None,
        error: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.error = error
        self.reason = reason
        self.request_id = request_id
        prefix = f"{code}: " if code and not reason.startswith(code) else ""
        super().__init__(f"{prefix}{reason}")


class ApiError(BotError):
    """The incident API answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status  # None: no HTTP answer at all
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after  # seconds the API asked us to wait, when it said
        super().__init__(message)


class BadRequest(ApiError):
    """The API rejected the request as malformed."""


class NotFound(ApiError):
    """No incident with that id in this tenant."""


class PermissionDenied(ApiError):
    """The app registration lacks the application permission named in `permission`."""

    def __init__(
        self,
        message: str,
        *,
        permission: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.permission = permission
        super().__init__(message, status=status, code=code, request_id=request_id, retry_after=retry_after)


class Throttled(ApiError):
    """The API throttled the app; try again after `retry_after` seconds."""


class BudgetExhausted(Throttled):
    """The shared API budget has no room for this call now; nothing was sent."""


class Unavailable(ApiError):
    """The API is down, too slow, or unreachable."""


class UnreadableAnswer(ApiError):
    """The API answered with success, but with a body that cannot be read as what was asked for.

    Asking again brings the same body back, so it is not retried; the person is told with the id.
    """
