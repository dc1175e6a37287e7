"""Simulator settings: one dataclass so the CLI, the fixture and the benchmarks configure it the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

FAULT_KINDS = ("429", "500", "503", "timeout", "drop")


@dataclass
class SimulatorConfig:
    seed: int = 0
    # Latency model: time to first token + per output token, all multiplied by latency_scale
    # (1.0 ≈ a fast hosted model, 0 = answer immediately, for tests).
    latency_scale: float = 0.0
    ttft_ms: float = 300.0
    per_token_ms: float = 12.0
    per_prompt_token_ms: float = 0.02
    jitter: float = 0.2
    # Fault injection by rate (fraction of requests, per kind), drawn from a generator seeded by `seed`.
    fault_rates: dict[str, float] = field(default_factory=dict)
    retry_after_s: float = 0.2  # Retry-After sent with a 429
    timeout_hold_s: float = 30.0  # how long a "timeout" fault holds the request before closing it
    # Request rate limit per window, reported in the x-ratelimit-* headers of every response; with
    # enforce_rate_limit, requests over it get a 429 (Retry-After = time left in the window).
    rate_limit_requests: int = 10_000
    rate_limit_window_s: float = 60.0
    enforce_rate_limit: bool = False
    rate_limit_tokens: int = 10_000_000
    # Reply length range (tokens) when the request sets no lower max_tokens.
    reply_tokens: tuple[int, int] = (16, 64)

    def __post_init__(self) -> None:
        unknown = set(self.fault_rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected some of {FAULT_KINDS}")
        if any(r < 0 for r in self.fault_rates.values()) or sum(self.fault_rates.values()) > 1.0:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        if self.rate_limit_requests < 1 or self.rate_limit_window_s <= 0:
            raise ValueError("rate_limit_requests must be >= 1 and rate_limit_window_s > 0")
        if self.latency_scale < 0:
            raise ValueError("latency_scale must be >= 0")
        lo, hi = self.reply_tokens
        if not 1 <= lo <= hi:
            raise ValueError("reply_tokens must be (lo, hi) with 1 <= lo <= hi")
        self.reply_tokens = (int(lo), int(hi))
