"""GET /metrics: Prometheus text with ingest counters and per-model LLM aggregates."""

from __future__ import annotations

import os
import re

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.collector.conftest import http
from tests.collector.test_auth_and_query import query
from tests.collector.test_http_protocol import PB

DURATIONS_MS = [50, 200, 200, 900, 3000, 45_000]


def _request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    t0 = 1_767_225_600_000_000_000
    for i, ms in enumerate(DURATIONS_MS):
        s = ss.spans.add()
        s.trace_id, s.span_id, s.name = os.urandom(16), os.urandom(8), "chat gpt-4o-mini"
        s.start_time_unix_nano, s.end_time_unix_nano = t0, t0 + ms * 1_000_000
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai"),
                           ("gen_ai.request.model", "gpt-4o-mini")):
            a = s.attributes.add()
            a.key, a.value.string_value = key, value
        for key, value in (("gen_ai.usage.input_tokens", 1000 + i), ("gen_ai.usage.output_tokens", 10 * i)):
            a = s.attributes.add()
            a.key, a.value.int_value = key, value
    return req


def _sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}{{{re.escape(labels)}}} (\S+)$", text, re.M)
    assert match, (name, labels)
    return float(match.group(1))


def test_metrics_exposition(collector) -> None:
    assert http("POST", collector.http_url + "/v1/traces", _request().SerializeToString(), PB).status == 200
    http("POST", collector.http_url + "/v1/traces", b"\xff", PB)
    resp = http("GET", collector.http_url + "/metrics")
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = resp.body.decode()
    for line in text.splitlines():  # every line is a comment or `name{labels} number`
        assert line.startswith("# ") or re.match(r"^[a-z_]+(\{.*\})? -?[0-9.e+-]+$", line), line
    assert "tokentrail_collector_spans_received_total 6" in text
    assert "tokentrail_collector_spans_stored_total 6" in text
    assert "tokentrail_collector_queue_spans 0" in text
    assert "tokentrail_collector_decoder_compiled 1" in text  # the dev install compiles it (Makefile)
    assert 'tokentrail_collector_requests_total{transport="http",code="400"} 1' in text
    base = 'model="gpt-4o-mini",provider="openai"'
    assert _sample(text, "tokentrail_llm_requests_total", base) == 6
    assert _sample(text, "tokentrail_llm_tokens_total", base + ',type="input"') == sum(1000 + i for i in range(6))
    assert _sample(text, "tokentrail_llm_tokens_total", base + ',type="output"') == sum(10 * i for i in range(6))
    for le, expected in (("0.1", 1), ("0.25", 3), ("1", 4), ("5", 5), ("30", 5), ("60", 6), ("+Inf", 6)):
        assert _sample(text, "tokentrail_llm_duration_seconds_bucket", base + f',le="{le}"') == expected, le
    assert _sample(text, "tokentrail_llm_duration_seconds_sum", base) == sum(DURATIONS_MS) / 1000
    cost = query(collector, "SELECT sum(cost_usd) FROM llm_calls").json()["rows"][0][0]
    assert cost > 0
    assert abs(_sample(text, "tokentrail_llm_cost_usd_total", base) - cost) < 1e-12
