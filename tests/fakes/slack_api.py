"""A fake Slack Web API on plain http 127.0.0.1, for slack_sdk's ``base_url``.

slack_sdk sends some methods as JSON (chat.postMessage, chat.unfurl, views.*), others as
form posts or GET query strings (users.info, usergroups.users.list), with the token in the
Authorization header.  The fake accepts all of them, records each call with its arguments
decoded (form fields holding JSON such as ``blocks`` become objects), and answers with the
response shapes Slack documents.  Slack reports failures as HTTP 200 ``{"ok": false}``, except
rate limiting, which is HTTP 429 with ``Retry-After``; the fake does the same.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

# Form fields slack_sdk serialises to JSON text before posting.
_JSON_FIELDS = {"blocks", "attachments", "unfurls", "view", "metadata", "user_auth_blocks"}
BOT_SCOPES = (
    "commands,chat:write,links:read,links:write,users:read,users:read.email,"
    "channels:read,groups:read,im:read,mpim:read,channels:history,groups:history"
)


@dataclass
class SlackCall:
    method: str  # "chat.postMessage", or "response_url:<name>" for response_url posts
    args: dict[str, Any]
    token: str | None
    time: float  # time.monotonic()


@dataclass
class _Fault:
    method: str
    error: str
    status: int
    retry_after: int | None
    remaining: int


class FakeSlackApi:
    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        config_token: str = "xoxe.xoxp-test-config-token",
        latency: float = 0.0,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token  # only apps.connections.open takes the app-level token
        self.config_token = config_token  # only apps.manifest.* take an app configuration token
        self.latency = latency
        # method → seconds it answers after (instead of `latency`), e.g. {"chat.postMessage": 2.0}
        self.method_latency: dict[str, float] = {}
        # True: a message's ts is the wall clock's time, as Slack's is (so conversations.history's
        # `oldest` means what it means in Slack); False: fixed-epoch ts, 1700000000.000100 and on
        self.clock_ts = False
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.manifests: dict[str, dict[str, Any]] = {}  # app id → what apps.manifest.export returns
        self.team_id = "T0001"  # our workspace, as auth.test says
        # channel id → conversations.info's whole answer; a channel not here is a private channel
        # of our workspace (what every test not about the unfurl policy expects: full cards)
        self.conversations: dict[str, dict[str, Any]] = {}
        # channel → the messages posted there (chat.postMessage), newest last, with their metadata:
        # conversations.history and conversations.replies answer from it
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.socket_url = "ws://127.0.0.1:9/link/?ticket=fake-ticket&app_id=A0BOT"
        self.calls: list[SlackCall] = []
        self._faults: list[_Fault] = []
        self._arrived = asyncio.Condition()
        self._serial = itertools.count(1)
        self._last_ts = 0.0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.postEphemeral": lambda a: {"ok": True, "message_ts": self._ts()},
            "chat.update": self._update,
            "chat.unfurl": lambda a: {"ok": True},
            "views.open": self._view,
            "views.push": self._view,
            "views.update": self._view,
            "users.info": self._user_info,
            "usergroups.users.list": self._usergroup,
            "apps.connections.open": lambda a: {"ok": True, "url": self.socket_url},
            "apps.manifest.export": self._manifest_export,
            "conversations.info": self._conversation_info,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
        }

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        # A request parked in `latency` must not hold teardown for aiohttp's default 60 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlackApi:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def origin(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlackApi is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return self.origin + "/api/"  # slack_sdk joins method names onto base_url verbatim

    def response_url(self, name: str) -> str:
        return f"{self.origin}/response/{name}"

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    # The timeout argument is the point of this helper: tests read better with it inline.
    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:  # noqa: ASYNC109
        """Wait until ``count`` calls to ``method`` have arrived; AssertionError on timeout."""
        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            seen = [c.method for c in self.calls]
            raise AssertionError(f"expected {count} x {method} within {timeout}s; got {seen}") from None
        return self.calls_to(method)

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
    ) -> None:
        self._faults.append(_Fault(method, error, status, retry_after, count))

    # ---- handlers --------------------------------------------------------------------------

    async def _record(self, method: str, args: dict[str, Any], token: str | None) -> None:
        self.calls.append(SlackCall(method, args, token, time.monotonic()))
        async with self._arrived:
            self._arrived.notify_all()
        delay = self.method_latency.get(method, self.latency)
        if delay:
            await asyncio.sleep(delay)

    def _take_fault(self, method: str) -> web.Response | None:
        for fault in self._faults:
            if fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                headers = {"Retry-After": str(fault.retry_after)} if fault.status in (429, 503) else {}
                return web.json_response(
                    {"ok": False, "error": fault.error}, status=fault.status, headers=headers
                )
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            args.update(body if isinstance(body, dict) else {})
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                args[key] = _decode_field(key, value) if isinstance(value, str) else str(value)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else args.pop("token", None)
        await self._record(method, args, token)
        failure = self._take_fault(method)
        if failure is not None:
            return failure
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if method.startswith("apps.manifest."):
            expected = self.config_token
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        headers = {"x-oauth-scopes": BOT_SCOPES} if method != "apps.connections.open" else {}
        answer = self._answers.get(method)
        return web.json_response(answer(args) if answer else {"ok": True}, headers=headers)

    async def _response_url(self, request: web.Request) -> web.Response:
        method = "response_url:" + request.match_info["name"]
        body = await request.json() if request.can_read_body else {}
        await self._record(method, body if isinstance(body, dict) else {"body": body}, None)
        failure = self._take_fault(method)
        return failure if failure is not None else web.Response(text="ok")

    # ---- default answers -------------------------------------------------------------------

    def _ts(self) -> str:
        # Unique and increasing, in Slack's "seconds.micro-sequence" form.
        serial = next(self._serial)
        if self.clock_ts:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"
        return f"1700000000.{serial * 100:06d}"

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "incidentbot",
            "team_id": self.team_id,
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self._ts()
        message = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "team": "T0001", "ts": ts}
        message.update({k: args[k] for k in ("text", "blocks", "attachments", "thread_ts") if k in args})
        if isinstance(args.get("metadata"), dict):
            message["metadata"] = args["metadata"]
        self.history.setdefault(str(args["channel"]), []).append(message)
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}

    def _visible(self, message: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        shown = dict(message)
        if str(args.get("include_all_metadata", "")).lower() not in ("1", "true"):
            shown.pop("metadata", None)
        return shown

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages of a channel, newest first, after `oldest` (Slack's order and filter)."""
        oldest = float(args.get("oldest") or 0)
        messages = [m for m in self.history.get(str(args.get("channel", "")), [])
                    if "thread_ts" not in m and float(m["ts"]) > oldest]  # fmt: skip
        shown = [self._visible(m, args) for m in reversed(messages)][: int(args.get("limit") or 100)]
        return {"ok": True, "messages": shown, "has_more": False}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent, then its replies, oldest first."""
        ts = str(args.get("ts", ""))
        messages = [m for m in self.history.get(str(args.get("channel", "")), [])
                    if m["ts"] == ts or m.get("thread_ts") == ts]  # fmt: skip
        return {"ok": True, "messages": [self._visible(m, args) for m in messages], "has_more": False}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        message = {k: args[k] for k in ("text", "blocks", "attachments") if k in args}
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text", ""),
                "message": message}  # fmt: skip

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = args.get("view_id") or f"V{next(self._serial):08d}"
        full: dict[str, Any] = {
            "id": view_id,
            "root_view_id": view_id,
            "team_id": "T0001",
            "app_id": "A0BOT",
            "bot_id": "B0BOT",
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.fakehash",
        }
        return {"ok": True, "view": {**full, **view}}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        return {"ok": True, "user": user} if user is not None else {"ok": False, "error": "user_not_found"}

    def _usergroup(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(str(args.get("usergroup", "")))
        return (
            {"ok": True, "users": members}
            if members is not None
            else {"ok": False, "error": "no_such_subteam"}
        )

    def _conversation_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel in self.conversations:
            return self.conversations[channel]
        if channel[:1] not in ("C", "G", "D"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {
            "id": channel, "name": "soc-private", "is_channel": True, "is_group": False, "is_im": False,
            "is_mpim": False, "is_private": True, "is_shared": False, "is_ext_shared": False,
            "is_org_shared": False, "is_pending_ext_shared": False, "context_team_id": self.team_id,
        }}  # fmt: skip

    def _manifest_export(self, args: dict[str, Any]) -> dict[str, Any]:
        app_id = str(args.get("app_id", ""))
        if not app_id.startswith("A"):
            return {"ok": False, "error": "invalid_app_id"}
        manifest = self.manifests.get(app_id)
        return (
            {"ok": True, "manifest": manifest}
            if manifest is not None
            else {"ok": False, "error": "app_not_found"}
        )


SLACK_DATA = Path(__file__).parent.parent / "data" / "slack"


DOCUMENTED_TEAM = "T12345ABCDE"  # the workspace of Slack's examples in tests/data/slack/


def documented_conversation(
    kind: str, channel_id: str | None = None, *, team: str = DOCUMENTED_TEAM
) -> dict[str, Any]:
    """Slack's documented conversations.info answer of `kind` (public, private, shared, dm, group_dm;
    tests/data/slack/conversations_info_*.json), under `channel_id`, our workspace named `team`."""
    text = (SLACK_DATA / f"conversations_info_{kind}.json").read_text(encoding="utf-8")
    answer = json.loads(text.replace(DOCUMENTED_TEAM, team))
    answer.pop("_source", None)
    if channel_id is not None:
        answer["channel"]["id"] = channel_id
    return dict(answer)


def _decode_field(key: str, value: str) -> Any:
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # keep it as sent: a test may be checking that it was malformed
    return value
