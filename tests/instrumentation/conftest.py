"""Fixtures: the instrumentation installed on an in-memory TracerProvider, SDK clients on the simulator."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from instr_helpers import API_KEY
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tokentrail


class Traced:
    """The exporter plus helpers to fetch the one span a test expects."""

    def __init__(self, exporter: InMemorySpanExporter, metrics: InMemoryMetricReader) -> None:
        self.exporter = exporter
        self.metrics = metrics

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def one(self) -> ReadableSpan:
        gc.collect()
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def attrs(self) -> dict[str, Any]:
        return dict(self.one().attributes or {})

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture
def traced() -> Iterator[Traced]:
    gc.collect()  # finish spans of streams abandoned by earlier tests before we start counting
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    assert tokentrail.instrument(tracer_provider=provider, meter_provider=MeterProvider([reader]))
    try:
        yield Traced(exporter, reader)
    finally:
        tokentrail.uninstrument()
        gc.collect()


@pytest.fixture
def client(simulator: Any) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=simulator.base_url, api_key=API_KEY, max_retries=2) as c:
        yield c


@pytest.fixture
async def aclient(simulator: Any) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(base_url=simulator.base_url, api_key=API_KEY, max_retries=2)
    try:
        yield c
    finally:
        await c.close()
