"""Which fault, if any, a request gets: asked for by header, or drawn from configured rates.

Headers: `x-sim-fault: 429|500|503|timeout|drop`; with `x-sim-fault-count: N` only the first N
attempts carrying the same `x-sim-fault-key` fail, so the SDK's own retries can succeed.
`x-sim-retry-after` (seconds) overrides the 429's Retry-After; `x-sim-timeout` the hold time.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from tokentrail.simulator.config import FAULT_KINDS, SimulatorConfig
from tokentrail.simulator.errors import ApiError, bad_request
from tokentrail.simulator.rate_limit import duration


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    retry_after_s: float
    hold_s: float


class FaultPlanner:
    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._rng = random.Random(f"faults:{config.seed}")
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}

    def choose(self, headers: Mapping[str, str]) -> Fault | None:
        kind = headers.get("x-sim-fault")
        if kind:
            kind = kind.strip().lower()
            if kind not in FAULT_KINDS:
                raise bad_request(f"x-sim-fault must be one of {', '.join(FAULT_KINDS)}; got {kind!r}")
            if not self._should_fail(headers):
                return None
        else:
            kind = self._draw()
            if kind is None:
                return None
        return Fault(
            kind=kind,
            retry_after_s=_float_header(headers, "x-sim-retry-after", self._config.retry_after_s),
            hold_s=_float_header(headers, "x-sim-timeout", self._config.timeout_hold_s),
        )

    def _should_fail(self, headers: Mapping[str, str]) -> bool:
        raw = headers.get("x-sim-fault-count")
        if raw is None:
            return True
        try:
            limit = int(raw)
        except ValueError:
            raise bad_request(f"x-sim-fault-count must be an integer; got {raw!r}") from None
        key = headers.get("x-sim-fault-key", "")
        with self._lock:
            seen = self._attempts.get(key, 0)
            self._attempts[key] = seen + 1
        return seen < limit

    def _draw(self) -> str | None:
        rates = self._config.fault_rates
        if not rates:
            return None
        with self._lock:
            r = self._rng.random()
        for kind in FAULT_KINDS:
            rate = rates.get(kind, 0.0)
            if r < rate:
                return kind
            r -= rate
        return None


def _float_header(headers: Mapping[str, str], name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number of seconds; got {raw!r}") from None
    if value < 0:
        raise bad_request(f"{name} must be >= 0")
    return value


def error_for(fault: Fault, rate_headers: dict[str, str]) -> ApiError:
    """The HTTP error a status-code fault answers with, bodies and headers as OpenAI sends them."""
    if fault.kind == "429":
        headers = dict(rate_headers)
        headers.update(
            {
                "retry-after": _seconds(fault.retry_after_s),
                "retry-after-ms": str(round(fault.retry_after_s * 1000)),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": duration(fault.retry_after_s),
            }
        )
        return ApiError(
            429,
            "Rate limit reached for requests (simulated). Please try again in "
            f"{round(fault.retry_after_s * 1000)}ms.",
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if fault.kind == "500":
        return ApiError(
            500,
            "The server had an error while processing your request. Sorry about that! (simulated)",
            type="server_error",
        )
    if fault.kind == "503":
        return ApiError(
            503,
            "The engine is currently overloaded, please try again later. (simulated)",
            type="server_error",
        )
    raise ValueError(f"{fault.kind} is not an HTTP-status fault")


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
