"""What the demo's traffic looks like: features, users, models and the price and budget files.

Kept apart from the code that sends the traffic so the live workload and the synthetic history
describe the same (fictional) company.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Route:
    """One way a feature calls an LLM."""

    feature: str
    provider: str
    model: str
    operation: str  # chat | embeddings
    weight: float  # share of daily calls
    input_tokens: tuple[int, int]
    output_tokens: tuple[int, int]
    stream_share: float = 0.0
    reasoning_share: float = 0.0  # of output tokens
    prompt_cache_share: float = 0.0  # of calls that hit the provider's prompt cache
    response_cache_share: float = 0.0  # of calls answered by tokentrail's response cache


SELF_HOSTED_MODEL = "llama-3.1-70b-selfhosted"
UNPRICED_MODEL = "acme-internal-v2"
RENEGOTIATED_MODEL = "gpt-4o"

ROUTES: tuple[Route, ...] = (
    Route("chat-assistant", "openai", "gpt-4o-mini", "chat", 0.30, (400, 2500), (80, 600), 0.7, 0, 0.35, 0.12),
    Route("chat-assistant", "openai", "gpt-4o", "chat", 0.12, (600, 4000), (100, 800), 0.7, 0, 0.35, 0.08),
    Route("summarizer", "anthropic", "claude-3-5-sonnet-latest", "chat", 0.12, (3000, 12000), (200, 900), 0, 0, 0.5),
    Route("support-bot", "openai", "o3-mini", "chat", 0.10, (800, 3000), (300, 2500), 0.3, 0.6),
    Route("search", "openai", "text-embedding-3-small", "embeddings", 0.18, (50, 400), (0, 0)),
    Route("classifier", "google", "gemini-2.0-flash", "chat", 0.08, (200, 900), (5, 30)),
    Route("batch-enrichment", "vllm", SELF_HOSTED_MODEL, "chat", 0.06, (500, 2000), (100, 400)),
    Route("internal-tools", "acme", UNPRICED_MODEL, "chat", 0.04, (300, 1500), (50, 300)),
)

USERS: tuple[str, ...] = tuple(f"user-{i:03d}" for i in range(1, 25))
SERVICES = {"chat-assistant": "web-api", "support-bot": "web-api", "search": "web-api",
            "summarizer": "worker", "classifier": "worker", "batch-enrichment": "worker",
            "internal-tools": "admin"}


def prices_toml(today: date) -> str:
    """Price overrides: a renegotiated rate that starts mid-history, and a self-hosted GPU model."""
    change = today - timedelta(days=20)
    return f"""# tokentrail demo price overrides (written by `tokentrail demo`).
# The catalogue (genai-prices) prices everything else; see docs/prices.md.

# Enterprise agreement: 20% off gpt-4o from {change.isoformat()} on. Calls before that date keep
# the list price, so the cost trend shows the change.
[[price]]
model = "{RENEGOTIATED_MODEL}"
valid_from = {change.isoformat()}
discount = 0.2

# Our own vLLM deployment: 2 GPUs at $2.40/hour each, priced at the throughput we observe.
[[self_hosted]]
model = "{SELF_HOSTED_MODEL}"
gpu_hour_usd = 2.40
gpus = 2
tokens_per_second = 350
"""
