"""The end-attribute fast path gives the very span the SDK's public set_attributes would give."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry import attributes as otel_attributes
from opentelemetry.sdk.trace import SpanLimits, TracerProvider, _Span
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext
from tokentrail.instrumentation import span_attributes
from tokentrail.instrumentation.span_attributes import set_end_attributes

CLEAN = {"gen_ai.response.id": "chatcmpl-1", "gen_ai.usage.input_tokens": 12, "tokentrail.retry.wait_ms": 0.0,
         "tokentrail.cache.hit": False, "gen_ai.response.finish_reasons": ("stop", "length")}


def _pair(limits: SpanLimits | None = None) -> tuple[Any, Any, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    start = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    return tracer.start_span("fast", attributes=start), tracer.start_span("public", attributes=start), exporter


def _attributes(exporter: InMemorySpanExporter) -> dict[str, dict[str, Any]]:
    return {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}


@pytest.fixture
def cleanings(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The values the SDK's cleaner is asked to clean (it runs on the public path only)."""
    seen: list[Any] = []
    clean = otel_attributes._clean_attribute_value

    def counting(value: Any, limit: Any) -> Any:
        seen.append(value)
        return clean(value, limit)

    monkeypatch.setattr(otel_attributes, "_clean_attribute_value", counting)
    return seen


def test_this_sdk_takes_the_fast_path():
    assert span_attributes._SDK_SPAN is _Span  # the probe found the internals it relies on


def test_clean_values_skip_the_cleaner_and_end_up_as_the_sdk_stores_them(cleanings):
    fast, public, exporter = _pair()
    cleanings.clear()  # the provider's resource and the start attributes were cleaned
    set_end_attributes(fast, CLEAN)
    assert cleanings == []
    public.set_attributes(CLEAN)
    fast.end()
    public.end()
    got = _attributes(exporter)
    assert got["fast"] == got["public"] == {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                             **CLEAN}
    assert [s.dropped_attributes for s in exporter.get_finished_spans()] == [0, 0]


@pytest.mark.parametrize("value", [["stop"], ("stop", 1), {"a": 1}, object(), None, b"raw"],
                         ids=["list", "mixed-tuple", "mapping", "object", "none", "bytes"])
def test_other_values_go_through_the_cleaner(cleanings, value):
    fast, public, exporter = _pair()
    cleanings.clear()
    set_end_attributes(fast, {**CLEAN, "x": value})
    assert cleanings  # the public path ran
    public.set_attributes({**CLEAN, "x": value})
    fast.end()
    public.end()
    got = _attributes(exporter)
    assert got["fast"] == got["public"]


@pytest.mark.parametrize("limits", [SpanLimits(max_span_attribute_length=4), SpanLimits(max_span_attributes=4)],
                         ids=["value-length", "attribute-count"])
def test_span_limits_are_applied_as_the_sdk_applies_them(cleanings, limits):
    fast, public, exporter = _pair(limits)
    cleanings.clear()
    set_end_attributes(fast, CLEAN)
    assert cleanings  # the public path ran
    public.set_attributes(CLEAN)
    fast.end()
    public.end()
    got = _attributes(exporter)
    assert got["fast"] == got["public"]
    assert got["fast"] != {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", **CLEAN}
    spans = exporter.get_finished_spans()
    assert spans[0].dropped_attributes == spans[1].dropped_attributes


def test_an_ended_span_is_left_alone_with_the_sdks_warning(caplog):
    fast, _, exporter = _pair()
    fast.end()
    with caplog.at_level(logging.WARNING):
        set_end_attributes(fast, CLEAN)
    assert "ended span" in caplog.text
    assert "gen_ai.response.id" not in dict(fast.attributes)


def test_spans_of_other_tracers_get_the_public_call():
    span = NonRecordingSpan(SpanContext(trace_id=1, span_id=2, is_remote=False))
    set_end_attributes(span, CLEAN)  # a no-op span: nothing to check but that it is accepted
    assert not span.is_recording()
