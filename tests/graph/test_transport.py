"""ApiTransport: error mapping, Retry-After, backoff, retry and deadline bounds, idempotency."""

from __future__ import annotations

import socket
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from bot.errors import (
    ApiError,
    AuthError,
    BadRequest,
    BotError,
    NotFound,
    PermissionDenied,
    Throttled,
    Unavailable,
)
from bot.graph.api import GRAPH_PERMISSIONS
from bot.graph.transport import ApiTransport, RetryPolicy, parse_retry_after
from tests.conftest import ApiStack, SleepRecorder
from tests.fakes import FakeIncidentApi

MakeStack = Callable[..., ApiStack]
ID = "2972395"
UUID_LENGTH = 36


def mock_transport(
    handler: Callable[[httpx.Request], httpx.Response], policy: RetryPolicy
) -> tuple[ApiTransport, SleepRecorder]:
    sleeps = SleepRecorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://graph.test")
    return ApiTransport(http, permissions=GRAPH_PERMISSIONS, policy=policy, sleep=sleeps), sleeps


def graph_error(status: int, code: str, request_id: str = "json-request-id") -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{code} happened", "innerError": {"request-id": request_id}}}


# ---- parse_retry_after ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2", 2.0), (" 1.5 ", 1.5), ("0", 0.0), ("-3", 0.0), ("86400", 120.0), ("", None), (None, None),
     ("soon", None)],
)  # fmt: skip
def test_parse_retry_after_reads_delta_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_reads_an_http_date_against_the_given_clock() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("Mon, 02 Mar 2026 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0.0


# ---- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (400, BadRequest, "BadRequest"),
        (401, AuthError, "InvalidAuthenticationToken"),
        (403, PermissionDenied, "Forbidden"),
        (404, NotFound, "NotFound"),
        (429, Throttled, "TooManyRequests"),
        (500, Unavailable, "InternalServerError"),
        (503, Unavailable, "ServiceUnavailable"),
    ],
)
async def test_each_error_status_maps_to_its_error_and_keeps_the_request_id(
    make_stack: MakeStack, incident_api: FakeIncidentApi, status: int, error_type: type[BotError], code: str
) -> None:
    stack = make_stack(incident_api_retries=0)
    incident_api.fail_next(status, retry_after=4 if status in (429, 503) else None)
    with pytest.raises(error_type) as caught:
        await stack.api.get_incident(ID)
    error = caught.value
    assert isinstance(error, ApiError | AuthError) and type(error) is error_type
    assert error.code == code
    request_id = error.request_id
    assert isinstance(request_id, str) and len(request_id) == UUID_LENGTH
    if isinstance(error, ApiError):
        assert error.status == status
        assert error.retry_after == (4.0 if status in (429, 503) else None)
    assert incident_api.count() == 1


async def test_request_id_comes_from_the_error_json_then_from_headers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/json":
            return httpx.Response(404, json=graph_error(404, "NotFound"), headers={"request-id": "header-id"})
        return httpx.Response(502, text="<html>bad gateway</html>", headers={"x-ms-request-id": "ms-id"})

    transport, _ = mock_transport(handler, RetryPolicy(retries=0))
    with pytest.raises(NotFound) as json_error:
        await transport.call("GET", "/json")
    with pytest.raises(Unavailable) as html_error:
        await transport.call("GET", "/html")
    assert (json_error.value.request_id, json_error.value.message) == ("json-request-id", "NotFound happened")
    assert (html_error.value.request_id, html_error.value.code) == ("ms-id", None)
    assert html_error.value.message == "Bad Gateway"
    await transport.http.aclose()


async def test_a_successful_answer_is_returned_as_a_json_object() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return {
            "/empty": httpx.Response(204),
            "/list": httpx.Response(200, json=[1, 2]),
        }.get(request.url.path, httpx.Response(200, json={"id": "1"}))

    transport, _ = mock_transport(handler, RetryPolicy(retries=0))
    assert await transport.call("DELETE", "/empty") == {}
    assert await transport.call("GET", "/list") == {"value": [1, 2]}
    assert await transport.call("GET", "/one") == {"id": "1"}
    assert transport.requests_sent == 3
    await transport.http.aclose()


# ---- retries ----------------------------------------------------------------------------------


async def test_retry_after_is_obeyed_exactly(make_stack: MakeStack, incident_api: FakeIncidentApi) -> None:
    stack = make_stack(incident_api_retries=3)
    incident_api.fail_next(429, retry_after=2)
    incident_api.fail_next(503, retry_after=3)
    incident = await stack.api.get_incident(ID)
    assert incident.id == ID
    assert stack.sleeps.waits == [2.0, 3.0]
    assert incident_api.count("GET") == 3


