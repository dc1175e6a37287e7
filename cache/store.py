"""The guarded store: backend calls that never raise, with breaker, counters and log-once.

Everything the SDK patch asks of the cache goes through here, so one place decides what a backend
failure means: a miss (for a read) or a skipped write, counted and logged once, never an error the
application sees.
"""

from __future__ import annotations

from typing import Any

from tokentrail.cache import counters
from tokentrail.cache.backends import Backend
from tokentrail.cache.breaker import CircuitBreaker
from tokentrail.cache.entry import CorruptEntry, Entry, decode, encode


def _kind(err: BaseException) -> str:
    """Classify a backend failure without importing redis (the memory backend does not need it)."""
    if isinstance(err, CorruptEntry):
        return "corrupt"
    names = {c.__name__ for c in type(err).__mro__}
    if "TimeoutError" in names:  # builtin, asyncio's (3.10) and redis-py's
        return "timeout"
    if names & {"ConnectionError", "ConnectionRefusedError", "OSError", "BusyLoadingError"}:
        return "connection"
    return "other"


class CacheStore:
    def __init__(self, backend: Backend, *, namespace: str, ttl_s: float | None,
                 max_entry_bytes: int, breaker_cooldown_s: float = 1.0) -> None:
        self.backend = backend
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.max_entry_bytes = max_entry_bytes
        self.breaker = CircuitBreaker(base_cooldown_s=breaker_cooldown_s,
                                      max_cooldown_s=max(30.0, breaker_cooldown_s))
        self._log = counters.LogOnce(f"{backend.name} backend")

    def key(self, digest: str) -> str:
        return f"tokentrail:cache:{self.namespace}:{digest}"

    # -- reads -------------------------------------------------------------------------------
    def lookup(self, digest: str) -> Entry | None:
        if not self._allowed():
            return None
        try:
            raw = self.backend.get(self.key(digest))
        except Exception as err:  # noqa: BLE001 - any backend failure is a miss
            self._failed(err)
            return None
        return self._decoded(raw, digest)

    async def alookup(self, digest: str) -> Entry | None:
        if not self._allowed():
            return None
        try:
            raw = await self.backend.aget(self.key(digest))
        except Exception as err:  # noqa: BLE001
            self._failed(err)
            return None
        return self._decoded(raw, digest)

    # -- writes ------------------------------------------------------------------------------
    def save(self, entry: Entry) -> None:
        value = self._encoded(entry)
        if value is None or not self._allowed():
            return
        try:
            self.backend.set(self.key(entry.digest), value, self.ttl_s)
        except Exception as err:  # noqa: BLE001
            self._failed(err)
            return
        self._stored()

    async def asave(self, entry: Entry) -> None:
        value = self._encoded(entry)
        if value is None or not self._allowed():
            return
        try:
            await self.backend.aset(self.key(entry.digest), value, self.ttl_s)
        except Exception as err:  # noqa: BLE001
            self._failed(err)
            return
        self._stored()

    # -- helpers -----------------------------------------------------------------------------
    def _allowed(self) -> bool:
        if self.breaker.allow():
            return True
        counters.incr("breaker_skipped")
        return False

    def _decoded(self, raw: Any, digest: str) -> Entry | None:
        if self.breaker.success():
            self._log.recovered()
        if raw is None:
            return None
        try:
            return decode(bytes(raw), digest)
        except CorruptEntry as err:
            # Corrupt data says nothing about reachability: count it, do not open the breaker.
            counters.incr("errors")
            counters.incr("errors_corrupt")
            self._log.failure("returned corrupt data", err)
            return None

    def _encoded(self, entry: Entry) -> bytes | None:
        value = encode(entry)
        if len(value) > self.max_entry_bytes:
            counters.incr("not_stored")
            return None
        return value

    def _stored(self) -> None:
        if self.breaker.success():
            self._log.recovered()
        counters.incr("stores")

    def _failed(self, err: BaseException) -> None:
        kind = _kind(err)
        counters.incr("errors")
        counters.incr(f"errors_{kind}")
        if self.breaker.failure():
            counters.incr("breaker_open")
        self._log.failure({"timeout": "timed out", "connection": "is unreachable"}.get(kind, "failed"), err)

    def internal_error(self, err: BaseException) -> None:
        """A bug or surprise in the cache's own code: counted and logged once, the call proceeds."""
        counters.incr("errors")
        counters.incr("errors_other")
        self._log.failure("failed", err)

    def close(self) -> None:
        self.backend.close()
