"""Request rate limits per fixed window: truthful x-ratelimit-* headers, and real 429s when enforced.

OpenAI reports, on every response, the request limit, what is left of it and when it resets. We
count requests per window so those headers move as traffic does; with enforcement on, a request
over the limit gets a 429 whose Retry-After is the time left in the window.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    admitted: bool
    headers: dict[str, str]
    retry_after_s: float  # time left in the window (what a 429 asks the client to wait)


class RateLimiter:
    def __init__(self, requests: int, window_s: float, tokens: int, *, enforce: bool) -> None:
        self._limit = requests
        self._window_s = window_s
        self._tokens = tokens
        self._enforce = enforce
        self._lock = threading.Lock()
        self._window_end = 0.0
        self._used = 0

    def admit(self) -> Admission:
        """Count this request against the window (unless rejected: rejections don't use the quota)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._window_end:
                self._window_end = now + self._window_s
                self._used = 0
            admitted = not self._enforce or self._used < self._limit
            if admitted:
                self._used += 1
            remaining = max(0, self._limit - self._used)
            reset_s = self._window_end - now
        headers = {
            "x-ratelimit-limit-requests": str(self._limit),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": duration(reset_s),
            "x-ratelimit-limit-tokens": str(self._tokens),
            "x-ratelimit-remaining-tokens": str(self._tokens),
            "x-ratelimit-reset-tokens": "0s",
        }
        return Admission(admitted, headers, reset_s)


def duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"
