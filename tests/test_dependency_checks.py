"""Start-up self-checks where the bot relies on more than a dependency's public API: each fails loudly,
naming the dependency and its version, instead of a silent 503 after an upgrade."""

from __future__ import annotations

from typing import Any

import aiocache
import pytest
import redis
from aiocache import RedisCache

from bot.errors import DependencyChanged
from bot.state.cache import build_cache, check_aiocache
from bot.state.redis_pipeline import AutoPipelineRedis


def test_the_installed_aiocache_passes() -> None:
    check_aiocache()


def test_an_aiocache_without_the_overridden_method_stops_the_start() -> None:
    class Moved(RedisCache):  # type: ignore[misc]
        _set = None  # as if a release renamed it

    with pytest.raises(DependencyChanged) as caught:
        check_aiocache(Moved)
    assert f"aiocache {aiocache.__version__}" in str(caught.value) and "RedisCache._set" in str(caught.value)


def test_an_aiocache_whose_set_changed_its_arguments_stops_the_start() -> None:
    class Changed(RedisCache):  # type: ignore[misc]
        async def _set(self, key: str, value: Any, expire: float | None = None) -> Any:  # type: ignore[override]
            return None

    with pytest.raises(DependencyChanged, match="_cas_token"):
        check_aiocache(Changed)


def test_a_redis_cache_is_built_on_the_installed_aiocache(redis_url: str) -> None:
    assert build_cache(redis_url) is not None


async def test_the_installed_redis_py_batches_one_turns_commands(redis_url: str) -> None:
    client = AutoPipelineRedis.from_url(redis_url)
    try:
        await client.self_check()
        assert isinstance(client, AutoPipelineRedis) and client.pipelines_sent == 1
    finally:
        await client.aclose()


async def test_a_redis_py_that_bypasses_execute_command_stops_the_start(redis_url: str) -> None:
    class Bypassing(AutoPipelineRedis):
        async def get(self, name: Any) -> Any:  # as if commands stopped going through execute_command
            return None

    client = Bypassing.from_url(redis_url)
    try:
        with pytest.raises(DependencyChanged) as caught:
            await client.self_check()
        assert f"redis-py {redis.__version__}" in str(caught.value)
    finally:
        await client.aclose()


async def test_an_unreachable_redis_is_not_a_changed_dependency() -> None:
    client = AutoPipelineRedis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    try:
        await client.self_check()  # no answer: nothing to check now
    finally:
        await client.aclose()
