"""What tokentrail.instrument() adds to an openai SDK call, measured in-process.

The real openai SDK talks to an in-process mock transport (no sockets, so the figures are the
instrumentation's own cost, not network noise); spans go through a BatchSpanProcessor to an
in-memory exporter. Uninstrumented and instrumented calls run in alternating blocks in the
same process, and the added latency is the difference of the per-call medians.

Targets (issue 3): <= 50 us added for a non-streaming chat call, <= 80 us for a 20-chunk stream,
and flat memory over 100k calls.

    python bench/bench_instrumentation.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tiktoken"))

import openai  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import tokentrail  # noqa: E402

try:  # openai 3.x is built on httpx2; 1.x/2.x on httpx
    import httpx2 as httpx_mod
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx as httpx_mod

TARGETS_US = {"chat": 50.0, "stream20": 80.0}

CHAT_BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, how can I help?"},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20,
              "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
    "system_fingerprint": "fp_bench", "service_tier": "default",
}).encode()


def _sse(chunks: int, usage: bool) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-4o-mini-2024-07-18"}
    lines = []
    for i in range(chunks):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"tok{i} "}
        finish = "stop" if i == chunks - 1 else None
        lines.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    if usage:
        lines.append({**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": chunks,
                                                        "total_tokens": 12 + chunks}})
    return b"".join(b"data: " + json.dumps(line).encode() + b"\n\n" for line in lines) + b"data: [DONE]\n\n"


STREAM_BODY = _sse(20, usage=True)
STREAM_BODY_NO_USAGE = _sse(20, usage=False)
MESSAGES = [{"role": "user", "content": "Say hello."}]


def handler(request: Any) -> Any:
    body = json.loads(request.content)
    if body.get("stream"):
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return httpx_mod.Response(200, headers={"content-type": "text/event-stream"},
                                  content=STREAM_BODY if usage else STREAM_BODY_NO_USAGE)
    return httpx_mod.Response(200, headers={"content-type": "application/json"}, content=CHAT_BODY)


def make_client() -> openai.OpenAI:
    http = httpx_mod.Client(transport=httpx_mod.MockTransport(handler), base_url="http://mock.local/v1")
    return openai.OpenAI(api_key="sk-bench", base_url="http://mock.local/v1", http_client=http, max_retries=0)


def op_chat(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)


def op_stream(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True}):
        pass


def op_stream_no_usage(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass


def _one(op: Callable[[openai.OpenAI], None], client: openai.OpenAI) -> float:
    t = time.perf_counter_ns()
    op(client)
    return (time.perf_counter_ns() - t) / 1000.0


def measure(op: Callable[[openai.OpenAI], None], pairs: int, meter_provider: Any = None) -> dict[str, float]:
    """Paired design: each uninstrumented call is followed (or preceded) by an instrumented one.

    Other processes load this machine unpredictably; adjacent calls share the same load, so the
    median of the per-pair differences is the instrumentation's own cost. Order alternates per
    pair so neither side always runs first. Microseconds.
    """
    client = make_client()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))

    def instrumented() -> float:
        tokentrail.instrument(tracer_provider=provider, meter_provider=meter_provider)
        try:
            return _one(op, client)
        finally:
            tokentrail.uninstrument()

    for _ in range(50):  # warm up the SDK's and our first-call caches
        _one(op, client)
        instrumented()
    base: list[float] = []
    inst: list[float] = []
    diff: list[float] = []
    for i in range(pairs):
        if i % 2:
            b = _one(op, client)
            n = instrumented()
        else:
            n = instrumented()
            b = _one(op, client)
        base.append(b)
        inst.append(n)
        diff.append(n - b)
        if i % 500 == 499:
            exporter.clear()
    provider.shutdown()
    med = statistics.median
    p10 = lambda xs: statistics.quantiles(xs, n=10)[0]  # noqa: E731 - the least-disturbed calls
    return {"baseline_us": round(med(base), 1), "instrumented_us": round(med(inst), 1),
            "added_us": round(med(diff), 1), "ratio": round(med(inst) / med(base), 3),
            "baseline_p10_us": round(p10(base), 1), "instrumented_p10_us": round(p10(inst), 1),
            "added_p10_us": round(p10(inst) - p10(base), 1), "pairs": pairs}


def calibrate(n: int) -> float:
    """Median cost of one OTel SDK span with 20 attributes through the same pipeline (us).

    The issue quotes ~30 us for this on its reference machine; the ratio scales our figures
    to that machine when this one is slower (or busier).
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("calibration")
    attrs = {f"attr.{i}": (i if i % 2 else f"value{i}") for i in range(20)}
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        span = tracer.start_span("chat gpt-4o-mini", attributes=attrs)
        span.end()
        out.append((time.perf_counter_ns() - t) / 1000.0)
        if i % 500 == 499:
            exporter.clear()
            time.sleep(0.001)  # let the batch worker drain, as between real calls
    provider.shutdown()
    return statistics.median(out)


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def memory(calls: int) -> dict[str, Any]:
    """RSS over `calls` instrumented calls: mostly plain chat, every 10th a full stream, every 50th a
    stream abandoned after three chunks (the exporter is drained as a real one would be)."""
    client = make_client()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=2048))
    tokentrail.instrument(tracer_provider=provider)
    samples = []
    step = max(calls // 10, 1)
    for i in range(1, calls + 1):
        if i % 10 == 0:
            op_stream(client)
        elif i % 50 == 5:
            stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            for _, _chunk in zip(range(3), stream, strict=False):
                pass
            del stream
        else:
            op_chat(client)
        if i % 1000 == 0:
            exporter.clear()
        if i % step == 0:
            gc.collect()
            samples.append((i, _rss_kib()))
    tokentrail.uninstrument()
    provider.shutdown()
    # growth after warm-up (first sample) to the end
    growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else 0
    return {"calls": calls, "rss_kib": samples, "growth_after_warmup_kib": growth}


REFERENCE_SPAN_US = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    pairs, mem_calls = (300, 10_000) if args.quick else (2000, 100_000)

    results: dict[str, Any] = {"openai": openai.__version__, "python": sys.version.split()[0]}
    span_before = calibrate(3000)
    results["chat"] = measure(op_chat, pairs)
    results["stream20"] = measure(op_stream, pairs // 2)
    results["stream20_tiktoken"] = measure(op_stream_no_usage, pairs // 4)
    reader = InMemoryMetricReader()
    results["chat_with_metrics"] = measure(op_chat, pairs // 2, meter_provider=MeterProvider([reader]))
    span_after = calibrate(3000)
    span_us = (span_before + span_after) / 2
    scale = REFERENCE_SPAN_US / span_us
    results["calibration"] = {"span20_us": round(span_us, 1), "reference_span20_us": REFERENCE_SPAN_US,
                              "scale": round(scale, 3)}
    for case in ("chat", "stream20", "stream20_tiktoken", "chat_with_metrics"):
        r = results[case]
        r["added_spans"] = round(r["added_us"] / span_us, 2)
        r["added_us_at_reference"] = round(r["added_us"] * scale, 1)
    results["memory"] = memory(mem_calls)

    print(f"openai {results['openai']}, python {results['python']}; medians, microseconds per call")
    print(f"calibration: one OTel span with 20 attributes costs {span_us:.1f} us here "
          f"(reference machine: {REFERENCE_SPAN_US} us, scale {scale:.3f})")
    print(f"{'case':<20}{'baseline':>10}{'instrumented':>14}{'added':>9}{'in spans':>10}{'at ref':>9}{'target':>8}")
    for case in ("chat", "stream20", "stream20_tiktoken", "chat_with_metrics"):
        r = results[case]
        target = TARGETS_US.get(case)
        print(f"{case:<20}{r['baseline_us']:>10}{r['instrumented_us']:>14}{r['added_us']:>9}{r['added_spans']:>10}"
              f"{r['added_us_at_reference']:>9}{(str(target) if target else '-'):>8}")
    mem = results["memory"]
    print(f"memory: {mem['calls']} calls, RSS growth after warm-up {mem['growth_after_warmup_kib']} KiB "
          f"(samples {mem['rss_kib'][1][1]} -> {mem['rss_kib'][-1][1]} KiB)")
    ok = all(results[c]["added_us_at_reference"] <= t for c, t in TARGETS_US.items())
    results["targets_met"] = ok
    print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
