"""A fake incident service: Microsoft Graph security (v1.0 and beta) and the legacy Defender API.

One plain-http aiohttp server on 127.0.0.1 serves all three flavours, so a test can point the
bot at whichever API it is configured for and count what it sent.  Answers follow the real
wire formats: Graph error bodies plus a ``request-id`` header on every response,
``@odata.context``/``@odata.nextLink`` envelopes, ``Retry-After`` when throttling, and alerts
only with ``$expand=alerts``.  Single alerts are served too, as ``GET /{v1.0|beta}/security/alerts_v2/{id}``
and the legacy ``GET /api/alerts/{id}`` answer them.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urlencode

from aiohttp import web

Flavor = Literal["v1.0", "beta", "defender"]
FIXTURE_DIR = Path(__file__).resolve().parent.parent / "data" / "graph"
BOT_NAME = "Incident Bot (app)"
_FILE_FLAVORS: dict[str, Flavor] = {"v1": "v1.0", "beta": "beta", "defender": "defender"}
_CODES = {
    400: ("BadRequest", "Invalid request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Forbidden", "Insufficient privileges to complete the operation."),
    404: ("NotFound", "Resource not found."),
    405: ("MethodNotAllowed", "Method not allowed."),
    429: ("TooManyRequests", "Too many requests."),
    500: ("InternalServerError", "Internal server error."),
    503: ("ServiceUnavailable", "The service is currently unavailable. Please retry later."),
    504: ("GatewayTimeout", "The gateway did not receive a response in time."),
}
# Writable fields and accepted enum members per API, so that e.g. sending the legacy
# "TruePositive" to Graph, or a pre-2024 determination name to v1.0, fails as in production.
_CLASSES = "unknown falsePositive truePositive informationalExpectedActivity"
_DETERMINATIONS = (
    "unknown apt malware securityPersonnel securityTesting unwantedSoftware other multiStagedAttack "
    "compromisedAccount phishing maliciousUserActivity notMalicious notEnoughDataToValidate "
    "confirmedActivity lineOfBusinessApplication"
)
_OLD_NAMES = " compromisedUser clean insufficientData confirmedUserActivity"  # beta still takes these
_GRAPH_STATUS = "active resolved inProgress awaitingAction"
_ENUMS: dict[Flavor, dict[str, set[str]]] = {
    "v1.0": {"status": set(_GRAPH_STATUS.split()), "classification": set(_CLASSES.split()),
             "determination": set(_DETERMINATIONS.split())},
    "beta": {"status": set(_GRAPH_STATUS.split()), "classification": set(_CLASSES.split()),
             "determination": set((_DETERMINATIONS + _OLD_NAMES).split())},
    "defender": {"status": {"Active", "Resolved", "InProgress", "Redirected"},
                 "classification": {"Unknown", "FalsePositive", "TruePositive",
                                    "InformationalExpectedActivity"}},
}  # fmt: skip
_WRITABLE: dict[Flavor, set[str]] = {
    "v1.0": {"assignedTo", "classification", "determination", "status", "customTags", "resolvingComment",
             "description", "displayName", "severity"},
    "beta": {"assignedTo", "classification", "determination", "status", "customTags", "tags",
             "resolvingComment"},
    "defender": {"status", "assignedTo", "classification", "determination", "tags", "comment"},
}  # fmt: skip
# Evolvable enum members (listed after unknownFutureValue) reach a client only when it sends
# "Prefer: include-unknown-enum-members"; everyone else reads unknownFutureValue.
_EVOLVED_STATUS = {"awaitingAction"}
_PREFER_UNKNOWN = "include-unknown-enum-members"
_EQ_CLAUSE = re.compile(r"^\(?\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*\)?$")
# A date comparison, OData's unquoted DateTimeOffset literal: lastUpdateDateTime ge 2026-12-02T10:42:00Z
_DATE_CLAUSE = re.compile(
    r"^\(?\s*(\w+)\s+(gt|ge|lt|le)\s+(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d))\s*\)?$"
)
_COMPARE: dict[str, Callable[[datetime, datetime], bool]] = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}  # fmt: skip


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any | None
    time: float  # time.monotonic(), so tests can measure back-off between retries


@dataclass
class _Fault:
    status: int  # 0: drop the connection without answering
    remaining: int | None  # None: every matching request until stop_failing()
    retry_after: float | None
    path_contains: str | None
    method: str | None
    body: bytes | None = None  # with status 200: answer these bytes instead of the resource


class _ApiError(Exception):
    """Raised by handlers; the middleware renders it as Graph's error body."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _now() -> str:
    # Graph writes seven fractional digits; matching that keeps the bot's parser honest.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class FakeIncidentApi:
    def __init__(self, *, is_valid_token: Callable[[str], bool], latency: float = 0.0) -> None:
        self.is_valid_token = is_valid_token
        self.latency = latency
        self.requests: list[RecordedRequest] = []
        self.incidents: dict[Flavor, dict[str, dict[str, Any]]] = {"v1.0": {}, "beta": {}, "defender": {}}
        # Single alerts by flavour and id (`GET .../alerts_v2/{id}`, `GET /api/alerts/{id}`).
        self.alerts: dict[Flavor, dict[str, dict[str, Any]]] = {"v1.0": {}, "beta": {}, "defender": {}}
        self._faults: list[_Fault] = []
        self._body_type = "application/json"
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        graph = r"/{version:v1\.0|beta}/security/incidents"
        app.router.add_get(graph, self._graph_list)
        app.router.add_get(graph + "/{id}", self._graph_get)
        app.router.add_patch(graph + "/{id}", self._graph_patch)
        app.router.add_post(graph + "/{id}/comments", self._graph_comment)
        app.router.add_get("/api/incidents", self._defender_list)
        app.router.add_get("/api/incidents/{id}", self._defender_get)
        app.router.add_patch("/api/incidents/{id}", self._defender_patch)
        # `{alert}`, not `{id}`: alert ids are not digits, which the middleware asks of incident ids.
        app.router.add_get(r"/{version:v1\.0|beta}/security/alerts_v2/{alert}", self._graph_alert)
        app.router.add_get("/api/alerts/{alert}", self._defender_alert)
        # A request parked in `latency` must not hold teardown for aiohttp's default 60 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeIncidentApi:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def origin(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeIncidentApi is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def graph_v1_url(self) -> str:
        return self.origin + "/v1.0"

    @property
    def graph_beta_url(self) -> str:
        return self.origin + "/beta"

    @property
    def defender_url(self) -> str:
        return self.origin

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path_contains or "") in r.path
        )

    def put(self, flavor: Flavor, incident: dict[str, Any]) -> None:
        key = str(incident["incidentId"] if flavor == "defender" else incident["id"])
        self.incidents[flavor][key] = copy.deepcopy(incident)

    def change(self, flavor: Flavor, incident_id: str | int, **fields: Any) -> dict[str, Any]:
        """Change a stored incident as Defender does (the portal, another client): the fields given
        (Graph names; `comment=` appends a comment) and a new last-update time. Returns a copy."""
        incident = self.incidents[flavor][str(incident_id)]
        if (comment := fields.pop("comment", None)) is not None:
            entry = (
                {"comment": comment, "createdBy": "analyst@contoso.com", "createdTime": _now()}
                if flavor == "defender"
                else {
                    "comment": comment,
                    "createdByDisplayName": "analyst@contoso.com",
                    "createdDateTime": _now(),
                }
            )
            incident.setdefault("comments", []).append(entry)
        incident.update(fields)
        incident["lastUpdateTime" if flavor == "defender" else "lastUpdateDateTime"] = _now()
        return copy.deepcopy(incident)

    def get(self, flavor: Flavor, incident_id: str | int) -> dict[str, Any] | None:
        """A copy of the stored incident (alerts and comments included), e.g. after a PATCH."""
        return copy.deepcopy(self.incidents[flavor].get(str(incident_id)))

    def put_alert(self, flavor: Flavor, alert: dict[str, Any]) -> None:
        self.alerts[flavor][str(alert["id"])] = copy.deepcopy(alert)

    def load_fixtures(self, directory: Path = FIXTURE_DIR) -> None:
        """Load every ``incident_<id>.<v1|beta|defender>.json`` into its flavour, and the alerts."""
        for path in sorted(directory.glob("incident_*.json")):
            self.put(_FILE_FLAVORS[path.name.split(".")[1]], json.loads(path.read_text("utf-8")))
        self.load_alerts(directory)

    def load_alerts(self, directory: Path = FIXTURE_DIR) -> None:
        """Load every ``alert_<id>.<v1|beta|defender>.json`` into its flavour; a v1 alert is beta's
        too, unless a beta file of its own says otherwise."""
        for path in sorted(directory.glob("alert_*.json")):
            flavor = _FILE_FLAVORS[path.name.rsplit(".", 2)[1]]
            alert = json.loads(path.read_text("utf-8"))
            self.put_alert(flavor, alert)
            if flavor == "v1.0":
                self.alerts["beta"].setdefault(str(alert["id"]), copy.deepcopy(alert))

    def fail_next(
        self,
        status: int,
        *,
        count: int | None = 1,
        retry_after: float | None = None,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` (count=None: all of them, until
        stop_failing())."""
        self._faults.append(_Fault(status, count, retry_after, path_contains, method))

    def answer_body_next(
        self,
        body: bytes,
        *,
        count: int | None = 1,
        path_contains: str | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next `count` matching requests 200 with `body` as it is (an unreadable success)."""
        self._faults.append(_Fault(200, count, None, path_contains, None, body))
        self._body_type = content_type

    def stop_failing(self) -> None:
        """Drop every fault still armed: from now on the API answers normally."""
        self._faults.clear()

    def reset_connection_next(self, count: int = 1) -> None:
        self._faults.append(_Fault(0, count, None, None, None))

    # ---- plumbing --------------------------------------------------------------------------

    def _take_fault(self, request: web.Request) -> _Fault | None:
        for fault in self._faults:
            if (fault.method or request.method).upper() == request.method and (
                fault.path_contains or ""
            ) in request.path_qs:
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        query, headers = dict(request.query), dict(request.headers)
        self.requests.append(
            RecordedRequest(request.method, request.path, query, headers, parsed, time.monotonic())
        )
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(request)
        if fault is not None and fault.body is not None:
            return web.Response(body=fault.body, headers={"Content-Type": self._body_type})
        if fault is not None and fault.status == 0:
            assert request.transport is not None
            request.transport.abort()  # the client sees the peer vanish mid-request
            return web.Response()
        if fault is not None:
            resp = _error(request, fault.status)
            if fault.retry_after is not None or fault.status == 429:
                resp.headers["Retry-After"] = f"{1 if fault.retry_after is None else fault.retry_after:g}"
            return resp
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.is_valid_token(auth[7:]):
            resp = _error(request, 401, None if auth else "Access token is empty.")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="", error="invalid_token"'
            return resp
        if not request.match_info.get("id", "0").isdigit():
            return _error(request, 400, f"Invalid incident id '{request.match_info['id']}'.")
        try:
            result = await handler(request)
        except _ApiError as exc:
            return _error(request, exc.status, exc.message)
        except web.HTTPException as exc:  # no such route or method
            return _error(request, exc.status)
        result.headers.setdefault("request-id", str(uuid.uuid4()))
        return result

    def _incident(self, request: web.Request, flavor: Flavor) -> dict[str, Any]:
        found = self.incidents[flavor].get(request.match_info["id"])
        if found is None:
            raise _ApiError(404, f"Incident {request.match_info['id']} was not found.")
        return found

    @staticmethod
    def _flavor(request: web.Request) -> Flavor:
        return "v1.0" if request.match_info["version"] == "v1.0" else "beta"

    def _ctx(self, request: web.Request, fragment: str) -> str:
        return f"{self.origin}/{request.match_info['version']}/$metadata#{fragment}"

    @staticmethod
    def _view(request: web.Request, incident: dict[str, Any], expand: bool) -> dict[str, Any]:
        view = {k: copy.deepcopy(v) for k, v in incident.items() if expand or k != "alerts"}
        if view.get("status") in _EVOLVED_STATUS and _PREFER_UNKNOWN not in request.headers.get("Prefer", ""):
            view["status"] = "unknownFutureValue"
        return view

    # ---- Microsoft Graph -------------------------------------------------------------------

    async def _graph_get(self, request: web.Request) -> web.Response:
        incident = self._incident(request, self._flavor(request))
        expand = "alerts" in request.query.get("$expand", "")
        ctx = self._ctx(
            request, "security/incidents(alerts())/$entity" if expand else "security/incidents/$entity"
        )
        return web.json_response({"@odata.context": ctx, **self._view(request, incident, expand)})

    async def _graph_list(self, request: web.Request) -> web.Response:
        items = _filtered(request, self.incidents[self._flavor(request)], "createdDateTime", "id")
        expand = "alerts" in request.query.get("$expand", "")
        top, offset = _page(request, default=10, maximum=50, token="$skiptoken")
        out: dict[str, Any] = {
            "@odata.context": self._ctx(request, "security/incidents"),
            "value": [self._view(request, i, expand) for i in items[offset : offset + top]],
        }
        if offset + top < len(items):
            token = base64.urlsafe_b64encode(f"offset={offset + top}".encode()).decode()
            out["@odata.nextLink"] = _link(self.origin + request.path, request, "$skiptoken", token)
        return web.json_response(out)

    async def _graph_patch(self, request: web.Request) -> web.Response:
        flavor = self._flavor(request)
        incident = self._incident(request, flavor)
        incident.update(await _changes(request, flavor), lastUpdateDateTime=_now())
        if flavor == "v1.0":
            incident["lastModifiedBy"] = BOT_NAME
        ctx = self._ctx(request, "security/incidents/$entity")
        return web.json_response({"@odata.context": ctx, **self._view(request, incident, False)})

    async def _graph_comment(self, request: web.Request) -> web.Response:
        flavor = self._flavor(request)
        incident = self._incident(request, flavor)
        text = (await _json_body(request)).get("comment")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "The comment property is required.")
        if flavor == "v1.0":
            comment = {"comment": text, "createdByDisplayName": BOT_NAME, "createdDateTime": _now()}
        else:  # the older beta shape
            comment = {"comment": text, "createdBy": BOT_NAME, "createdTime": _now()}
        incident.setdefault("comments", []).append(comment)
        incident["lastUpdateDateTime"] = _now()
        ctx = self._ctx(request, "Collection(microsoft.graph.security.alertComment)")
        return web.json_response({"@odata.context": ctx, "value": copy.deepcopy(incident["comments"])})

    def _alert(self, request: web.Request, flavor: Flavor) -> dict[str, Any]:
        found = self.alerts[flavor].get(request.match_info["alert"])
        if found is None:
            raise _ApiError(404, f"Alert {request.match_info['alert']} was not found.")
        return copy.deepcopy(found)

    async def _graph_alert(self, request: web.Request) -> web.Response:
        alert = self._alert(request, self._flavor(request))
        ctx = self._ctx(request, "security/alerts_v2/$entity")
        return web.json_response({"@odata.context": ctx, **alert})

    # ---- legacy Defender API ---------------------------------------------------------------

    async def _defender_alert(self, request: web.Request) -> web.Response:
        alert = self._alert(request, "defender")
        return web.json_response({"@odata.context": f"{self.origin}/api/$metadata#Alerts/$entity", **alert})

    async def _defender_get(self, request: web.Request) -> web.Response:
        incident = self._incident(request, "defender")
        return web.json_response(
            {"@odata.context": f"{self.origin}/api/$metadata#Incidents/$entity", **incident}
        )

    async def _defender_list(self, request: web.Request) -> web.Response:
        items = _filtered(request, self.incidents["defender"], "createdTime", "incidentId")
        top, offset = _page(request, default=100, maximum=100, token="$skip")
        out: dict[str, Any] = {
            "@odata.context": f"{self.origin}/api/$metadata#Incidents",
            "value": copy.deepcopy(items[offset : offset + top]),
        }
        if offset + top < len(items):
            out["@odata.nextLink"] = _link(
                self.origin + request.path, request, "$skip", str(offset + top), top
            )
        return web.json_response(out)

    async def _defender_patch(self, request: web.Request) -> web.Response:
        incident = self._incident(request, "defender")
        changes = await _changes(request, "defender")
        if "comment" in changes:
            entry = {"comment": changes.pop("comment"), "createdBy": BOT_NAME, "createdTime": _now()}
            incident.setdefault("comments", []).append(entry)
        incident.update(changes, lastUpdateTime=_now())
        return web.json_response(
            {"@odata.context": f"{self.origin}/api/$metadata#Incidents/$entity", **incident}
        )


def _filtered(
    request: web.Request, store: dict[str, dict[str, Any]], created: str, key: str
) -> list[dict[str, Any]]:
    # Newest first, as both APIs document; ids break ties so that paging is deterministic.
    items = sorted(
        store.values(), key=lambda i: (str(i.get(created, "")), str(i[key]).zfill(20)), reverse=True
    )
    raw = request.query.get("$filter", "")
    if not raw:
        return items
    tests = [_clause_test(clause) for clause in _and_clauses(raw)]
    return [i for i in items if all(test(i) for test in tests)]


def _and_clauses(raw: str) -> list[str]:
    """`a and (b or c) and d` → ["a", "(b or c)", "d"]: `and` outside parentheses and quotes."""
    clauses, depth, quoted, start = [], 0, False, 0
    for match in re.finditer(r"'|\(|\)|\s+and\s+", raw):
        token = match.group(0)
        if token == "'":
            quoted = not quoted
        elif not quoted and token == "(":
            depth += 1
        elif not quoted and token == ")":
            depth -= 1
        elif not quoted and depth == 0:
            clauses.append(raw[start : match.start()])
            start = match.end()
    clauses.append(raw[start:])
    return [c.strip() for c in clauses]


def _clause_test(clause: str) -> Callable[[dict[str, Any]], bool]:
    """One clause: `name eq 'value'`, a date comparison, or a parenthesised `or` of `eq` clauses."""
    if clause.startswith("(") and clause.endswith(")"):
        parts = [_clause_test(part.strip()) for part in re.split(r"\s+or\s+", clause[1:-1])]
        return lambda i: any(test(i) for test in parts)
    if (eq := _EQ_CLAUSE.match(clause)) is not None:
        name, value = eq.group(1), eq.group(2).replace("''", "'")
        return lambda i: str(i.get(name)) == value
    if (date := _DATE_CLAUSE.match(clause)) is not None:
        name, compare, when = date.group(1), _COMPARE[date.group(2)], _parse_date(date.group(3))
        return lambda i: bool(i.get(name)) and compare(_parse_date(i[name]), when)
    raise _ApiError(400, f"Invalid filter clause: {clause}")


def _parse_date(text: str) -> datetime:
    """Graph's seven fractional digits cut to Python's six."""
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if match is None:
        raise _ApiError(400, f"Invalid date: {text}")
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(f"{match.group(1)}.{fraction}{zone}")


def _page(request: web.Request, *, default: int, maximum: int, token: str) -> tuple[int, int]:
    try:
        top = min(max(int(request.query.get("$top", default)), 1), maximum)
        raw = request.query.get(token)
        if raw is None:
            return top, 0
        if token == "$skip":
            return top, int(raw)
        return top, int(base64.urlsafe_b64decode(raw.encode()).decode().removeprefix("offset="))
    except ValueError as exc:
        raise _ApiError(400, "Invalid paging parameter.") from exc


def _link(base: str, request: web.Request, name: str, value: str, top: int | None = None) -> str:
    params = {k: v for k, v in request.query.items() if k not in ("$skiptoken", "$skip")}
    if top is not None:
        params["$top"] = str(top)
    params[name] = value
    return base + "?" + urlencode(params, quote_via=quote, safe="$'(),")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise _ApiError(400, "Request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise _ApiError(400, "Request body must be a JSON object.")
    return body


async def _changes(request: web.Request, flavor: Flavor) -> dict[str, Any]:
    body = await _json_body(request)
    if unknown := set(body) - _WRITABLE[flavor]:
        raise _ApiError(400, f"Properties are not writable: {sorted(unknown)}")
    for field, allowed in _ENUMS[flavor].items():
        if field in body and body[field] not in allowed:
            raise _ApiError(400, f"Requested value '{body[field]}' was not found.")
    evolved = flavor != "defender" and body.get("status") in _EVOLVED_STATUS
    if evolved and _PREFER_UNKNOWN not in request.headers.get("Prefer", ""):
        raise _ApiError(400, f"Requested value '{body['status']}' was not found.")
    return body


def _error(request: web.Request, status: int, message: str | None = None) -> web.Response:
    code, default = _CODES.get(status, ("UnknownError", "An error occurred."))
    request_id = str(uuid.uuid4())
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "request-id": request_id,
        "client-request-id": request.headers.get("client-request-id", request_id),
    }
    body = {"error": {"code": code, "message": message or default, "innerError": inner}}
    return web.json_response(body, status=status, headers={"request-id": request_id})
