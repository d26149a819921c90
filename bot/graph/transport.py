"""One place that sends API requests: retries, Retry-After, deadline, and error mapping.

Retried: 429, 503 and 504 after their Retry-After (or backoff), other 5xx, timeouts and
connection errors with exponential backoff and jitter, bounded by a retry count and a total
deadline. Never retried: other 4xx. A request that is not idempotent (adding a comment) is
retried only when the server cannot have acted on it: 429/503, or a failed connect.

With a shared budget, a 429 pauses the budget for its Retry-After, and a read of one incident ("get")
is not retried after it here: it raises MustWait at once, the same as a get the paused budget refuses,
and its caller (the incident service) answers from its cache or waits the pause out within `policy`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity import stop_before_delay as stop_before_deadline
from tenacity import wait_random_exponential as backoff_with_jitter

from bot.errors import (
    ApiError,
    AuthError,
    BadRequest,
    BudgetExhausted,
    NotFound,
    PermissionDenied,
    Throttled,
    Unavailable,
    UnreadableAnswer,
)
from bot.state.budget import ApiBudget, OperationKind

logger = logging.getLogger(__name__)

_MAX_RETRY_AFTER = 120.0

_RETRY_AFTER_STATUSES = frozenset({429, 503, 504})
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Answer:
    """A successful answer: its decoded JSON body and the request-id the API gave it (audit lines)."""

    body: dict[str, Any]
    request_id: str | None


@dataclass(frozen=True)
class Permissions:
    """Application permissions the API wants, named in PermissionDenied."""

    read: str
    write: str


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    deadline: float = 20.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    # Kinds whose 429 raises MustWait instead of being slept out, when a shared budget holds the pause.
    hand_back: frozenset[OperationKind] = frozenset({"get"})

    def allows(self, attempts: int, elapsed: float, wait: float) -> bool:
        """Whether another attempt, `wait` seconds from now, stays within the retries and the deadline
        after `attempts` attempts over `elapsed` seconds (the transport's own stop rule)."""
        return attempts <= self.retries and elapsed + wait < self.deadline


class MustWait(Throttled):
    """A get met a 429 and was not retried: the shared budget now refuses every call for
    `retry_after` seconds. The caller answers from a cache, or waits and asks again while
    `policy.allows` it."""

    def __init__(self, error: ApiError, *, retry_after: float, policy: RetryPolicy) -> None:
        super().__init__(
            error.message,
            status=error.status,
            code=error.code,
            request_id=error.request_id,
            retry_after=retry_after,
        )
        self.policy = policy


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), capped; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _error_parts(response: httpx.Response) -> tuple[str | None, str, str | None]:
    """(code, message, request-id) from Graph's error JSON, falling back to headers."""
    code: str | None = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    request_id = response.headers.get("request-id") or response.headers.get("x-ms-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "") or None
        message = str(error.get("message") or message)
        inner = error.get("innerError") or error.get("innererror") or {}
        if isinstance(inner, dict) and inner.get("request-id"):
            request_id = str(inner["request-id"])
    return code, message, request_id


def error_for(response: httpx.Response, *, write: bool, permissions: Permissions) -> ApiError | AuthError:
    """Map an error response to the exception tree."""
    code, message, request_id = _error_parts(response)
    status = response.status_code
    fields: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if status == 401:
        return AuthError(
            f"the API refused the bot's token ({code or 'Unauthorized'}): {message}",
            code=code,
            request_id=request_id,
        )
    if status == 403:
        needed = permissions.write if write else permissions.read
        return PermissionDenied(
            f"the app lacks the {needed} application permission (with admin consent): {message}",
            permission=needed,
            **fields,
        )
    if status == 404:
        return NotFound(message, **fields)
    fields["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        return Throttled(message, **fields)
    if status >= 500:
        return Unavailable(message, **fields)
    return BadRequest(message, **fields)


class ApiTransport:
    """Sends one logical API call, with retries, and returns its JSON or raises the mapped error."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        permissions: Permissions,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        budget: ApiBudget | None = None,
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.http = http
        self._permissions = permissions
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._budget = budget
        # observe(endpoint, status, seconds) after every request sent (metrics)
        self._observe = observe
        self.requests_sent = 0

    async def call(self, method: str, url: str, **options: Any) -> dict[str, Any]:
        """`send`, for callers that need only the decoded JSON body."""
        return (await self.send(method, url, **options)).body

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        write: bool = False,
        idempotent: bool = True,
        kind: OperationKind | None = None,
    ) -> Answer:
        """Send the request, retrying what may be retried; the decoded JSON body and its request-id.

        `kind` is what the API budget counts ("get", "list", "update"); writes default to "update".
        """
        kind = kind or ("update" if write else "get")

        def retryable(error: BaseException) -> bool:
            if isinstance(error, BudgetExhausted | MustWait):
                return False  # the (shared) budget holds the wait: answer now (a stale card, or "retry at …")
            if isinstance(error, Throttled):
                return True
            if isinstance(error, Unavailable):
                # status None: the connection failed before anything was sent
                return idempotent or error.status is None or error.status in _NOT_PROCESSED_STATUSES
            return False

        policy = self._policy
        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=self._wait,
            stop=stop_after_attempt(policy.retries + 1) | stop_before_deadline(policy.deadline),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(method, url, params, json, write, kind)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _observed(self, kind: str, status: str, started: float) -> None:
        if self._observe is not None:
            self._observe(kind, status, time.perf_counter() - started)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if (
            isinstance(error, ApiError)
            and error.retry_after is not None
            and error.status in _RETRY_AFTER_STATUSES
        ):
            return error.retry_after
        backoff = backoff_with_jitter(multiplier=self._policy.backoff_base, max=self._policy.backoff_max)
        return float(backoff(state))

    async def _send_once(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        json: dict[str, Any] | None,
        write: bool,
        kind: OperationKind,
    ) -> Answer:
        if self._budget is not None:
            wait = await self._budget.take(kind)
            if wait > 0:
                raise BudgetExhausted(
                    f"the bot's {kind} budget for the incident API is spent", retry_after=wait
                )
        self.requests_sent += 1
        started = time.perf_counter()
        try:
            response = await self.http.request(method, url, params=params, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._observed(kind, "unreachable", started)
            # Nothing reached the server: safe to retry even a non-idempotent call.
            raise Unavailable(f"incident API unreachable ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            self._observed(kind, "no-answer", started)
            # The request may have reached the server; status 0 marks "sent, no answer".
            code = "Timeout" if isinstance(exc, httpx.TimeoutException) else "NoAnswer"
            raise Unavailable(
                f"incident API did not answer ({type(exc).__name__})", status=0, code=code
            ) from None
        self._observed(kind, str(response.status_code), started)
        paused: float | None = None
        if response.status_code == 429 and self._budget is not None:
            # Every replica holds back until the API's Retry-After has passed.
            paused = parse_retry_after(response.headers.get("Retry-After"))
            paused = 60.0 if paused is None else paused
            await self._budget.pause(paused)
        if response.is_success:
            request_id = response.headers.get("request-id") or response.headers.get("x-ms-request-id")
            if not response.content:
                return Answer({}, request_id)
            try:
                body = response.json()
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the decoder
                if write:  # the write was done: the caller reads the incident back instead
                    logger.warning("incident API %s %s: unreadable success body", method, response.url.path)
                    return Answer({}, request_id)
                raise UnreadableAnswer(
                    "the answer is not JSON", status=response.status_code, request_id=request_id
                ) from None
            return Answer(body if isinstance(body, dict) else {"value": body}, request_id)
        error = error_for(response, write=write, permissions=self._permissions)
        logger.info(
            "incident API %s %s -> %s (request-id %s)",
            method,
            response.url.path,
            response.status_code,
            getattr(error, "request_id", None),
        )
        if paused is not None and isinstance(error, ApiError) and kind in self._policy.hand_back:
            raise MustWait(error, retry_after=paused, policy=self._policy) from error
        raise error
