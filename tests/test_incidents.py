"""IncidentService over the real API client and a real SimpleMemoryCache: single-flight, TTL, redirects,
writes that refresh the cache, and stale copies while the API throttles or is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.errors import ApiError, InvalidIncidentId, NotFound, Throttled, Unavailable
from bot.graph.api import GRAPH_PERMISSIONS, GraphIncidentApi
from bot.graph.transport import ApiTransport, MustWait, RetryPolicy
from bot.incidents.service import IncidentService
from bot.services import STALE_KEEP_SECONDS, Services
from bot.state.budget import MemoryBudget
from bot.state.cache import SnapshotStore, build_cache
from tests.conftest import ApiStack, Clock, copy_of
from tests.fakes import FakeIncidentApi

MakeStack = Callable[..., ApiStack]
Load = Callable[[str], dict[str, Any]]
ID = "2972395"
TTL = 60


class World:
    """The service under test, with the clock and the fake it talks to."""

    def __init__(self, stack: ApiStack, fake: FakeIncidentApi) -> None:
        self.clock = Clock()
        self.stack = stack
        self.fake = fake
        self.store = SnapshotStore(build_cache("memory://"), keep_seconds=STALE_KEEP_SECONDS)
        self.service = IncidentService(stack.api, self.store, ttl=TTL, now=self.clock)

    def gets(self, incident_id: str = ID) -> int:
        return self.fake.count("GET", f"/security/incidents/{incident_id}")


@pytest.fixture
def world(make_stack: MakeStack, incident_api: FakeIncidentApi) -> World:
    return World(make_stack(incident_api_retries=2), incident_api)


def with_budget(world: World) -> World:
    """The world's service over a transport that shares a budget: a 429 pauses it, gets raise MustWait."""
    settings = world.stack.settings
    policy = RetryPolicy(retries=settings.incident_api_retries, deadline=settings.incident_api_deadline)
    transport = ApiTransport(
        world.stack.http, permissions=GRAPH_PERMISSIONS, policy=policy, budget=MemoryBudget()
    )
    api = GraphIncidentApi(transport, settings.graph_url)
    world.service = IncidentService(api, world.store, ttl=TTL, now=world.clock)
    return world


@pytest.fixture
def budgeted(world: World) -> World:
    return with_budget(world)


@pytest.fixture
def twenty_ids(incident_api: FakeIncidentApi, load_fixture: Load) -> list[str]:
    base = load_fixture("2972395.v1")
    ids = [str(3000000 + n) for n in range(20)]
    for incident_id in ids:
        incident_api.put("v1.0", copy_of(base, incident_id))
    return ids


async def test_fifty_concurrent_gets_of_one_id_make_one_request(world: World) -> None:
    snapshots = await asyncio.gather(*(world.service.get(ID) for _ in range(50)))
    assert world.gets() == 1
    assert {s.incident.id for s in snapshots} == {ID} and all(not s.stale for s in snapshots)


async def test_two_hundred_concurrent_gets_over_twenty_ids_make_twenty_requests(
    world: World, twenty_ids: list[str]
) -> None:
    wanted = [twenty_ids[n % 20] for n in range(200)]
    snapshots = await asyncio.gather(*(world.service.get(i) for i in wanted))
    assert [s.incident.id for s in snapshots] == wanted
    assert world.fake.count("GET") == 20


async def test_a_get_within_the_ttl_is_served_from_cache_and_after_it_is_fetched(world: World) -> None:
    first = await world.service.get(ID)
    world.clock.advance(TTL / 2)
    assert await world.service.get(ID) is first
    assert world.gets() == 1
    world.clock.advance(TTL / 2 + 1)
    later = await world.service.get(ID)
    assert world.gets() == 2 and later.fetched_at == world.clock()
    assert later.age_seconds(world.clock()) == 0.0


async def test_cached_answers_only_a_fresh_copy_and_never_asks_the_api(world: World) -> None:
    assert await world.service.cached(ID) is None  # nothing cached: the caller's job fetches
    assert world.gets() == 0
    first = await world.service.get(ID)
    world.clock.advance(TTL / 2)
    assert await world.service.cached(ID) == first
    world.clock.advance(TTL / 2 + 1)
    assert await world.service.cached(ID) is None  # expired
    assert world.gets() == 1


async def test_a_read_at_least_as_new_as_a_change_takes_a_kept_copy_however_old(world: World) -> None:
    first = await world.service.get("4242")  # redirected to 2972395: both read, both kept
    version = first.incident.last_update_date_time
    assert version is not None and first.incident.id == ID
    world.clock.advance(10 * TTL)  # long expired, still kept: no read
    assert await world.service.get(ID, at_least=version) == first.model_copy(update={"merged_from": ()})
    assert world.gets() == 1
    # a kept copy that predates the change is read again, whatever its age
    world.clock.advance(-10 * TTL)
    later = await world.service.get(ID, at_least=version + timedelta(microseconds=1))
    assert world.gets() == 2 and later.fetched_at == world.clock()
    # the change's version is the asked incident's: a merged one is followed as `get` does
    merged = await world.service.get("4242", at_least=version - timedelta(days=9999))
    assert merged.merged_from == ("4242",) and merged.incident.id == ID
    assert world.gets() == 2


