"""Redis backend with short socket timeouts and no client-side retries.

Retrying is the wrong reflex for a cache: a miss costs one API call, a slow cache costs every call.
So each command gets `timeout_ms` for connect and for reply, redis-py's own retries are off, and
the circuit breaker above this class (see `tokentrail.cache.store`) stops calling a dead server.
Plain `redis://` URLs use the lean clients in `resp.py` (a hit is one GET, and redis-py's
per-command Python overhead is most of its cost); other URLs use redis-py. Async clients are one per
event loop (its connections are bound to the loop
that opened them), so a slow Redis never blocks the host's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator
from typing import Any

from tokentrail.cache.backends.resp import AsyncRespClient, RespClient, plain_tcp_address


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, *, timeout_ms: float = 50.0) -> None:
        import redis  # imported here: the memory backend must not need redis-py

        self.url = url
        self.timeout_s = timeout_ms / 1000.0
        self._redis = redis
        self._sync: Any = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _options(self) -> dict[str, Any]:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return {
            "socket_timeout": self.timeout_s,
            "socket_connect_timeout": self.timeout_s,
            "retry": Retry(NoBackoff(), 0),
            "retry_on_timeout": False,
            "health_check_interval": 0,
        }

    def _client(self) -> Any:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    address = plain_tcp_address(self.url)
                    self._sync = (RespClient(address, self.timeout_s) if address is not None
                                  else self._redis.Redis.from_url(self.url, **self._options()))
        return self._sync

    async def _aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        held = self._async.get(loop)
        if held is None:
            address = plain_tcp_address(self.url)
            if address is not None:
                client: Any = AsyncRespClient(address)
            else:
                import redis.asyncio

                client = redis.asyncio.Redis.from_url(self.url, **self._options())
            # The loop closes its async generators on shutdown (asyncio.run, pytest-asyncio), so a
            # parked generator is a loop-shutdown hook: its `finally` closes this loop's connections
            # while the loop still runs, instead of leaving them to the garbage collector.
            closer = _close_on_loop_shutdown(client)
            await closer.__anext__()
            held = self._async[loop] = (client, closer)
        return held[0]

    def get(self, key: str) -> bytes | None:
        return self._client().get(key)

    def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        self._client().set(key, value, px=px)

    async def aget(self, key: str) -> bytes | None:
        # The socket timeout bounds each read; wait_for bounds the whole command (connect included).
        return await asyncio.wait_for(self._aget(key), self.timeout_s)

    async def aset(self, key: str, value: bytes, ttl_s: float | None) -> None:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        await asyncio.wait_for(self._aset(key, value, px), self.timeout_s)

    def delete_prefix(self, prefix: str) -> int:
        """UNLINK every key under `prefix` (SCAN, so a large cache does not block the server)."""
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
        client = self._redis.Redis.from_url(self.url, socket_timeout=max(self.timeout_s, 5.0))
        deleted, batch = 0, []
        try:
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    deleted += client.unlink(*batch)
                    batch = []
            if batch:
                deleted += client.unlink(*batch)
        finally:
            client.close()
        return deleted

    async def _aget(self, key: str) -> bytes | None:
        return await (await self._aclient()).get(key)

    async def _aset(self, key: str, value: bytes, px: int | None) -> None:
        await (await self._aclient()).set(key, value, px=px)

    async def aclose(self) -> None:
        """Close this loop's async client now (it is also closed when the loop shuts down)."""
        held = self._async.pop(asyncio.get_running_loop(), None)
        if held is not None:
            await held[1].aclose()

    def close(self) -> None:
        """Close the sync pool; async clients are closed by `aclose()` or with their loop."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()


async def _close_on_loop_shutdown(client: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await client.aclose()
