"""Spans shaped as other instrumentors document them land in the same typed llm_calls_raw columns.

Attribute names and value shapes follow each project's published conventions: OTel GenAI semconv
(old and current names), OpenLLMetry/Traceloop (semconv_ai), OpenInference (Arize) and OpenLIT.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

SPANS = {
    # OTel GenAI semconv before gen_ai.provider.name / input_tokens (semconv <= 1.26).
    "genai_old": {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-3.5-turbo",
        "gen_ai.response.model": "gpt-3.5-turbo-0125",
        "gen_ai.usage.prompt_tokens": 52,
        "gen_ai.usage.completion_tokens": 9,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.openai.request.service_tier": "default",
    },
    # OpenLLMetry (traceloop opentelemetry-instrumentation-openai).
    "openllmetry": {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.prompt_tokens": 2048,
        "gen_ai.usage.completion_tokens": 77,
        "llm.usage.total_tokens": 2125,
        "gen_ai.usage.cache_read_input_tokens": 1536,
        "gen_ai.usage.cache_creation_input_tokens": 0,
        "llm.is_streaming": True,
        "gen_ai.openai.api_base": "https://api.openai.com/v1/",
        "llm.response.finish_reason": "tool_calls",
        "traceloop.association.properties.user_id": "u-ollm",
        "traceloop.association.properties.session_id": "s-ollm",
    },
    "openllmetry_embedding": {
        "llm.request.type": "embedding",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.prompt_tokens": 8,
    },
    # OpenInference (openinference-instrumentation-openai).
    "openinference": {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4.1-mini",
        "llm.invocation_parameters": '{"model": "gpt-4.1-mini", "temperature": 0}',
        "llm.token_count.prompt": 900,
        "llm.token_count.completion": 450,
        "llm.token_count.total": 1350,
        "llm.token_count.prompt_details.cache_read": 256,
        "llm.token_count.prompt_details.cache_write": 32,
        "llm.token_count.completion_details.reasoning": 200,
        "session.id": "s-oi",
        "user.id": "u-oi",
    },
    "openinference_embedding": {
        "openinference.span.kind": "EMBEDDING",
        "embedding.model_name": "text-embedding-3-large",
        "llm.token_count.prompt": 12,
    },
    "openinference_chain": {"openinference.span.kind": "CHAIN", "input.value": "hi"},
    # OpenLIT.
    "openlit": {
        "gen_ai.system": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 31,
        "gen_ai.usage.output_tokens": 120,
        "gen_ai.usage.total_tokens": 151,
        "gen_ai.usage.reasoning_tokens": 64,
        "gen_ai.usage.cost": 0.000077,
        "gen_ai.request.is_stream": True,
        "gen_ai.server.ttft": 0.42,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.request.user": "u-lit",
        "server.address": "api.openai.com",
        "server.port": 443,
    },
    # Agent and tool spans carry gen_ai.* but are not model calls (no double counting).
    "agent": {"gen_ai.operation.name": "invoke_agent", "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 999},
    "tool": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
    "plain_http": {"http.request.method": "GET", "url.full": "https://example.com"},
    # Wrong types are treated as absent, not fatal.
    "wrong_types": {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": "17",
        "gen_ai.usage.output_tokens": "lots",
        "gen_ai.request.stream": "true",
        "http.response.status_code": 1e12,
        "tokentrail.retry.count": True,
    },
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, dict]:
    from tokentrail.collector.server import Collector

    db = tmp_path_factory.mktemp("conv") / "conv.duckdb"
    with Collector(db, http_port=0, grpc_port=None) as collector:
        provider = TracerProvider(resource=Resource.create({"service.name": "conv"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.http_url + "/v1/traces")))
        tracer = provider.get_tracer("conv")
        ids = {}
        for name, attrs in SPANS.items():
            span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
            span.end()
            ids[format(span.get_span_context().span_id, "016x")] = name
        provider.shutdown()
        cur = collector.con.cursor()
        res = cur.execute("SELECT * FROM llm_calls_raw")
        names = [d[0] for d in res.description]
        out = {ids[r[names.index("span_id")]]: dict(zip(names, r, strict=True)) for r in res.fetchall()}
        assert cur.execute("SELECT count(*) FROM spans").fetchall()[0][0] == len(SPANS)
        cur.close()
    return out


def test_non_llm_spans_are_not_llm_calls(rows) -> None:
    assert {"agent", "tool", "plain_http", "openinference_chain"}.isdisjoint(rows)
    assert len(rows) == len(SPANS) - 4


def test_genai_old_names(rows) -> None:
    r = rows["genai_old"]
    assert (r["operation"], r["provider"], r["model"], r["response_model"]) == (
        "chat", "openai", "gpt-3.5-turbo", "gpt-3.5-turbo-0125")
    assert (r["input_tokens"], r["output_tokens"], r["finish_reason"]) == (52, 9, "stop")
    assert r["service_tier"] == "default" and r["usage_source"] == "api" and r["status"] == "ok"


def test_openllmetry(rows) -> None:
    r = rows["openllmetry"]
    assert (r["operation"], r["provider"], r["model"]) == ("chat", "OpenAI", "gpt-4o")
    assert (r["input_tokens"], r["output_tokens"], r["cached_input_tokens"], r["cache_write_tokens"]) == (2048, 77, 1536, 0)
    assert r["stream"] is True and r["finish_reason"] == "tool_calls"
    assert r["server_address"] == "api.openai.com"
    assert (r["user_id"], r["session_id"]) == ("u-ollm", "s-ollm")
    e = rows["openllmetry_embedding"]
    assert (e["operation"], e["model"], e["input_tokens"], e["output_tokens"]) == (
        "embeddings", "text-embedding-3-small", 8, None)


def test_openinference(rows) -> None:
    r = rows["openinference"]
    assert (r["operation"], r["provider"], r["model"]) == ("chat", "openai", "gpt-4.1-mini")
    assert (r["input_tokens"], r["output_tokens"]) == (900, 450)
    assert (r["cached_input_tokens"], r["cache_write_tokens"], r["reasoning_tokens"]) == (256, 32, 200)
    assert (r["user_id"], r["session_id"]) == ("u-oi", "s-oi")
    e = rows["openinference_embedding"]
    assert (e["operation"], e["model"], e["input_tokens"]) == ("embeddings", "text-embedding-3-large", 12)


def test_openlit(rows) -> None:
    r = rows["openlit"]
    assert (r["operation"], r["provider"], r["model"], r["response_model"]) == (
        "chat", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (r["input_tokens"], r["output_tokens"], r["reasoning_tokens"]) == (31, 120, 64)
    assert r["stream"] is True and r["ttft_ms"] == pytest.approx(420.0)
    assert (r["finish_reason"], r["user_id"], r["server_address"]) == ("stop", "u-lit", "api.openai.com")


def test_wrong_types_become_null_or_are_coerced(rows) -> None:
    r = rows["wrong_types"]
    assert r["input_tokens"] == 17  # numeric text is accepted
    assert r["output_tokens"] is None
    assert r["stream"] is True
    assert r["http_status"] is None  # out of INTEGER range
    assert r["retry_count"] is None  # a bool is not a count
    assert r["tags"] is None or json.loads(r["tags"]) == {}
