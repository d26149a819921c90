"""AlertService against the fake incident API over the real transport: cache-aside reads in the shared
cache (memory keeps the object, Redis JSON text), one request for concurrent reads, ids checked first,
the API's errors as they came, and a cache that does not answer as no cache at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiocache import SimpleMemoryCache

from bot.config.load import load_settings
from bot.config.settings import Settings
from bot.errors import NotFound, PermissionDenied
from bot.graph.alerts import GraphAlertApi
from bot.graph.demo import DemoAlertApi, DemoIncidentApi
from bot.incidents.alerts import AlertService
from bot.models.alert_ids import AlertDetail, InvalidAlertId, read_alert
from bot.services import open_services
from bot.state.cache import NAMESPACE, build_cache
from bot.state.shared_cache import Cache
from tests.conftest import ApiStack
from tests.fakes import FIXTURE_DIR, FakeIncidentApi

# aiocache 0.12.3 calls redis-py's deprecated setex() and close() (as in tests/test_cache.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning"),
]

MakeStack = Callable[..., ApiStack]
ALERT_ID = "da637578995287051192_756343937"  # the first alert of incident 2972395
PATH = f"/v1.0/security/alerts_v2/{ALERT_ID}"
MISSING_ID = "da000000000000000000_1"
RAW_KEY = f"{NAMESPACE}:alert:{ALERT_ID}"
TTL = 60


def service_over(stack: ApiStack, cache: Cache, *, ttl: float = TTL) -> AlertService:
    return AlertService(GraphAlertApi(stack.transport, stack.settings.graph_url), cache, ttl=ttl)


@pytest.fixture
def memory() -> SimpleMemoryCache:
    return SimpleMemoryCache(namespace=NAMESPACE, timeout=0)


@pytest_asyncio.fixture
async def redis_cache(redis_url: str) -> AsyncIterator[Cache]:
    cache = build_cache(redis_url)
    yield cache
    await cache.close()


@pytest_asyncio.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


class DownCache:
    """A cache whose every call fails as a Redis that stopped answering does."""

    def __init__(self) -> None:
        self.calls = 0

    async def _down(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        raise ConnectionRefusedError("redis is down")

    get = set = add = delete = _down

    async def close(self) -> None:
        return None


def fixture_alerts() -> list[AlertDetail]:
    return [
        read_alert(json.loads(path.read_text("utf-8"))) for path in sorted(FIXTURE_DIR.glob("alert_*.json"))
    ]


async def test_a_fetch_reads_the_alert_from_the_api(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache
) -> None:
    alert = await service_over(make_stack(), memory).get(ALERT_ID)
    assert (alert.id, alert.incident_id) == (ALERT_ID, "2972395")
    assert [(r.method, r.path) for r in incident_api.requests] == [("GET", PATH)]


async def test_a_second_get_is_served_from_the_cache(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache
) -> None:
    service = service_over(make_stack(), memory)
    first = await service.get(ALERT_ID)
    assert await service.get(ALERT_ID) is first  # memory keeps the frozen object itself
    assert await service.cached(ALERT_ID) is first
    assert incident_api.count("GET", "/alerts_v2/") == 1


async def test_the_cache_is_shared_between_services(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache
) -> None:
    stack = make_stack()
    first = await service_over(stack, memory).get(ALERT_ID)
    assert await service_over(stack, memory).get(ALERT_ID) == first
    assert incident_api.count("GET", "/alerts_v2/") == 1


async def test_an_entry_expires_after_the_ttl(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache
) -> None:
    service = service_over(make_stack(), memory, ttl=0.05)
    await service.get(ALERT_ID)
    await asyncio.sleep(0.1)
    assert await service.cached(ALERT_ID) is None
    await service.get(ALERT_ID)
    assert incident_api.count("GET", "/alerts_v2/") == 2


async def test_concurrent_gets_make_one_request(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache
) -> None:
    incident_api.latency = 0.05  # every get is still waiting when the last one starts
    service = service_over(make_stack(), memory)
    alerts = await asyncio.gather(*(service.get(ALERT_ID) for _ in range(5)))
    assert {alert.id for alert in alerts} == {ALERT_ID}
    assert incident_api.count("GET", "/alerts_v2/") == 1


@pytest.mark.parametrize(
    "bad", ["", "2972395", f"{ALERT_ID}/comments", "../incidents/2972395", f"{ALERT_ID}?x=1"]
)
async def test_a_malformed_id_sends_nothing(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache, bad: str
) -> None:
    service = service_over(make_stack(), memory)
    with pytest.raises(InvalidAlertId):
        await service.get(bad)
    with pytest.raises(InvalidAlertId):
        await service.cached(bad)
    assert incident_api.requests == []


async def test_not_found_passes_through_and_is_not_cached(
    make_stack: MakeStack, incident_api: FakeIncidentApi, memory: SimpleMemoryCache
) -> None:
    service = service_over(make_stack(), memory)
    for _ in range(2):
        with pytest.raises(NotFound) as caught:
            await service.get(MISSING_ID)
        assert caught.value.status == 404 and caught.value.request_id
    assert incident_api.count("GET", "/alerts_v2/") == 2  # a later answer may find it
    incident_api.fail_next(403, path_contains="alerts_v2")
    with pytest.raises(PermissionDenied):
        await service.get(ALERT_ID)


@pytest.mark.parametrize("alert", fixture_alerts(), ids=lambda alert: alert.id)
def test_every_fixture_alert_round_trips_through_cache_json(alert: AlertDetail) -> None:
    assert alert.evidence_kinds  # the summary and the counts are both kept
    assert AlertDetail.model_validate_json(alert.model_dump_json(by_alias=True)) == alert


def test_an_alert_with_unreadable_fields_round_trips_through_cache_json() -> None:
    raw = json.loads((FIXTURE_DIR / f"alert_{ALERT_ID}.v1.json").read_text("utf-8"))
    alert = read_alert({**raw, "firstActivityDateTime": "yesterday", "classification": 7})
    assert set(alert.unreadable_fields) == {"firstActivityDateTime", "classification"}
    assert AlertDetail.model_validate_json(alert.model_dump_json(by_alias=True)) == alert


async def test_redis_holds_json_text_that_reads_back_as_the_alert(
    make_stack: MakeStack,
    incident_api: FakeIncidentApi,
    redis_cache: Cache,
    raw_redis: aioredis.Redis,
) -> None:
    stack = make_stack()
    fetched = await service_over(stack, redis_cache).get(ALERT_ID)
    raw = await raw_redis.get(RAW_KEY)
    assert raw is not None and json.loads(raw)["incidentId"] == "2972395"
    assert 0 < await raw_redis.ttl(RAW_KEY) <= TTL
    # Another replica (a service of its own over the same Redis) reads it without asking the API.
    assert await service_over(stack, redis_cache).get(ALERT_ID) == fetched
    assert incident_api.count("GET", "/alerts_v2/") == 1


@pytest.mark.parametrize("value", [b"not json {", b'{"title": "no id"}', b"\x80\x04\x95binary, not JSON"])
async def test_an_unreadable_redis_entry_is_a_miss_and_replaced(
    make_stack: MakeStack,
    incident_api: FakeIncidentApi,
    redis_cache: Cache,
    raw_redis: aioredis.Redis,
    value: bytes,
) -> None:
    await raw_redis.set(RAW_KEY, value)
    assert (await service_over(make_stack(), redis_cache).get(ALERT_ID)).id == ALERT_ID
    raw = await raw_redis.get(RAW_KEY)
    assert raw is not None and json.loads(raw)["id"] == ALERT_ID


async def test_a_cache_that_is_down_falls_through_to_the_api(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    down = DownCache()
    service = service_over(make_stack(), down)
    assert (await service.get(ALERT_ID)).id == ALERT_ID
    assert (await service.get(ALERT_ID)).id == ALERT_ID
    assert await service.cached(ALERT_ID) is None
    assert incident_api.count("GET", "/alerts_v2/") == 2 and down.calls > 0


async def test_open_services_reads_alerts_from_the_configured_api(
    settings: Settings, incident_api: FakeIncidentApi
) -> None:
    async with open_services(settings) as services:
        alert = await services.alerts.get(ALERT_ID)
        assert alert.incident_id == "2972395" and await services.alerts.get(ALERT_ID) == alert
    assert incident_api.count("GET", "/alerts_v2/") == 1


async def test_a_demo_incidents_alert_is_found() -> None:
    incident = await DemoIncidentApi().get_incident("2972395")
    alert_id = incident.alerts[0].id
    assert alert_id in DemoAlertApi().alert_ids()
    async with open_services(load_settings(incident_source="demo")) as services:
        alert = await services.alerts.get(alert_id)
        assert (alert.id, alert.title, alert.incident_id) == (alert_id, incident.alerts[0].title, "2972395")
        assert alert.evidence == incident.alerts[0].evidence
        with pytest.raises(NotFound, match=MISSING_ID):
            await services.alerts.get(MISSING_ID)
        with pytest.raises(InvalidAlertId):
            await services.alerts.get("2972395")


async def test_every_demo_alert_id_reads_as_its_incidents() -> None:
    incidents = DemoIncidentApi()
    api = DemoAlertApi(incidents)
    assert api.alert_ids()
    for alert_id in api.alert_ids():
        alert = await api.get_alert(alert_id)
        assert alert.incident_id is not None
        incident = await incidents.get_incident(alert.incident_id)
        assert alert.id == alert_id and alert_id in {a.id for a in incident.alerts}