async def test_retry_after_as_an_http_date_is_obeyed() -> None:
    answers = iter([429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        return httpx.Response(status, json={"id": "1"}, headers={"Retry-After": when})

    transport, sleeps = mock_transport(handler, RetryPolicy(retries=1, deadline=60))
    assert await transport.call("GET", "/x") == {"id": "1"}
    assert len(sleeps.waits) == 1 and 28.0 <= sleeps.waits[0] <= 30.0
    await transport.http.aclose()


async def test_server_errors_and_connection_resets_are_retried(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(incident_api_retries=3)
    incident_api.fail_next(500, count=2)
    incident_api.reset_connection_next()
    assert (await stack.api.get_incident(ID)).id == ID
    assert incident_api.count("GET") == 4
    caps = [0.5, 1.0, 2.0]  # RetryPolicy's default backoff: 0.5 s doubling, jittered below the cap
    assert len(stack.sleeps.waits) == 3
    assert all(0 <= wait <= cap for wait, cap in zip(stack.sleeps.waits, caps, strict=True))


async def test_backoff_grows_is_jittered_and_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json=graph_error(500, "InternalServerError"))

    policy = RetryPolicy(retries=6, deadline=1000, backoff_base=0.5, backoff_max=3.0)
    transport, sleeps = mock_transport(handler, policy)
    runs: list[list[float]] = []
    for _ in range(40):
        sleeps.waits.clear()
        with pytest.raises(Unavailable):
            await transport.call("GET", "/x")
        runs.append(list(sleeps.waits))
    assert all(len(run) == 6 for run in runs)
    by_attempt = list(zip(*runs, strict=True))
    means = [statistics.mean(waits) for waits in by_attempt]
    assert means[0] < means[1] < means[2] < means[3]  # grows: caps 0.5, 1, 2, 3
    assert len(set(by_attempt[0])) > 30  # jittered: no two runs wait alike
    assert max(max(run) for run in runs) <= 3.0  # bounded by backoff_max
    assert all(wait <= 0.5 for wait in by_attempt[0])
    assert transport.requests_sent == 40 * 7
    await transport.http.aclose()


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_never_retried(
    make_stack: MakeStack, incident_api: FakeIncidentApi, status: int
) -> None:
    stack = make_stack(incident_api_retries=4)
    incident_api.fail_next(status, count=5)
    with pytest.raises(BotError):
        await stack.api.get_incident(ID)
    assert incident_api.count() == 1 and stack.sleeps.waits == []


async def test_retries_stop_at_the_retry_count(make_stack: MakeStack, incident_api: FakeIncidentApi) -> None:
    stack = make_stack(incident_api_retries=2)
    incident_api.fail_next(429, count=10, retry_after=1)
    with pytest.raises(Throttled) as caught:
        await stack.api.get_incident(ID)
    assert caught.value.retry_after == 1.0
    assert incident_api.count() == 3 and stack.sleeps.waits == [1.0, 1.0]


async def test_throttled_is_reraised_when_the_next_wait_would_pass_the_deadline(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(policy=RetryPolicy(retries=5, deadline=5.0))
    incident_api.fail_next(429, count=5, retry_after=10)
    with pytest.raises(Throttled) as caught:
        await stack.api.get_incident(ID)
    assert caught.value.retry_after == 10.0
    assert incident_api.count() == 1 and stack.sleeps.waits == []


# ---- writes that are not idempotent ----------------------------------------------------------


def comment_count(incident_api: FakeIncidentApi) -> int:
    stored = incident_api.get("v1.0", ID)
    assert stored is not None
    return len(stored["comments"])


async def test_a_comment_is_not_retried_after_a_connection_reset(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(incident_api_retries=3)
    await stack.tokens.token()
    incident_api.reset_connection_next()
    with pytest.raises(Unavailable) as caught:
        await stack.api.add_comment(ID, "Isolated the device")
    assert caught.value.status == 0  # sent, no answer: the server may have stored it
    assert incident_api.count("POST") == 1 and stack.sleeps.waits == []


async def test_a_comment_is_not_retried_after_a_500(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(incident_api_retries=3)
    incident_api.fail_next(500, method="POST")
    with pytest.raises(Unavailable):
        await stack.api.add_comment(ID, "Isolated the device")
    assert incident_api.count("POST") == 1


async def test_a_comment_is_retried_after_a_503_and_stored_once(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    stack = make_stack(incident_api_retries=3)
    before = comment_count(incident_api)
    incident_api.fail_next(503, method="POST", retry_after=1)
    assert (await stack.api.add_comment(ID, "Isolated the device")).incident is None
    assert incident_api.count("POST") == 2 and stack.sleeps.waits == [1.0]
    assert comment_count(incident_api) == before + 1


async def test_a_comment_is_retried_when_the_connection_was_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sleeps = SleepRecorder()
    http = httpx.AsyncClient()
    transport = ApiTransport(http, permissions=GRAPH_PERMISSIONS, policy=RetryPolicy(retries=2), sleep=sleeps)
    with pytest.raises(Unavailable) as caught:
        await transport.call(
            "POST", f"http://127.0.0.1:{closed_port}/c", json={"comment": "x"}, write=True, idempotent=False
        )
    assert caught.value.status is None  # nothing reached a server: safe to send again
    assert transport.requests_sent == 3 and len(sleeps.waits) == 2
    await http.aclose()
