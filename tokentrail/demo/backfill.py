"""Sixty days of synthetic history, sent as OTLP with past timestamps.

A fresh demo database has minutes of data, which leaves the forecast, anomaly and month-over-month
views empty. The history fills them. Every synthetic span is labelled: its resource carries
`tokentrail.synthetic = true`, its service name ends in `(synthetic)` and it has the free tag
`synthetic = "true"`, so `WHERE tags->>'synthetic' IS NULL` leaves only real traffic.
Trace ids come from a seeded generator, so running the backfill twice stores nothing twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from tokentrail.config import settings
from tokentrail.demo.scenario import ROUTES, SERVICES, USERS, Route

SPIKE_DAYS_AGO = 12  # a runaway retry loop in support-bot multiplies its traffic that day
SPIKE_EXTRA = 3  # extra support-bot calls that day, in multiples of a normal day's volume


class _SeededIds(IdGenerator):
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


def daily_calls(day: date, today: date, base: int) -> int:
    """Weekday traffic growing about 1% a day; weekends at 40%."""
    age = (today - day).days
    volume = base * (1.0 - 0.01 * age)
    return max(1, int(volume * (0.4 if day.weekday() >= 5 else 1.0)))


def _attributes(route: Route, rng: random.Random, user: str) -> tuple[dict, dict]:
    """Span attributes of one synthetic call, plus the outcome details the sender needs."""
    inp = rng.randint(*route.input_tokens)
    out = rng.randint(*route.output_tokens) if route.operation == "chat" else 0
    attrs: dict = {
        "gen_ai.operation.name": route.operation,
        "gen_ai.provider.name": route.provider,
        "gen_ai.request.model": route.model,
        "gen_ai.response.model": route.model,
        "tokentrail.feature": route.feature,
        "user.id": user,
        "tokentrail.tag.synthetic": "true",
        "tokentrail.usage.source": "api",
    }
    outcome = {"error": None, "retries": [], "stream": False}
    if rng.random() < route.response_cache_share:
        attrs.update({"tokentrail.cache.hit": True, "gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0,
                      "tokentrail.cache.saved.input_tokens": inp, "tokentrail.cache.saved.output_tokens": out,
                      "tokentrail.cache.saved.duration_ms": 40.0 * out ** 0.5 + 300})
        outcome["duration_ms"] = rng.uniform(0.3, 2.0)
        return attrs, outcome
    attrs["gen_ai.usage.input_tokens"] = inp
    if route.operation == "chat":
        attrs["gen_ai.usage.output_tokens"] = out
        if rng.random() < route.prompt_cache_share and inp >= 1024:
            attrs["gen_ai.usage.cache_read.input_tokens"] = (inp * rng.uniform(0.5, 0.9)) // 128 * 128
        if route.reasoning_share:
            attrs["gen_ai.usage.reasoning.output_tokens"] = int(out * route.reasoning_share)
        attrs["gen_ai.response.finish_reasons"] = ["length" if rng.random() < 0.03 else "stop"]
    duration = 250 + out * rng.uniform(8, 20) + inp * 0.02
    if rng.random() < route.stream_share:
        outcome["stream"] = True
        attrs["gen_ai.request.stream"] = True
        attrs["gen_ai.response.time_to_first_chunk"] = rng.uniform(0.2, 0.9)
    roll = rng.random()
    if roll < 0.06:  # rate limited, retried by the SDK
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            backoff = rng.uniform(400, 2500)
            outcome["retries"].append((429, "RateLimitError", backoff))
            duration += backoff + 30
    elif roll < 0.08:
        outcome["error"] = ("InternalServerError", 500)
        outcome["retries"] = [(500, "InternalServerError", rng.uniform(400, 900)) for _ in range(2)]
        duration += sum(r[2] for r in outcome["retries"])
    elif roll < 0.09:
        outcome["error"] = ("APITimeoutError", None)
        duration = 30_000.0
    if outcome["error"]:  # the API gave no usage: the prompt was counted locally, nothing came back
        attrs.update({"gen_ai.usage.output_tokens": 0, "tokentrail.usage.source": "tiktoken"})
        attrs.pop("gen_ai.response.finish_reasons", None)
        attrs.pop("gen_ai.usage.cache_read.input_tokens", None)
        attrs.pop("gen_ai.usage.reasoning.output_tokens", None)
    outcome["duration_ms"] = duration
    return attrs, outcome


def backfill(endpoint: str, *, days: int = 60, base: int = 200, seed: int = 7,
             today: date | None = None, on_day: Callable[[], None] | None = None) -> int:
    """Send `days` days of history ending yesterday to an OTLP/HTTP endpoint; returns spans sent."""
    today = today or datetime.now(timezone.utc).date()
    rng = random.Random(seed)
    sent = 0
    providers: dict[str, TracerProvider] = {}
    ids = _SeededIds(rng)

    token = settings().token  # the demo's collector requires it when TOKENTRAIL_TOKEN is set
    headers = {"authorization": f"Bearer {token}"} if token else None

    def tracer_for(service: str):
        if service not in providers:
            resource = Resource.create({"service.name": f"{service} (synthetic)", "tokentrail.synthetic": True})
            provider = TracerProvider(resource=resource, id_generator=ids)
            exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers)
            provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65_536, max_export_batch_size=512))
            providers[service] = provider
        return providers[service].get_tracer("tokentrail.demo.backfill")

    weights = [r.weight for r in ROUTES]
    for age in range(days, 0, -1):
        day = today - timedelta(days=age)
        midnight = datetime.combine(day, time(), tzinfo=timezone.utc)
        routes = rng.choices(ROUTES, weights=weights, k=daily_calls(day, today, base))
        if age == SPIKE_DAYS_AGO:
            support_bot = next(r for r in ROUTES if r.feature == "support-bot")
            routes += [support_bot] * (SPIKE_EXTRA * base)
        for route in routes:
            attrs, outcome = _attributes(route, rng, rng.choice(USERS))
            start = midnight + timedelta(seconds=rng.uniform(6 * 3600, 23 * 3600))
            start_ns = int(start.timestamp() * 1e9)
            if outcome["retries"]:
                attrs["tokentrail.retry.count"] = len(outcome["retries"])
                attrs["tokentrail.retry.wait_ms"] = sum(r[2] for r in outcome["retries"])
            span = tracer_for(SERVICES[route.feature]).start_span(
                f"{route.operation} {route.model}", kind=SpanKind.CLIENT, start_time=start_ns, attributes=attrs
            )
            offset = 0.0
            for attempt, (status, error_type, backoff) in enumerate(outcome["retries"], start=1):
                offset += 30 + backoff
                span.add_event("tokentrail.retry", {
                    "tokentrail.retry.attempt": attempt, "http.response.status_code": status,
                    "error.type": error_type, "tokentrail.retry.backoff_ms": backoff,
                }, timestamp=start_ns + int(offset * 1e6))
            if outcome["error"]:
                error_type, status = outcome["error"]
                span.set_attribute("error.type", error_type)
                if status:
                    span.set_attribute("http.response.status_code", status)
                span.set_status(Status(StatusCode.ERROR, error_type))
            span.end(end_time=start_ns + int(outcome["duration_ms"] * 1e6))
            sent += 1
        if on_day:
            on_day()
    for provider in providers.values():
        provider.force_flush()
        provider.shutdown()
    return sent
