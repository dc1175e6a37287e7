"""instrument()/uninstrument(): exact restore, idempotence, and never breaking the app."""

from __future__ import annotations

import logging
import time
from typing import Any

import openai
import pytest
from instr_helpers import API_KEY
from openai import _base_client, _streaming
from openai.lib.streaming.chat import _completions as chat_streams
from openai.lib.streaming.responses import _responses as response_streams
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tokentrail.instrumentation import calls, exporting
from tokentrail.instrumentation.otel_entry import TokentrailInstrumentor

import tokentrail

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
_MISSING = object()

PATCHED = [
    (_base_client.SyncAPIClient, "request"), (_base_client.SyncAPIClient, "_process_response"),
    (_base_client.SyncAPIClient, "_sleep_for_retry"), (_base_client.AsyncAPIClient, "request"),
    (_base_client.AsyncAPIClient, "_process_response"), (_base_client.AsyncAPIClient, "_sleep_for_retry"),
    (_streaming.Stream, "close"), (_streaming.AsyncStream, "close"),
    (chat_streams.ChatCompletionStream, "close"), (chat_streams.AsyncChatCompletionStream, "close"),
    (response_streams.ResponseStream, "close"), (response_streams.AsyncResponseStream, "close"),
]


def snapshot() -> dict[tuple[type, str], Any]:
    return {(cls, name): cls.__dict__.get(name, _MISSING) for cls, name in PATCHED}


def provider_with(exporter: SpanExporter, batch: bool = False) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def test_uninstrument_restores_every_original(client):
    before = snapshot()
    exporter = InMemorySpanExporter()
    assert tokentrail.instrument(tracer_provider=provider_with(exporter))
    during = snapshot()
    assert all(during[key] is not before[key] for key in before), "every listed method is patched"
    assert tokentrail.uninstrument()
    after = snapshot()
    assert all(after[key] is before[key] for key in before)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert exporter.get_finished_spans() == ()
    assert tokentrail.uninstrument() is False  # nothing left to undo


def test_instrument_twice_gives_one_span(client):
    exporter = InMemorySpanExporter()
    provider = provider_with(exporter)
    try:
        assert tokentrail.instrument(tracer_provider=provider) is True
        assert tokentrail.instrument(tracer_provider=provider) is False
        TokentrailInstrumentor().instrument(tracer_provider=provider)  # the OTel entry point too
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert len(exporter.get_finished_spans()) == 1
    finally:
        TokentrailInstrumentor().uninstrument()
        tokentrail.uninstrument()


class BrokenExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.calls += 1
        raise ConnectionError("collector is down")

    def shutdown(self) -> None:
        pass


class ExplodingProcessor(SimpleSpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor bug on start")

    def on_end(self, span: Any) -> None:
        raise RuntimeError("processor bug on end")


@pytest.mark.parametrize("batch", [False, True])
def test_broken_exporter_does_not_affect_the_caller(client, batch):
    exporter = BrokenExporter()
    provider = provider_with(exporter, batch=batch)
    tokentrail.instrument(tracer_provider=provider)
    try:
        r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
        provider.force_flush()
    finally:
        tokentrail.uninstrument()
    assert r.choices[0].message.content
    assert chunks
    assert exporter.calls >= 1


async def test_exploding_span_processor_does_not_affect_the_caller(aclient, caplog):
    provider = TracerProvider()
    provider.add_span_processor(ExplodingProcessor(InMemorySpanExporter()))
    calls._reported = False
    tokentrail.instrument(tracer_provider=provider)
    try:
        with caplog.at_level(logging.WARNING, logger="tokentrail.instrumentation"):
            r = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
            r2 = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        tokentrail.uninstrument()
    assert r.id and r2.id
    warnings = [rec for rec in caplog.records if rec.name == "tokentrail.instrumentation"]
    assert len(warnings) == 1  # logged once, not per call


def test_api_errors_pass_through_when_tracing_fails(client, caplog):
    class BrokenTracerProvider(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            tracer = super().get_tracer(*args, **kwargs)

            def start_span(*a: Any, **k: Any) -> Any:
                raise RuntimeError("tracer bug")

            tracer.start_span = start_span
            return tracer

    calls._reported = False
    tokentrail.instrument(tracer_provider=BrokenTracerProvider())
    try:
        with caplog.at_level(logging.WARNING, logger="tokentrail.instrumentation"):
            ok = client.chat.completions.create(model=MODEL, messages=MESSAGES)
            with pytest.raises(openai.InternalServerError):
                client.with_options(max_retries=0).chat.completions.create(
                    model=MODEL, messages=MESSAGES, extra_headers={"x-sim-fault": "500"})
    finally:
        tokentrail.uninstrument()
    assert ok.choices
    assert sum(rec.name == "tokentrail.instrumentation" for rec in caplog.records) == 1


def test_otel_sdk_disabled_means_no_patching(monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("TOKENTRAIL_DB", str(tmp_path / "t.duckdb"))
    before = snapshot()
    assert tokentrail.instrument() is False
    assert snapshot() == before


def test_dead_collector_keeps_calls_fast_and_queue_bounded(simulator, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "32")
    assert tokentrail.instrument(endpoint=f"http://127.0.0.1:{dead}")
    try:
        from tokentrail.instrumentation import core

        provider = core._installed.owned_provider
        processor = provider._active_span_processor._span_processors[0]
        with openai.OpenAI(base_url=simulator.base_url, api_key=API_KEY) as client:
            for _ in range(100):
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
        queue = processor._batch_processor._queue
        assert queue.maxlen == 64 and len(queue) <= 64
    finally:
        started = time.monotonic()
        tokentrail.uninstrument()
        closing_s = time.monotonic() - started
    # at most the one export in flight waits out its timeout; queued batches are dropped, not retried
    assert closing_s < exporting.DEFAULT_TIMEOUT_S + 2


def test_bad_exporter_settings_do_not_crash_the_app(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8")  # smaller than the default batch size: invalid
    with caplog.at_level(logging.ERROR, logger="tokentrail.instrumentation"):
        assert tokentrail.instrument(endpoint="http://127.0.0.1:9") is False
    assert "max_export_batch_size" in caplog.text


def test_uninstrument_leaves_open_streams_working(client):
    exporter = InMemorySpanExporter()
    tokentrail.instrument(tracer_provider=provider_with(exporter))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    tokentrail.uninstrument()
    assert list(stream)
    assert len(exporter.get_finished_spans()) == 1


def test_concurrent_threads_keep_their_calls_apart(traced, client):
    import contextvars
    import threading
    import uuid

    def worker(n: int) -> None:
        with tokentrail.tags(user_id=f"user-{n}"):
            for i in range(3):
                headers = ({"x-sim-fault": "429", "x-sim-fault-count": "1", "x-sim-fault-key": uuid.uuid4().hex,
                            "x-sim-retry-after": "0.01"} if n % 2 else {})
                if i == 1:
                    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                        extra_headers=headers))
                else:
                    client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=headers)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(worker, n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = traced.spans()
    assert len(spans) == 24
    for span in spans:
        n = int(span.attributes["user.id"].split("-")[1])
        retries = [e for e in span.events if e.name == "tokentrail.retry"]
        assert span.attributes["tokentrail.retry.count"] == len(retries) == (1 if n % 2 else 0)
