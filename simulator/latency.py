"""The latency model: how long to wait before the first token and between tokens."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tokentrail.simulator.config import SimulatorConfig


@dataclass(frozen=True)
class Latency:
    """Delays in seconds for one request (already scaled and jittered)."""

    scale: float
    ttft_ms: float
    per_token_ms: float
    per_prompt_token_ms: float
    jitter: float

    @classmethod
    def from_config(cls, config: SimulatorConfig, scale: float | None = None) -> Latency:
        return cls(
            scale=config.latency_scale if scale is None else scale,
            ttft_ms=config.ttft_ms,
            per_token_ms=config.per_token_ms,
            per_prompt_token_ms=config.per_prompt_token_ms,
            jitter=config.jitter,
        )

    def first_token(self, rng: random.Random, prompt_tokens: int, hidden_tokens: int = 0) -> float:
        """Queueing + prefill (grows with the prompt) + hidden reasoning tokens."""
        if self.scale == 0:
            return 0.0
        ms = self.ttft_ms + prompt_tokens * self.per_prompt_token_ms + hidden_tokens * self.per_token_ms
        return self.scale * ms * self._jitter(rng) / 1000.0

    def per_token(self) -> float:
        return self.scale * self.per_token_ms / 1000.0

    def _jitter(self, rng: random.Random) -> float:
        return 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