async def test_cached_near_expiry_answers_and_refreshes_in_the_background(world: World) -> None:
    first = await world.service.get(ID)
    world.clock.advance(TTL * 0.9)
    assert await world.service.cached(ID) == first
    await asyncio.sleep(0.2)
    assert world.gets() == 2


async def test_cached_leaves_a_merged_incident_to_get(world: World) -> None:
    await world.service.get("4242")  # redirected to 2972395
    assert await world.service.cached("4242") is None
    assert await world.service.cached(ID) is not None


async def test_fresh_skips_the_cache(world: World) -> None:
    await world.service.get(ID)
    await world.service.get(ID, fresh=True)
    assert world.gets() == 2


async def test_update_replaces_the_cached_copy_and_keeps_its_alerts(world: World) -> None:
    await world.service.get(ID)
    updated = (await world.service.update(ID, {"assignedTo": "megan@contoso.com"})).snapshot
    assert updated.incident.assigned_to == "megan@contoso.com"
    assert len(updated.incident.alerts) == 3  # the PATCH answer has none: the cached ones are kept
    again = await world.service.get(ID)
    assert again.incident.assigned_to == "megan@contoso.com" and len(again.incident.alerts) == 3
    assert world.gets() == 1 and world.fake.count("PATCH") == 1


async def test_a_graph_comment_is_one_post_and_one_get_then_cached(world: World) -> None:
    await world.service.get(ID)
    after = (await world.service.add_comment(ID, "Isolated WKSTN-0042")).snapshot
    assert after.incident.comments[-1].comment == "Isolated WKSTN-0042"
    again = await world.service.get(ID)
    assert again.incident.comments[-1].comment == "Isolated WKSTN-0042"
    assert (world.fake.count("POST"), world.gets()) == (1, 2)


async def test_a_defender_comment_needs_no_extra_read(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    world = World(make_stack(incident_api="defender"), incident_api)
    await world.service.get(ID)
    after = (await world.service.add_comment(ID, "Isolated WKSTN-0042")).snapshot
    assert after.incident.comments[-1].comment == "Isolated WKSTN-0042" and len(after.incident.alerts) == 3
    assert (await world.service.get(ID)).incident.comments[-1].comment == "Isolated WKSTN-0042"
    assert (incident_api.count("PATCH"), incident_api.count("GET")) == (1, 1)


async def test_a_merged_incident_leads_to_its_target(world: World) -> None:
    snapshot = await world.service.get("4242")
    assert snapshot.incident.id == ID and snapshot.merged_from == ("4242",)
    assert (world.gets("4242"), world.gets(ID)) == (1, 1)


async def test_a_redirect_loop_ends(world: World) -> None:
    snapshot = await asyncio.wait_for(world.service.get("5001"), timeout=5)
    assert snapshot.incident.id in {"5001", "5002"}
    assert world.fake.count("GET") == 2


async def test_redirects_are_followed_for_three_hops_and_no_more(
    world: World, incident_api: FakeIncidentApi, load_fixture: Load
) -> None:
    base = load_fixture("4242.v1")
    for n in range(1, 9):  # 9001 → 9002 → … → 9009, and 9104 ends a three-hop chain from 9101
        incident_api.put("v1.0", copy_of(base, str(9000 + n), redirectIncidentId=str(9001 + n)))
    for n in range(1, 4):
        incident_api.put("v1.0", copy_of(base, str(9100 + n), redirectIncidentId=str(9101 + n)))
    incident_api.put("v1.0", copy_of(load_fixture("2972395.v1"), "9104"))
    reached = await world.service.get("9101")
    assert reached.incident.id == "9104" and reached.merged_from == ("9101", "9102", "9103")
    stopped = await world.service.get("9001")
    assert stopped.incident.id == "9004" and stopped.merged_from == ("9001", "9002", "9003")
    assert world.gets("9005") == 0


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (503, None)])
async def test_a_cached_copy_is_served_stale_while_the_api_fails(
    world: World, status: int, retry_after: int | None
) -> None:
    fetched = await world.service.get(ID)
    world.clock.advance(TTL + 30)
    world.fake.fail_next(status, count=3, retry_after=retry_after)  # the try and both retries
    snapshot = await world.service.get(ID)
    assert snapshot.stale and snapshot.incident == fetched.incident
    assert snapshot.age_seconds(world.clock()) == TTL + 30
    assert world.gets() == 1 + 3  # the first fetch, then one try and two retries
    recovered = await world.service.get(ID)
    assert not recovered.stale and recovered.age_seconds(world.clock()) == 0.0


