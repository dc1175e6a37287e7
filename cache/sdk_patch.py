"""Hook the cache into the openai SDK at the HTTP-send level, for openai 1.x, 2.x and 3.x.

openai 3.x and recent 2.x send every attempt through `SyncAPIClient._send_request` /
`AsyncAPIClient._send_request`; the cache wraps those. Older SDKs (1.x, early 2.x) call
`self._client.send(...)` inline, so there the cache wraps `httpx.Client.send` /
`httpx.AsyncClient.send` and acts only on requests that carry the SDK's `X-Stainless-Lang`
header, leaving every other httpx user in the process alone.

Working below the retry loop and above the transport means a hit is parsed by the SDK itself
(streams become real `Stream`/`AsyncStream` objects) and instrumentation, which reads the final
response, sees the hit headers. The wrappers cost one context-variable read when no cache is on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tokentrail.cache import counters
from tokentrail.cache.api import Cache, Plan, current
from tokentrail.cache.entry import Entry
from tokentrail.cache.recording import record_async, record_sync
from tokentrail.cache.replay import build_response

_MARK = "__tokentrail_cache_original__"
_lock = threading.Lock()
_installed: list[tuple[type, str, Any]] = []


def _plan(cache: Cache, request: Any) -> tuple[Plan | None, bool]:
    """(plan, look up?) — an SDK retry of a miss is recorded but not looked up again."""
    plan = cache.plan(request)
    retry = request.headers.get("x-stainless-retry-count", "0") not in ("0", "")
    return plan, plan is not None and not retry


def _hit(request: Any, entry: Entry | None, started: float) -> Any:
    if entry is None:
        counters.incr("misses")
        return None
    counters.incr("hits")
    counters.add_saved_ms(entry.original_ms)
    return build_response(request, entry, started)


# In both handlers the send itself stays outside every `try`: its errors belong to the SDK's own
# retry policy, and a cache that caught them would send the request twice.

def handle_sync(request: Any, stream: bool, send: Callable[[], Any]) -> Any:
    cache = current()
    if cache is None:
        return send()
    plan, response = None, None
    try:
        plan, look = _plan(cache, request)
        if look:
            started = time.perf_counter()
            counters.incr("lookups")
            response = _hit(request, cache.store.lookup(plan.digest), started)
            if response is not None and not stream:
                response.read()
    except Exception as err:  # noqa: BLE001 - the cache must never fail a call
        cache.store.internal_error(err)
        plan, response = None, None
    if response is not None:
        return response
    if plan is None:
        return send()
    started = time.perf_counter()
    response = send()
    try:
        return record_sync(cache.store, plan, response, streamed=stream, started=started)
    except Exception as err:  # noqa: BLE001
        cache.store.internal_error(err)
        return response


async def handle_async(request: Any, stream: bool, send: Callable[[], Awaitable[Any]]) -> Any:
    cache = current()
    if cache is None:
        return await send()
    plan, response = None, None
    try:
        plan, look = _plan(cache, request)
        if look:
            started = time.perf_counter()
            counters.incr("lookups")
            response = _hit(request, await cache.store.alookup(plan.digest), started)
            if response is not None and not stream:
                await response.aread()
    except Exception as err:  # noqa: BLE001
        cache.store.internal_error(err)
        plan, response = None, None
    if response is not None:
        return response
    if plan is None:
        return await send()
    started = time.perf_counter()
    response = await send()
    try:
        return await record_async(cache.store, plan, response, streamed=stream, started=started)
    except Exception as err:  # noqa: BLE001
        cache.store.internal_error(err)
        return response


def _install(cls: type, name: str, original: Any, wrapper: Any) -> None:
    """Put `wrapper` in place of `cls.name`, marked with and remembered by its original."""
    setattr(wrapper, _MARK, original)
    wrapper.__doc__ = original.__doc__
    setattr(cls, name, wrapper)
    _installed.append((cls, name, original))


def _wrap_send_request(cls: type, is_async: bool) -> None:
    original = cls.__dict__["_send_request"]
    if getattr(original, _MARK, None) is not None:
        return
    if is_async:

        async def _send_request(self: Any, request: Any, *, stream: bool, **kwargs: Any) -> Any:
            if current() is None:
                return await original(self, request, stream=stream, **kwargs)
            return await handle_async(request, stream, lambda: original(self, request, stream=stream, **kwargs))

        wrapper: Any = _send_request
    else:

        def _send_request(self: Any, request: Any, *, stream: bool, **kwargs: Any) -> Any:
            if current() is None:
                return original(self, request, stream=stream, **kwargs)
            return handle_sync(request, stream, lambda: original(self, request, stream=stream, **kwargs))

        wrapper = _send_request
    _install(cls, "_send_request", original, wrapper)


def _wrap_httpx_send(cls: type, is_async: bool) -> None:
    original = cls.__dict__["send"]
    if getattr(original, _MARK, None) is not None:
        return
    if is_async:

        async def send(self: Any, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
            if current() is None or "x-stainless-lang" not in request.headers:
                return await original(self, request, stream=stream, **kwargs)
            return await handle_async(request, stream, lambda: original(self, request, stream=stream, **kwargs))

        wrapper: Any = send
    else:

        def send(self: Any, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
            if current() is None or "x-stainless-lang" not in request.headers:
                return original(self, request, stream=stream, **kwargs)
            return handle_sync(request, stream, lambda: original(self, request, stream=stream, **kwargs))

        wrapper = send
    _install(cls, "send", original, wrapper)


def install() -> None:
    """Patch the SDK once per process (idempotent); raises ImportError without openai."""
    with _lock:
        if _installed:
            return
        try:
            from openai import _base_client
        except ImportError as err:
            raise ImportError("tokentrail.cache needs the openai package: pip install openai") from err
        if "_send_request" in vars(_base_client.SyncAPIClient):
            _wrap_send_request(_base_client.SyncAPIClient, is_async=False)
            _wrap_send_request(_base_client.AsyncAPIClient, is_async=True)
        else:
            import httpx

            _wrap_httpx_send(httpx.Client, is_async=False)
            _wrap_httpx_send(httpx.AsyncClient, is_async=True)


def uninstall() -> None:
    """Restore the original SDK methods (for tests; `disable()` leaves the cheap wrappers in place)."""
    with _lock:
        while _installed:
            cls, name, original = _installed.pop()
            setattr(cls, name, original)
