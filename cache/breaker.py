"""A circuit breaker, so a dead or slow Redis costs one timeout, not one timeout per call.

After a failure the breaker opens for a cool-down (1 s, doubling up to 30 s while failures
continue). While open, every call skips the backend at once. When the cool-down ends one call
probes the backend; success closes the breaker, failure opens it again for longer.
"""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    def __init__(self, base_cooldown_s: float = 1.0, max_cooldown_s: float = 30.0) -> None:
        self.base_cooldown_s = base_cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._cooldown = base_cooldown_s
        self._open_until: float | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        """True when the backend may be called now (closed, or the one probe after a cool-down)."""
        if self._open_until is None:
            return True
        with self._lock:
            if self._open_until is None:
                return True
            now = time.monotonic()
            if now < self._open_until:
                return False
            # Let this caller probe; others keep skipping until it reports back.
            self._open_until = now + self._cooldown
            return True

    def success(self) -> bool:
        """Record a success; True if this closed an open breaker."""
        if self._open_until is None:
            return False
        with self._lock:
            was_open = self._open_until is not None
            self._open_until = None
            self._cooldown = self.base_cooldown_s
            return was_open

    def failure(self) -> bool:
        """Record a failure; True if the breaker was closed before (it just opened)."""
        with self._lock:
            was_closed = self._open_until is None
            if not was_closed:
                self._cooldown = min(self._cooldown * 2, self.max_cooldown_s)
            self._open_until = time.monotonic() + self._cooldown
            return was_closed
