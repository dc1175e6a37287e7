"""The real OpenTelemetry OTLP exporters (HTTP and gRPC) sending to the real collector."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

T0 = 1_767_225_600_123_456_789  # 2026-01-01T00:00:00.123456789Z
LLM_ATTRS = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.response.finish_reasons": ("length", "stop"),
    "gen_ai.request.max_tokens": 200,
    "gen_ai.request.temperature": 0.2,
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 340,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.cache_creation.input_tokens": 16,
    "gen_ai.usage.reasoning.output_tokens": 128,
    "gen_ai.request.stream": True,
    "gen_ai.response.time_to_first_chunk": 0.375,
    "error.type": "RateLimitError",
    "http.response.status_code": 429,
    "server.address": "api.openai.com",
    "server.port": 443,
    "openai.api.type": "chat_completions",
    "openai.response.service_tier": "flex",
    "tokentrail.retry.count": 2,
    "tokentrail.retry.wait_ms": 1500.0,
    "tokentrail.usage.source": "tiktoken",
    "tokentrail.context.utilization": 0.0094,
    "tokentrail.cache.hit": False,
    "user.id": "user-7",
    "session.id": "sess-9",
    "tokentrail.feature": "summarise",
    "tokentrail.tag.team": "search",
    "tokentrail.tag.tier": 3,
}


def _emit(exporter) -> tuple[object, object]:
    """A parent INTERNAL span and a CLIENT LLM child with events and a link; returns both."""
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tokentrail.tests", "9.9.9")
    parent = tracer.start_span("handle request", start_time=T0)
    other = tracer.start_span("unrelated", start_time=T0)
    other.end(end_time=T0 + 1)
    from opentelemetry.trace import set_span_in_context

    ctx = set_span_in_context(parent)
    child = tracer.start_span("chat gpt-4o-mini", context=ctx, kind=SpanKind.CLIENT, attributes=LLM_ATTRS,
                              start_time=T0 + 1_000_000, links=[Link(other.get_span_context(), {"why": "batch"})])
    child.add_event("tokentrail.retry", {"tokentrail.retry.attempt": 1, "http.response.status_code": 429,
                                         "error.type": "RateLimitError", "tokentrail.retry.backoff_ms": 500.0},
                    timestamp=T0 + 2_000_000)
    child.set_status(Status(StatusCode.ERROR, "rate limited"))
    child.end(end_time=T0 + 2_501_000_000)
    parent.end(end_time=T0 + 3_000_000_000)
    provider.shutdown()
    return parent, child


def _one(con, sql: str, params: list | None = None) -> dict:
    cur = con.cursor()
    try:
        res = cur.execute(sql, params or [])
        names = [d[0] for d in res.description]
        rows = res.fetchall()
    finally:
        cur.close()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def _check_rows(collector, parent, child) -> None:
    con = collector.con
    tid = format(child.get_span_context().trace_id, "032x")
    sid = format(child.get_span_context().span_id, "016x")
    pid = format(parent.get_span_context().span_id, "016x")
    span = _one(con, "SELECT * FROM spans WHERE span_id = ?", [sid])
    assert span["trace_id"] == tid
    assert span["parent_span_id"] == pid
    assert span["name"] == "chat gpt-4o-mini"
    assert span["kind"] == "CLIENT"
    assert span["ts"] == dt.datetime(2026, 1, 1, 0, 0, 0, 124456)  # T0 + 1 ms, truncated to µs
    assert span["end_ts"] == dt.datetime(2026, 1, 1, 0, 0, 2, 624456)
    assert span["duration_ms"] == pytest.approx(2500.0)
    assert span["status_code"] == "ERROR"
    assert span["status_message"] == "rate limited"
    assert span["service"] == "checkout"
    assert (span["scope_name"], span["scope_version"]) == ("tokentrail.tests", "9.9.9")
    attrs = json.loads(span["attributes"])
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in LLM_ATTRS.items()}
    assert attrs == expected
    resource = json.loads(span["resource"])
    assert resource["service.name"] == "checkout" and resource["deployment.environment"] == "test"
    events = json.loads(span["events"])
    assert events == [{"name": "tokentrail.retry", "time_unix_nano": T0 + 2_000_000, "attributes": {
        "tokentrail.retry.attempt": 1, "http.response.status_code": 429, "error.type": "RateLimitError",
        "tokentrail.retry.backoff_ms": 500.0}}]
    links = json.loads(span["links"])
    assert len(links) == 1 and links[0]["attributes"] == {"why": "batch"}
    root = _one(con, "SELECT * FROM spans WHERE span_id = ?", [pid])
    assert root["parent_span_id"] is None and root["kind"] == "INTERNAL" and root["status_code"] == "UNSET"

    row = _one(con, "SELECT * FROM llm_calls_raw WHERE span_id = ?", [sid])
    assert row["ts"] == span["ts"]
    assert (row["trace_id"], row["parent_span_id"], row["service"]) == (tid, pid, "checkout")
    assert (row["operation"], row["provider"], row["model"]) == ("chat", "openai", "gpt-4o-mini")
    assert row["response_model"] == "gpt-4o-mini-2024-07-18"
    assert row["server_address"] == "api.openai.com"
    assert (row["input_tokens"], row["output_tokens"]) == (1200, 340)
    assert (row["cached_input_tokens"], row["cache_write_tokens"], row["reasoning_tokens"]) == (1024, 16, 128)
    assert row["usage_source"] == "tiktoken"
    assert row["duration_ms"] == pytest.approx(2500.0)
    assert row["ttft_ms"] == pytest.approx(375.0)
    assert row["stream"] is True
    assert (row["status"], row["error_type"], row["http_status"]) == ("error", "RateLimitError", 429)
    assert (row["retry_count"], row["retry_wait_ms"]) == (2, 1500.0)
    assert row["finish_reason"] == "length"
    assert row["cache_hit"] is False
    assert row["saved_input_tokens"] is None and row["saved_ms"] is None
    assert row["context_utilization"] == pytest.approx(0.0094)
    assert (row["user_id"], row["session_id"], row["feature"]) == ("user-7", "sess-9", "summarise")
    assert json.loads(row["tags"]) == {"team": "search", "tier": 3}
    assert row["service_tier"] == "flex"
    # Only the LLM span is an LLM call.
    assert _one(con, "SELECT count(*) AS n FROM llm_calls_raw")["n"] == 1
    assert _one(con, "SELECT count(*) AS n FROM spans")["n"] == 3


def test_http_protobuf_exporter_rows_field_by_field(collector) -> None:
    parent, child = _emit(HttpExporter(endpoint=collector.http_url + "/v1/traces"))
    _check_rows(collector, parent, child)


def test_http_exporter_with_gzip(collector) -> None:
    parent, child = _emit(HttpExporter(endpoint=collector.http_url + "/v1/traces", compression=Compression.Gzip))
    _check_rows(collector, parent, child)


def test_grpc_exporter_rows_field_by_field(collector) -> None:
    parent, child = _emit(GrpcExporter(endpoint=f"127.0.0.1:{collector.grpc_bound_port}", insecure=True))
    _check_rows(collector, parent, child)


def test_grpc_exporter_with_gzip(collector) -> None:
    from grpc import Compression as GrpcCompression

    parent, child = _emit(GrpcExporter(endpoint=f"127.0.0.1:{collector.grpc_bound_port}", insecure=True,
                                       compression=GrpcCompression.Gzip))
    _check_rows(collector, parent, child)


def test_retried_export_is_not_duplicated(collector) -> None:
    """The same batch sent twice (what a client retry after a lost ack does) is stored once."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    _emit(memory)
    spans = memory.get_finished_spans()
    exporter = HttpExporter(endpoint=collector.http_url + "/v1/traces")
    for _ in range(3):
        assert exporter.export(spans).name == "SUCCESS"
    grpc_exporter = GrpcExporter(endpoint=f"127.0.0.1:{collector.grpc_bound_port}", insecure=True)
    assert grpc_exporter.export(spans).name == "SUCCESS"
    assert _one(collector.con, "SELECT count(*) AS n FROM spans")["n"] == len(spans) == 3
    assert _one(collector.con, "SELECT count(*) AS n FROM llm_calls_raw")["n"] == 1
    assert encode_spans(spans).resource_spans  # the encoder the embedded exporter uses agrees
