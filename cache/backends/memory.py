"""In-process LRU with TTL, bounded by entry count and total bytes.

The bound matters: an unbounded dict in a long-running service is a memory leak with a hit rate.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class MemoryBackend:
    name = "memory"

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires = item
            if expires is not None and time.monotonic() >= expires:
                self._remove(key)
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        if len(value) > self.max_bytes:
            return
        expires = None if ttl_s is None else time.monotonic() + ttl_s
        with self._lock:
            if key in self._data:
                self._remove(key)
            self._data[key] = (value, expires)
            self._bytes += len(value)
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                self._remove(next(iter(self._data)))

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl_s: float | None) -> None:
        self.set(key, value, ttl_s)

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for key in doomed:
                self._remove(key)
        return len(doomed)

    def close(self) -> None:
        """Nothing to release; entries stay until evicted, expired or deleted."""

    def _remove(self, key: str) -> None:
        value, _ = self._data.pop(key)
        self._bytes -= len(value)
