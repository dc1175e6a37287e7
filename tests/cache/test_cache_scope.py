"""enable()/disable() process-wide, and the same calls as context managers and decorators."""

from __future__ import annotations

import asyncio
import threading

import pytest
import tokentrail.cache as cache
from cache_calls import acall, call


def test_enable_then_disable_process_wide(client):
    handle = cache.enable("memory")
    assert cache.current() is handle
    assert not call(client, "chat", False).hit
    assert call(client, "chat", False).hit
    cache.disable()
    assert cache.current() is None
    assert not call(client, "chat", False).hit


def test_context_manager_scopes_caching_to_the_block(client):
    with cache.enable("memory") as handle:
        assert cache.current() is handle
        assert not call(client, "chat", False).hit
        assert call(client, "chat", False).hit
    assert cache.current() is None
    assert not call(client, "chat", False).hit


def test_context_manager_restores_the_process_wide_cache(client):
    outer = cache.enable("memory", namespace="outer")
    with cache.enable("memory", namespace="inner") as inner:
        assert cache.current() is inner
    assert cache.current() is outer


def test_disable_as_context_manager(client):
    handle = cache.enable("memory")
    call(client, "chat", False)
    with cache.disable():
        assert cache.current() is None
        assert not call(client, "chat", False).hit
    assert cache.current() is handle
    assert call(client, "chat", False).hit


def test_decorator_sync(client):
    @cache.enable("memory")
    def ask() -> bool:
        return call(client, "chat", False).hit

    assert cache.current() is None  # decorating did not switch the process on
    assert ask() is False and ask() is True
    assert not call(client, "chat", False).hit  # outside the function: no cache


async def test_decorator_async(aclient):
    @cache.enable("memory")
    async def ask() -> bool:
        return (await acall(aclient, "responses", True)).hit

    assert (await ask(), await ask()) == (False, True)
    assert cache.current() is None


def test_disable_decorator(client):
    cache.enable("memory")

    @cache.disable()
    def uncached() -> bool:
        return call(client, "chat", False).hit

    call(client, "chat", False)
    assert uncached() is False
    assert call(client, "chat", False).hit


async def test_scopes_are_per_task(aclient):
    """A block's cache is invisible to a concurrent task outside it (context variables)."""
    inside_ready, outside_done = asyncio.Event(), asyncio.Event()
    seen: dict[str, object] = {}

    async def inside() -> None:
        async with cache.enable("memory") as handle:
            seen["inside"] = cache.current() is handle
            inside_ready.set()
            await outside_done.wait()

    async def outside() -> None:
        await inside_ready.wait()
        seen["outside"] = cache.current()
        seen["outside_hits"] = [(await acall(aclient, "chat", False)).hit for _ in range(2)]
        outside_done.set()

    await asyncio.gather(inside(), outside())
    assert seen == {"inside": True, "outside": None, "outside_hits": [False, False]}


def test_scopes_are_per_thread(client):
    seen = []
    with cache.enable("memory"):
        t = threading.Thread(target=lambda: seen.append(cache.current()))
        t.start()
        t.join()
    assert seen == [None]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"backend": "mongodb://x"}, "unknown cache backend"),
    ({"ttl": 0}, "ttl"),
    ({"ttl": -5}, "ttl"),
    ({"namespace": ""}, "namespace"),
    ({"timeout_ms": 0}, "timeout_ms"),
    ({"ignore_keys": ["ok", ""]}, "ignore_keys"),
    ({"breaker_cooldown_s": 0}, "breaker_cooldown_s"),
])
def test_bad_settings_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cache.enable(**kwargs)
    assert cache.current() is None


def test_bad_backend_object():
    with pytest.raises(TypeError, match="backend"):
        cache.enable(backend=42)  # type: ignore[arg-type]


def test_single_ignore_key_string_is_one_key():
    assert cache.enable("memory", ignore_keys="user").ignore_keys == ("user",)


def test_scoped_handles_never_come_back_as_the_process_wide_cache():
    """enable() twice, then both used as decorators: neither may end up process-wide."""
    first = cache.enable("memory", namespace="first")
    second = cache.enable("memory", namespace="second")
    seen = []
    first(lambda: seen.append(cache.current()))()
    assert cache.current() is second  # still the process-wide one: first was never it any more
    second(lambda: seen.append(cache.current()))()
    assert seen == [first, second]
    assert cache.current() is None


async def test_decorated_coroutine_function_runs_inside_the_scope():
    handle = cache.enable("memory")

    @handle
    async def inside():
        return cache.current()

    assert await inside() is handle and cache.current() is None


async def test_one_handle_shared_by_concurrent_tasks(aclient):
    """A module-level handle entered by many request handlers at once: each task gets its own
    scope, exits in any order, and the handle keeps working afterwards."""
    shared = cache.enable("memory")
    cache.disable()
    gate = asyncio.Event()

    async def handler(delay: float) -> None:
        async with shared:
            await gate.wait()
            await asyncio.sleep(delay)  # exit in another order than entry
            assert cache.current() is shared
            await acall(aclient, "chat", False)

    tasks = [asyncio.create_task(handler(d)) for d in (0.03, 0.0, 0.02, 0.01)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*tasks)  # concurrent identical misses all go to the API (no coalescing)
    assert cache.stats()["lookups"] == 4  # every task looked up inside its own scope
    assert cache.current() is None
    async with shared:
        assert (await acall(aclient, "chat", False)).hit
