"""Where cache entries live: an in-process LRU (`memory`) or Redis (`redis://host:port/db`)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """Byte store with per-key TTL. Methods may raise; the caller turns failures into misses.

    Optional: `delete_prefix(prefix) -> int`, used by `Cache.clear()`.
    """

    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float | None) -> None: ...

    async def aget(self, key: str) -> bytes | None: ...

    async def aset(self, key: str, value: bytes, ttl_s: float | None) -> None: ...

    def close(self) -> None: ...


def open_backend(spec: str | Backend, *, timeout_ms: float, max_entries: int, max_bytes: int) -> Backend:
    """Resolve `"memory"`, a `redis://`, `rediss://` or `unix://` URL, or pass a Backend through."""
    if not isinstance(spec, str):
        if not isinstance(spec, Backend):
            raise TypeError(f"backend must be 'memory', a redis:// URL or a Backend, not {type(spec).__name__}")
        return spec
    if spec == "memory":
        from tokentrail.cache.backends.memory import MemoryBackend

        return MemoryBackend(max_entries=max_entries, max_bytes=max_bytes)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from tokentrail.cache.backends.redis import RedisBackend

        return RedisBackend(spec, timeout_ms=timeout_ms)
    raise ValueError(f"unknown cache backend {spec!r}: use 'memory' or a redis://host:port/db URL")
