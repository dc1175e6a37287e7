"""The simulator without sockets: request in (method, path, headers, body) → reply out.

Keeping HTTP I/O in server.py and behaviour here lets endpoints be plain functions of a
`RequestContext`, and keeps one place that decides faults, latency and determinism.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tokentrail.simulator.config import SimulatorConfig
from tokentrail.simulator.errors import ApiError, bad_request
from tokentrail.simulator.faults import Fault, FaultPlanner
from tokentrail.simulator.latency import Latency
from tokentrail.simulator.prompt_cache import PromptCache
from tokentrail.simulator.rate_limit import Admission, RateLimiter
from tokentrail.simulator.replies import JsonReply, StreamReply

Reply = JsonReply | StreamReply

# Request fields that change how the answer is delivered, not what it says: streamed and
# non-streamed calls with the same prompt get the same text.
_DELIVERY_FIELDS = ("stream", "stream_options", "store", "metadata", "user", "service_tier")


@dataclass
class RequestContext:
    sim: Simulator
    body: dict[str, Any]
    headers: Mapping[str, str]
    rng: random.Random  # content decisions only
    latency: Latency
    latency_rng: random.Random  # jitter, kept apart so latency settings never change content

    def new_id(self, prefix: str, length: int = 24) -> str:
        return self.sim.new_id(prefix, length)

    @property
    def config(self) -> SimulatorConfig:
        return self.sim.config

    def first_token_delay(self, prompt_tokens: int, hidden_tokens: int = 0) -> float:
        return self.latency.first_token(self.latency_rng, prompt_tokens, hidden_tokens)

    def per_token_delay(self) -> float:
        return self.latency.per_token()


Endpoint = Callable[[RequestContext], Reply]

# Request headers kept in the request log: enough to observe the SDK's retries, never credentials.
_LOGGED_HEADERS = ("x-stainless-retry-count", "x-sim-fault", "x-sim-fault-key", "user-agent")


@dataclass(frozen=True)
class LoggedRequest:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    headers: dict[str, str]


class Simulator:
    """Shared state of one simulator instance (prompt cache, fault plan, id counter) and dispatch."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        from tokentrail.simulator.endpoints import ROUTES

        self.config = config or SimulatorConfig()
        self.prompt_cache = PromptCache()
        self.faults = FaultPlanner(self.config)
        c = self.config
        self.rate_limiter = RateLimiter(
            c.rate_limit_requests, c.rate_limit_window_s, c.rate_limit_tokens, enforce=c.enforce_rate_limit
        )
        self._ids = itertools.count(1)
        self._routes: dict[tuple[str, str], Endpoint] = ROUTES
        self.requests: deque[LoggedRequest] = deque(maxlen=10_000)

    def record(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        """Remember the request (bounded) so tests and benchmarks can see what the client really sent."""
        kept = {h: headers[h] for h in _LOGGED_HEADERS if headers.get(h) is not None}
        self.requests.append(LoggedRequest(time.monotonic(), method, path, kept))

    def new_id(self, prefix: str, length: int = 24) -> str:
        n = next(self._ids)
        return prefix + hashlib.sha256(f"{self.config.seed}:{n}".encode()).hexdigest()[:length]

    def route(self, method: str, path: str) -> Endpoint:
        path = path.split("?", 1)[0].rstrip("/")
        endpoint = self._routes.get((method, path))
        if endpoint is not None:
            return endpoint
        if any(p == path for _, p in self._routes):
            raise ApiError(405, f"Invalid method for URL ({method} {path})", code="method_not_allowed")
        raise ApiError(404, f"Invalid URL ({method} {path})", code="unknown_url")

    def plan_fault(self, headers: Mapping[str, str]) -> Fault | None:
        return self.faults.choose(headers)

    def context(self, method: str, headers: Mapping[str, str], raw_body: bytes) -> RequestContext:
        body = parse_body(raw_body) if method == "POST" else {}
        latency = Latency.from_config(self.config, _latency_scale(headers))
        content_key = {k: v for k, v in body.items() if k not in _DELIVERY_FIELDS}
        digest = hashlib.sha256(
            f"{self.config.seed}\0".encode() + json.dumps(content_key, sort_keys=True, default=str).encode()
        ).digest()
        seed = int.from_bytes(digest[:8], "big")
        return RequestContext(
            sim=self,
            body=body,
            headers=headers,
            rng=random.Random(seed),
            latency=latency,
            latency_rng=random.Random(seed ^ 0x5EED),
        )

    def admit(self) -> Admission:
        return self.rate_limiter.admit()


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
        ) from None
    if not isinstance(body, dict):
        raise bad_request(
            "We could not parse the JSON body of your request: the body must be a JSON object."
            if body is not None
            else "You must provide a JSON body with this request."
        )
    return body


def _latency_scale(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("x-sim-latency-scale")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"x-sim-latency-scale must be a number; got {raw!r}") from None
    if value < 0:
        raise bad_request("x-sim-latency-scale must be >= 0")
    return value