async def test_a_429_with_a_copy_on_hand_answers_stale_at_once_and_refreshes_when_the_api_allows(
    budgeted: World,
) -> None:
    world = budgeted
    fetched = await world.service.get(ID)
    world.clock.advance(TTL + 30)
    world.fake.fail_next(429, count=None, retry_after=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    snapshot = await world.service.get(ID)
    assert snapshot.stale and snapshot.incident == fetched.incident
    assert loop.time() - started < 0.4  # the Retry-After (0.5 s) was not waited out
    assert world.gets() == 2  # the first fetch and the one 429, not retried
    assert (await world.service.get(ID)).stale and world.gets() == 2  # during the pause: no request
    world.fake.stop_failing()
    await asyncio.sleep(0.75)  # the refresh scheduled for the end of the pause
    assert world.gets() == 3
    refreshed = await world.service.get(ID)
    assert not refreshed.stale and refreshed.fetched_at == world.clock() and world.gets() == 3
    assert (world.service.stats["stale"], world.service.stats["refresh"]) == (2, 1)


async def test_a_429_with_nothing_cached_is_waited_out_and_every_caller_told_first(budgeted: World) -> None:
    world = budgeted
    world.fake.fail_next(429, count=1, retry_after=0.5)
    told: list[tuple[str, float]] = []

    def teller(name: str) -> Callable[[float], Awaitable[None]]:
        async def tell(seconds: float) -> None:
            told.append((name, seconds))

        return tell

    first, joined = await asyncio.gather(
        world.service.get(ID, on_wait=teller("first")), world.service.get(ID, on_wait=teller("joined"))
    )
    assert first is joined and not first.stale
    assert sorted(name for name, _ in told) == ["first", "joined"]
    assert all(0.3 < seconds <= 0.5 for _, seconds in told), told
    sent, again = [r.time for r in world.fake.requests if r.method == "GET"]
    assert again - sent >= 0.5


async def test_a_wait_past_the_deadline_is_not_waited_and_says_how_long(
    make_stack: MakeStack, incident_api: FakeIncidentApi
) -> None:
    world = with_budget(World(make_stack(incident_api_deadline=0.5), incident_api))
    incident_api.fail_next(429, count=1, retry_after=1)
    told: list[float] = []

    async def tell(seconds: float) -> None:
        told.append(seconds)

    with pytest.raises(MustWait) as caught:
        await world.service.get(ID, on_wait=tell)
    assert caught.value.retry_after == 1.0 and told == [] and world.gets() == 1


@pytest.mark.parametrize(("status", "error_type"), [(429, Throttled), (503, Unavailable)])
async def test_without_a_cached_copy_the_error_propagates(
    world: World, status: int, error_type: type[ApiError]
) -> None:
    world.fake.fail_next(status, count=10, retry_after=7)
    with pytest.raises(error_type) as caught:
        await world.service.get(ID)
    assert caught.value.retry_after == 7.0


async def test_not_found_is_shared_by_concurrent_callers_and_not_cached(world: World) -> None:
    results = await asyncio.gather(*(world.service.get("999") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, NotFound) for r in results)
    assert world.gets("999") == 1
    with pytest.raises(NotFound):
        await world.service.get("999")
    assert world.gets("999") == 2


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(world: World) -> None:
    world.fake.latency = 0.2
    quitter = asyncio.create_task(world.service.get(ID))
    stayer = asyncio.create_task(world.service.get(ID))
    await asyncio.sleep(0.05)
    quitter.cancel()
    snapshot = await stayer
    assert quitter.cancelled() and snapshot.incident.id == ID
    world.fake.latency = 0.0
    assert await world.service.get(ID) is snapshot  # the fetch finished and was cached
    assert world.gets() == 1


async def test_an_invalid_id_is_refused_before_any_request(world: World) -> None:
    for bad in ("1/comments", "abc", ""):
        with pytest.raises(InvalidIncidentId):
            await world.service.get(bad)
        with pytest.raises(InvalidIncidentId):
            await world.service.add_comment(bad, "x")
    assert world.fake.requests == []


async def test_probe_reads_one_incident(world: World) -> None:
    await world.service.probe()
    (request,) = world.fake.requests
    assert request.query["$top"] == "1"


async def test_open_services_wires_the_service_to_the_configured_api(
    services: Services, incident_api: FakeIncidentApi
) -> None:
    assert not services.demo and services.tokens is not None
    snapshots = await asyncio.gather(*(services.incidents.get(ID) for _ in range(10)))
    assert {s.incident.id for s in snapshots} == {ID}
    assert incident_api.count("GET") == 1 and services.tokens.token_requests == 1
