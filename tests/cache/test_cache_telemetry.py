"""Cache hits in the traces and the reports, with tokentrail's instrumentation on.

The instrumentation reads the `x-tokentrail-cache` headers a replay carries. A hit span must say
`tokentrail.cache.hit = true`, report zero provider tokens, and carry the original call's tokens
and duration under `tokentrail.cache.saved.*`. Written through the collector's embedded writer
into a real DuckDB file, the hit's `saved_cost_usd` in `llm_calls` must equal what the original
miss cost (same model, same tokens, same price), and the monthly report must count it.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import openai
import pytest
from cache_calls import acall, call, enable_tolerant
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tokentrail.instrumentation.embedded import EmbeddedSpanExporter

import tokentrail

HIT = "tokentrail.cache.hit"


@pytest.fixture
def traced(tmp_path):
    """Instrumentation on, spans to memory (for attribute checks) and to a DuckDB file."""
    tokentrail.uninstrument()
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    db = tmp_path / "traces.duckdb"
    provider.add_span_processor(BatchSpanProcessor(EmbeddedSpanExporter(db)))
    assert tokentrail.instrument(tracer_provider=provider)
    yield memory, provider, db
    tokentrail.uninstrument()
    provider.shutdown()


def _pairs(spans):
    """(miss, hit) span pairs in call order: every second span replays the one before it."""
    spans = sorted(spans, key=lambda s: s.start_time)
    assert len(spans) % 2 == 0
    return list(zip(spans[::2], spans[1::2], strict=True))


async def test_hit_spans_and_saved_cost_in_llm_calls_and_report(simulator, client, aclient, redis_server, traced):
    memory, provider, db = traced
    enable_tolerant(redis_server.url)
    results = []
    for endpoint, stream in [("chat", False), ("chat", True), ("responses", False), ("responses", True)]:
        extra = {"stream_options": {"include_usage": True}} if endpoint == "chat" and stream else {}
        results += [call(client, endpoint, stream, **extra), call(client, endpoint, stream, **extra)]
    results += [await acall(aclient, "chat", False, seed=5), await acall(aclient, "chat", False, seed=5)]
    assert [r.hit for r in results] == [False, True] * 5

    # -- span attributes ---------------------------------------------------------------------
    pairs = _pairs(memory.get_finished_spans())
    assert len(pairs) == 5
    for (miss, hit), hit_result in zip(pairs, results[1::2], strict=True):
        m, h = dict(miss.attributes), dict(hit.attributes)
        assert m[HIT] is False and h[HIT] is True
        assert m["gen_ai.usage.input_tokens"] > 0 and m["gen_ai.usage.output_tokens"] > 0
        assert h["gen_ai.usage.input_tokens"] == 0 and h["gen_ai.usage.output_tokens"] == 0
        assert h["tokentrail.cache.saved.input_tokens"] == m["gen_ai.usage.input_tokens"]
        assert h["tokentrail.cache.saved.output_tokens"] == m["gen_ai.usage.output_tokens"]
        saved_ms = h["tokentrail.cache.saved.duration_ms"]
        assert saved_ms == pytest.approx(float(hit_result.headers["x-tokentrail-cache-original-ms"]))
        miss_ms = (miss.end_time - miss.start_time) / 1e6
        assert 0 < saved_ms <= miss_ms  # the original wire time, inside the miss span
        assert h["gen_ai.response.id"] == m["gen_ai.response.id"]  # the same answer, replayed
        assert h["gen_ai.request.model"] == m["gen_ai.request.model"]
        assert "tokentrail.cache.saved.input_tokens" not in m

    # -- llm_calls (embedded writer -> DuckDB -> analytics views) ----------------------------
    assert provider.force_flush()
    from tokentrail.analytics import connect, query
    from tokentrail.analytics.report import build_report, render_markdown

    rows = query(
        "SELECT ts, cache_hit, input_tokens, output_tokens, cached_input_tokens, saved_input_tokens, "
        "saved_output_tokens, saved_ms, cost_usd, saved_cost_usd, price_known FROM llm_calls ORDER BY ts",
        db=db,
    ).to_dict("records")
    assert len(rows) == 10
    for miss, hit in zip(rows[::2], rows[1::2], strict=True):
        assert (bool(miss["cache_hit"]), bool(hit["cache_hit"])) == (False, True)
        assert miss["price_known"] and hit["price_known"]
        assert not miss["cached_input_tokens"]  # so the miss cost is all at the plain input rate
        assert (hit["input_tokens"], hit["output_tokens"]) == (0, 0)
        assert hit["cost_usd"] == 0
        assert (hit["saved_input_tokens"], hit["saved_output_tokens"]) == (miss["input_tokens"], miss["output_tokens"])
        assert miss["cost_usd"] > 0
        assert hit["saved_cost_usd"] == pytest.approx(miss["cost_usd"], rel=1e-9)
        assert hit["saved_ms"] > 0
        assert not miss["saved_cost_usd"] or miss["saved_cost_usd"] != miss["saved_cost_usd"]  # 0, NULL or NaN
    expected_saved = sum(r["cost_usd"] for r in rows[::2])

    # -- monthly report (function and CLI) ---------------------------------------------------
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    month = now.strftime("%Y-%m")
    # Every call ended before `now`; rounding `now` down (as this once did) could cut off the calls
    # made in its last second.
    report = build_report(connect(db=db), month, as_of=now + timedelta(seconds=1))
    assert report.totals["response_cache_hits"] == 5
    assert report.totals["response_cache_saved_usd"] == pytest.approx(expected_saved, rel=1e-9)
    assert report.totals["response_cache_saved_ms"] == pytest.approx(sum(r["saved_ms"] for r in rows[1::2]))
    assert "Response cache hits" in render_markdown(report)

    out = subprocess.run([sys.executable, "-m", "tokentrail", "report", "--month", month, "--db", str(db)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if "Response cache hits" in ln)
    assert "5" in line


def test_instrumentation_off_still_caches(simulator, client, redis_server):
    """The cache does not depend on the instrumentation (and adds no spans of its own)."""
    tokentrail.uninstrument()
    enable_tolerant(redis_server.url)
    assert not call(client, "responses", True).hit
    assert call(client, "responses", True).hit


def test_failed_call_is_traced_as_a_normal_miss(simulator, client, redis_server, traced):
    memory, _, _ = traced
    enable_tolerant(redis_server.url)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                       temperature=0, extra_headers={"x-sim-fault": "429"})
    (span,) = memory.get_finished_spans()
    assert span.attributes.get(HIT) in (False, None)
    assert span.attributes.get("error.type")


def test_streamed_hit_without_a_usage_chunk_counts_tokens_as_saved(simulator, client, redis_server, traced):
    """No `include_usage`: tokentrail counts the tokens with tiktoken; on the replay they are what the
    hit saved, and the provider spent nothing."""
    memory, _, _ = traced
    enable_tolerant(redis_server.url)
    assert [call(client, "chat", True).hit for _ in range(2)] == [False, True]
    ((miss, hit),) = _pairs(memory.get_finished_spans())
    m, h = dict(miss.attributes), dict(hit.attributes)
    assert m["tokentrail.usage.source"] == h["tokentrail.usage.source"] == "tiktoken"
    assert m[HIT] is False and m["gen_ai.usage.input_tokens"] > 0 and m["gen_ai.usage.output_tokens"] > 0
    assert h[HIT] is True
    assert (h["gen_ai.usage.input_tokens"], h["gen_ai.usage.output_tokens"]) == (0, 0)
    assert h["tokentrail.cache.saved.input_tokens"] == m["gen_ai.usage.input_tokens"]
    assert h["tokentrail.cache.saved.output_tokens"] == m["gen_ai.usage.output_tokens"]
