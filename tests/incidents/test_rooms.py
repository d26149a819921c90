"""The kind of a conversation from conversations.info: one call per channel per TTL, whatever the
storm; shared by replicas through the cache; any failure is `unknown`, never a guess.

Against the loopback fake Slack Web API, through the bot's own client (`build_web_client`: its
retry handlers included) and the real memory cache (and Redis, for two replicas).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.load import load_settings
from bot.config.unfurl import ConversationKind
from bot.incidents.rooms import Rooms
from bot.slackweb import build_web_client
from bot.state.cache import build_cache
from bot.state.shared_cache import Cache
from tests.fakes import FakeSlackApi
from tests.world import free_port

# aiocache 0.12.3 calls redis-py's deprecated close() (see tests/test_cache.py).
pytestmark = [pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")]

SLACK_DATA = Path(__file__).parent.parent / "data" / "slack"
OUR_TEAM = "T12345ABCDE"  # the team of Slack's examples in tests/data/slack/conversations_info_*.json
K = ConversationKind
EXAMPLES = {"public": K.PUBLIC, "private": K.PRIVATE, "dm": K.DM, "group_dm": K.GROUP_DM, "shared": K.SHARED}


def documented_answer(kind: str) -> dict[str, Any]:
    answer = json.loads((SLACK_DATA / f"conversations_info_{kind}.json").read_text(encoding="utf-8"))
    answer.pop("_source")
    return dict(answer)


class ConversationsSlackApi(FakeSlackApi):
    """FakeSlackApi answering conversations.info per channel: `conversations[id]` is the whole answer
    (Slack's shape, `{"ok": true, "channel": {…}}`, or an error answer); others: channel_not_found."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conversations: dict[str, dict[str, Any]] = {}
        self._answers["conversations.info"] = self._conversation_info

    def add(self, kind: str, channel_id: str | None = None) -> str:
        """Answer Slack's documented example of `kind` (under its own id, or `channel_id`)."""
        answer = documented_answer(kind)
        if channel_id is not None:
            answer["channel"]["id"] = channel_id
        self.conversations[answer["channel"]["id"]] = answer
        return str(answer["channel"]["id"])

    def refuse(self, channel_id: str, error: str, **fields: Any) -> None:
        self.conversations[channel_id] = {"ok": False, "error": error, **fields}

    def _conversation_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.conversations.get(
            str(args.get("channel", "")), {"ok": False, "error": "channel_not_found"}
        )

    def asked(self) -> list[str]:
        return [str(call.args.get("channel")) for call in self.calls_to("conversations.info")]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[ConversationsSlackApi]:
    # Latency keeps the first lookup in flight while the others arrive, on every Python.
    fake = ConversationsSlackApi(latency=0.2)
    await fake.start()
    try:
        for kind in EXAMPLES:
            fake.add(kind)
        yield fake
    finally:
        await fake.stop()


def web_client(api_url: str, token: str, http: aiohttp.ClientSession) -> AsyncWebClient:
    settings = load_settings(incident_source="demo", slack_bot_token=token, slack_api_url=api_url)
    return build_web_client(settings, http)


@pytest.fixture
def client(slack: ConversationsSlackApi, http: aiohttp.ClientSession) -> AsyncWebClient:
    return web_client(slack.api_url, slack.bot_token, http)


@pytest_asyncio.fixture
async def cache() -> AsyncIterator[Cache]:
    memory = build_cache("memory://")
    yield memory
    await memory.close()


MakeRooms = Callable[..., Rooms]


@pytest.fixture
def make_rooms(client: AsyncWebClient, cache: Cache) -> MakeRooms:
    def make(**overrides: Any) -> Rooms:
        values: dict[str, Any] = {"our_team": lambda: OUR_TEAM, **overrides}
        return Rooms(values.pop("slack", client), values.pop("cache", cache), **values)

    return make


# ---- one call per channel per TTL ----------------------------------------------------------------


@pytest.mark.parametrize(("example", "kind"), list(EXAMPLES.items()))
async def test_each_documented_answer_gives_its_kind(
    make_rooms: MakeRooms, slack: ConversationsSlackApi, example: str, kind: ConversationKind
) -> None:
    channel_id = documented_answer(example)["channel"]["id"]
    assert await make_rooms().kind(channel_id) is kind
    assert slack.asked() == [channel_id]


async def test_a_storm_of_100_asks_makes_one_call(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    rooms = make_rooms()
    found = await asyncio.gather(*(rooms.kind("C123456") for _ in range(100)))
    assert set(found) == {K.PUBLIC}
    assert slack.asked() == ["C123456"]
    assert rooms.lookups == 1


async def test_a_storm_over_several_channels_makes_one_call_each(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    rooms = make_rooms()
    ids = [documented_answer(kind)["channel"]["id"] for kind in EXAMPLES]
    asks = [ids[i % len(ids)] for i in range(100)]
    found = await asyncio.gather(*(rooms.kind(channel_id) for channel_id in asks))
    assert found == [EXAMPLES[list(EXAMPLES)[i % len(ids)]] for i in range(100)]
    assert sorted(slack.asked()) == sorted(ids)


async def test_the_answer_is_kept_for_the_ttl_then_asked_again(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    slack.latency = 0.0
    rooms = make_rooms(ttl=0.5)
    assert await rooms.kind("C123456") is K.PUBLIC
    for _ in range(20):
        assert await rooms.kind("C123456") is K.PUBLIC
    assert len(slack.asked()) == 1
    await asyncio.sleep(0.7)
    await asyncio.gather(*(rooms.kind("C123456") for _ in range(100)))
    assert len(slack.asked()) == 2


async def test_a_kind_change_shows_after_the_ttl(make_rooms: MakeRooms, slack: ConversationsSlackApi) -> None:
    """A private channel shared with a partner (Slack Connect) is seen as shared within one TTL."""
    slack.latency = 0.0
    rooms = make_rooms(ttl=0.3)
    assert await rooms.kind("C0SOCPRIV") is K.PRIVATE
    slack.add("shared", channel_id="C0SOCPRIV")
    await asyncio.sleep(0.4)
    assert await rooms.kind("C0SOCPRIV") is K.SHARED


async def test_replicas_on_one_redis_share_the_answer(
    client: AsyncWebClient, slack: ConversationsSlackApi, redis_url: str
) -> None:
    caches = [build_cache(redis_url), build_cache(redis_url)]
    try:
        first, second = (Rooms(client, shared, our_team=lambda: OUR_TEAM) for shared in caches)
        assert await first.kind("C0PARTNER") is K.SHARED
        found = await asyncio.gather(*(second.kind("C0PARTNER") for _ in range(50)))
        assert set(found) == {K.SHARED}
        assert slack.asked() == ["C0PARTNER"]
        assert (first.lookups, second.lookups) == (1, 0)
        assert await caches[1].get(Rooms.cache_key(OUR_TEAM, "C0PARTNER")) == "shared"  # JSON-safe text
    finally:
        for each in caches:
            await each.close()


async def test_a_caller_that_gives_up_does_not_cancel_the_lookup_of_the_others(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    rooms = make_rooms()
    impatient = asyncio.create_task(rooms.kind("D024BFF1M"))
    patient = asyncio.create_task(rooms.kind("D024BFF1M"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert await patient is K.DM
    assert slack.asked() == ["D024BFF1M"]


async def test_a_value_in_the_cache_that_is_no_kind_is_asked_again(
    make_rooms: MakeRooms, slack: ConversationsSlackApi, cache: Cache
) -> None:
    await cache.set(Rooms.cache_key(OUR_TEAM, "C123456"), "everyone-welcome", ttl=60)
    assert await make_rooms().kind("C123456") is K.PUBLIC
    assert slack.asked() == ["C123456"]


# ---- failures: unknown, never a guess ------------------------------------------------------------


async def test_missing_scope_is_unknown_and_not_shared_with_replicas(
    make_rooms: MakeRooms, slack: ConversationsSlackApi, cache: Cache
) -> None:
    slack.refuse("C0NOSCOPE", "missing_scope", needed="channels:read", provided="links:read")
    now = [1000.0]
    rooms = make_rooms(failure_ttl=30, clock=lambda: now[0])
    found = await asyncio.gather(*(rooms.kind("C0NOSCOPE") for _ in range(100)))
    assert set(found) == {K.UNKNOWN}
    assert slack.asked() == ["C0NOSCOPE"]
    assert await cache.get(Rooms.cache_key(OUR_TEAM, "C0NOSCOPE")) is None
    # Remembered by this process for failure_ttl: a burst of links costs one call, not one each.
    now[0] += 29
    assert await rooms.kind("C0NOSCOPE") is K.UNKNOWN
    assert len(slack.asked()) == 1
    # After it, asked again: the scope may have been granted meanwhile.
    slack.add("private", channel_id="C0NOSCOPE")
    now[0] += 2
    assert await rooms.kind("C0NOSCOPE") is K.PRIVATE
    assert len(slack.asked()) == 2
    # Another replica (same shared cache) never saw the failure: it asks, and the answer is cached.
    assert await make_rooms().kind("C0NOSCOPE") is K.PRIVATE
    assert len(slack.asked()) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"ok": False, "error": "channel_not_found"},
        {"ok": False, "error": "missing_scope", "needed": "groups:read", "provided": "links:read"},
        {"ok": False, "error": "not_in_channel"},
        {"ok": False, "error": "invalid_auth"},
        {"ok": True},  # no channel in the answer
        {"ok": True, "channel": "C0ODD"},
    ],
)
async def test_slack_errors_are_unknown(
    make_rooms: MakeRooms, slack: ConversationsSlackApi, answer: dict[str, Any]
) -> None:
    slack.conversations["C0ODD"] = answer
    assert await make_rooms(failure_ttl=0).kind("C0ODD") is K.UNKNOWN
    assert await make_rooms(failure_ttl=0).kind("C0ODD") is K.UNKNOWN
    assert len(slack.asked()) == 2  # failure_ttl=0: failures are not remembered at all


async def test_unknown_channels_are_unknown(make_rooms: MakeRooms, slack: ConversationsSlackApi) -> None:
    assert await make_rooms().kind("C0GONE") is K.UNKNOWN
    assert slack.asked() == ["C0GONE"]


async def test_slack_taking_longer_than_the_timeout_is_unknown(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    slack.latency = 1.5
    rooms = make_rooms(timeout=0.2)
    started = time.monotonic()
    found = await asyncio.gather(*(rooms.kind("C123456") for _ in range(20)))
    assert set(found) == {K.UNKNOWN}
    assert time.monotonic() - started < 1.0
    assert len(slack.asked()) == 1


async def test_the_default_timeout_is_two_seconds(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    slack.latency = 2.6
    started = time.monotonic()
    assert await make_rooms().kind("C123456") is K.UNKNOWN
    assert 1.9 < time.monotonic() - started < 2.5


async def test_rate_limited_past_the_timeout_is_unknown(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    """The bot's client waits out Retry-After (its retry handler); the lookup does not wait that long."""
    slack.latency = 0.0
    slack.fail_next("conversations.info", error="ratelimited", status=429, retry_after=5)
    started = time.monotonic()
    assert await make_rooms(timeout=0.3).kind("C123456") is K.UNKNOWN
    assert time.monotonic() - started < 1.0


async def test_a_short_rate_limit_is_waited_out_within_the_timeout(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    slack.latency = 0.0
    slack.fail_next("conversations.info", error="ratelimited", status=429, retry_after=1)
    assert await make_rooms().kind("C123456") is K.PUBLIC
    assert len(slack.asked()) == 2


async def test_a_server_error_is_unknown(make_rooms: MakeRooms, slack: ConversationsSlackApi) -> None:
    slack.latency = 0.0
    slack.fail_next("conversations.info", error="fatal_error", status=500, count=5)
    assert await make_rooms(timeout=0.5).kind("C123456") is K.UNKNOWN


async def test_slack_unreachable_is_unknown(
    http: aiohttp.ClientSession, cache: Cache, slack: ConversationsSlackApi
) -> None:
    """Connection refused: the bot's client retries, then gives up or the timeout ends it; a client
    without retries fails at once (aiohttp.ClientConnectorError). Either way: unknown, not cached."""
    port = free_port()
    retrying = web_client(f"http://127.0.0.1:{port}/api/", slack.bot_token, http)
    at_once = AsyncWebClient(
        token=slack.bot_token, base_url=f"http://127.0.0.1:{port}/api/", session=http, retry_handlers=[]
    )
    for nowhere in (retrying, at_once):
        rooms = Rooms(nowhere, cache, our_team=lambda: OUR_TEAM, timeout=0.5)
        assert await rooms.kind("C123456") is K.UNKNOWN
        assert rooms.lookups == 1
    assert await cache.get(Rooms.cache_key(OUR_TEAM, "C123456")) is None


# ---- nothing to ask about ------------------------------------------------------------------------


@pytest.mark.parametrize("channel_id", ["COMPOSER", "", "general", "U024BE7LH", "C", "c123456", "C12 34"])
async def test_no_call_for_what_is_not_a_conversation_id(
    make_rooms: MakeRooms, slack: ConversationsSlackApi, channel_id: str
) -> None:
    assert await make_rooms().kind(channel_id) is K.UNKNOWN
    assert slack.asked() == []


async def test_until_our_team_is_known_every_kind_is_unknown(
    make_rooms: MakeRooms, slack: ConversationsSlackApi
) -> None:
    team: list[str | None] = [None]
    rooms = make_rooms(our_team=lambda: team[0])
    assert await rooms.kind("C0SOCPRIV") is K.UNKNOWN
    assert slack.asked() == []
    team[0] = OUR_TEAM
    assert await rooms.kind("C0SOCPRIV") is K.PRIVATE


def test_is_external_user(make_rooms: MakeRooms) -> None:
    rooms = make_rooms()
    assert rooms.is_external_user("T0FABRIKAM") is True
    assert rooms.is_external_user(OUR_TEAM) is False
    assert rooms.is_external_user(None) is False  # link_shared names no team: the room decides
    assert rooms.is_external_user("") is False
    unknown_team = make_rooms(our_team=lambda: None)
    assert unknown_team.is_external_user(OUR_TEAM) is True  # cannot tell it is ours
