"""Process-wide cache counters and log-once warnings.

A failing backend must not flood the host's logs: each kind of failure is logged once (per
backend) until the backend recovers, and counted every time so `tokentrail.cache.stats()` shows
the real rate.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

log = logging.getLogger("tokentrail.cache")

#: Counter names, documented here because `stats()` is public.
COUNTERS = {
    "lookups": "requests the cache looked up (cacheable and allowed)",
    "hits": "lookups answered from the cache",
    "misses": "lookups that went to the API",
    "stores": "responses written to the backend",
    "not_stored": "responses not written: error status, incomplete stream or body, too large",
    "bypassed": "chat/responses requests not cached: non-deterministic (by default) or unreadable body",
    "errors": "backend failures (all kinds); the call then went to the API",
    "errors_timeout": "backend calls that exceeded timeout_ms",
    "errors_connection": "backend unreachable or connection dropped",
    "errors_corrupt": "stored values that failed verification",
    "errors_other": "any other backend failure",
    "breaker_open": "times the circuit breaker opened after a failure",
    "breaker_skipped": "backend calls skipped because the breaker was open",
}

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_saved_ms = 0.0


def incr(name: str, n: int = 1) -> None:
    with _lock:
        _counts[name] += n


def add_saved_ms(ms: float) -> None:
    global _saved_ms
    with _lock:
        _saved_ms += ms


def snapshot() -> dict[str, float]:
    with _lock:
        out: dict[str, float] = {name: _counts.get(name, 0) for name in COUNTERS}
        out["saved_ms"] = round(_saved_ms, 3)
    lookups = out["lookups"]
    out["hit_rate"] = out["hits"] / lookups if lookups else 0.0
    return out


def reset() -> None:
    global _saved_ms
    with _lock:
        _counts.clear()
        _saved_ms = 0.0


class LogOnce:
    """Warn on the first failure of each kind, stay quiet until `recovered()` re-arms it."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def failure(self, kind: str, err: BaseException | str) -> None:
        with self._lock:
            if kind in self._logged:
                return
            self._logged.add(kind)
        log.warning("tokentrail cache: %s %s (%s); calls go to the API until it recovers",
                    self._what, kind, err if isinstance(err, str) else f"{type(err).__name__}: {err}")

    def recovered(self) -> None:
        with self._lock:
            if not self._logged:
                return
            self._logged.clear()
        log.warning("tokentrail cache: %s recovered", self._what)
