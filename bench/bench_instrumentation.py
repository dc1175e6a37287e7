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
import importlib
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


def _http_module() -> Any:
    """The httpx flavour the installed SDK is built on: httpx2 for openai 3.x, httpx for 1.x/2.x."""
    for base in openai.DefaultHttpxClient.__mro__:
        root = base.__module__.split(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    raise RuntimeError("cannot tell which httpx the openai SDK uses")


httpx_mod = _http_module()

TARGETS_US = {"chat": 50.0, "stream20": 80.0}
REFERENCE_SPAN_US = 30.0  # issue 3: "one OTel SDK span with 20 attributes costs about 30 us here"

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


def _block(op: Callable[[openai.OpenAI], None], client: openai.OpenAI, n: int, skip: int) -> list[float]:
    out = []
    perf = time.perf_counter_ns
    for i in range(n + skip):
        t = perf()
        op(client)
        if i >= skip:  # the first calls after (un)patching re-warm the interpreter's caches
            out.append((perf() - t) / 1000.0)
    return out


CALIBRATION_ATTRS = {f"attr.{i}": (i if i % 2 else f"value{i}") for i in range(20)}


class SpanOnly:
    """Calibration: the cheapest possible tracing of the same call — one OTel span with 20
    attributes around the SDK's request(), through the same BatchSpanProcessor.

    Measured side by side with the real thing, it expresses our cost in "spans" under the very
    same conditions (load, caches), which is what the issue's ~30 us reference figure is.
    """

    def __init__(self, tracer: Any) -> None:
        from openai._base_client import SyncAPIClient

        self.owner = SyncAPIClient
        self.original = SyncAPIClient.__dict__["request"]
        original = self.original

        def request(client: Any, *args: Any, **kwargs: Any) -> Any:
            span = tracer.start_span("chat gpt-4o-mini", attributes=CALIBRATION_ATTRS)
            try:
                return original(client, *args, **kwargs)
            finally:
                span.end()

        self.wrapper = request

    def __enter__(self) -> SpanOnly:
        self.owner.request = self.wrapper
        return self

    def __exit__(self, *exc: object) -> None:
        self.owner.request = self.original


def measure(op: Callable[[openai.OpenAI], None], rounds: int, meter_provider: Any = None,
            block: int = 20, skip: int = 3) -> dict[str, float]:
    """Interleaved blocks: uninstrumented calls, instrumented calls, and calibration (SpanOnly) calls.

    This machine is shared and loaded unpredictably, so the three samples are taken side by side
    in small blocks (same load for all three). Reported: medians and 10th percentiles (the
    least-disturbed calls) in microseconds, the added cost in units of "one OTel span with 20
    attributes" measured alongside, and that converted to the issue's reference machine, where
    such a span costs REFERENCE_SPAN_US.
    """
    client = make_client()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    span_only = SpanOnly(provider.get_tracer("calibration"))
    base: list[float] = []
    inst: list[float] = []
    span: list[float] = []
    span_base: list[float] = []
    _block(op, client, 50, 0)  # warm up the SDK's own caches
    for r in range(rounds):
        base += _block(op, client, block, skip)
        tokentrail.instrument(tracer_provider=provider, meter_provider=meter_provider)
        inst += _block(op, client, block, skip)
        tokentrail.uninstrument()
        with span_only:
            span += _block(op_chat, client, block, skip)
        if op is not op_chat:
            span_base += _block(op_chat, client, block, skip)
        if r % 10 == 9:
            exporter.clear()
    provider.shutdown()
    med = statistics.median

    def p10(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=10)[0]

    out = {"calls_per_side": len(base)}
    chat_base = base if op is op_chat else None
    for name, stat in (("median", med), ("p10", p10)):
        b, i = stat(base), stat(inst)
        sp = stat(span) - stat(chat_base if chat_base is not None else span_base)
        out[f"{name}_baseline_us"] = round(b, 1)
        out[f"{name}_instrumented_us"] = round(i, 1)
        out[f"{name}_added_us"] = round(i - b, 1)
        out[f"{name}_span20_us"] = round(sp, 1)
        out[f"{name}_added_spans"] = round((i - b) / sp, 2)
        out[f"{name}_added_us_at_reference"] = round((i - b) / sp * REFERENCE_SPAN_US, 1)
    return out


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    rounds, mem_calls = (15, 10_000) if args.quick else (100, 100_000)

    results: dict[str, Any] = {"openai": openai.__version__, "python": sys.version.split()[0],
                               "reference_span20_us": REFERENCE_SPAN_US}
    results["chat"] = measure(op_chat, rounds)
    results["stream20"] = measure(op_stream, rounds)
    results["chat_with_metrics"] = measure(op_chat, rounds // 2, meter_provider=MeterProvider([InMemoryMetricReader()]))
    results["memory"] = memory(mem_calls)

    print(f"openai {results['openai']}, python {results['python']}; microseconds per call; 'spans' = the added"
          f" cost in units of one OTel span with 20 attributes measured alongside; 'at ref' = that times"
          f" {REFERENCE_SPAN_US} us (the issue's reference machine)")
    print(f"{'case':<20}{'stat':>7}{'baseline':>10}{'instr.':>10}{'added':>9}{'span20':>8}{'spans':>7}"
          f"{'at ref':>8}{'target':>8}")
    for case in ("chat", "stream20", "chat_with_metrics"):
        r = results[case]
        for stat in ("median", "p10"):
            target = TARGETS_US.get(case)
            print(f"{case:<20}{stat:>7}{r[f'{stat}_baseline_us']:>10}{r[f'{stat}_instrumented_us']:>10}"
                  f"{r[f'{stat}_added_us']:>9}{r[f'{stat}_span20_us']:>8}{r[f'{stat}_added_spans']:>7}"
                  f"{r[f'{stat}_added_us_at_reference']:>8}{(str(target) if target else '-'):>8}")
    mem = results["memory"]
    print(f"memory: {mem['calls']} calls, RSS growth after warm-up {mem['growth_after_warmup_kib']} KiB "
          f"(samples {mem['rss_kib'][1][1]} -> {mem['rss_kib'][-1][1]} KiB)")
    ok = all(results[c]["median_added_us_at_reference"] <= t for c, t in TARGETS_US.items())
    results["targets_met_at_reference"] = ok
    print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
