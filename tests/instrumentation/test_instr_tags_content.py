"""Tags across await, tasks and threads; message content only on opt-in, with redaction."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tokentrail

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "My card is 4111-1111."}]


def tag_attrs(span) -> dict:
    keys = ("user.id", "session.id", "tokentrail.feature")
    return {k: v for k, v in span.attributes.items() if k in keys or k.startswith("tokentrail.tag.")}


def test_tags_context_manager_nesting(traced, client):
    with tokentrail.tags(user_id="u1", feature="search", tenant="acme"):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        with tokentrail.tags(feature="rerank", attempt=2, beta=True):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    first, inner, outside = traced.spans()
    assert tag_attrs(first) == {"user.id": "u1", "tokentrail.feature": "search", "tokentrail.tag.tenant": "acme"}
    assert tag_attrs(inner) == {"user.id": "u1", "tokentrail.feature": "rerank", "tokentrail.tag.tenant": "acme",
                                "tokentrail.tag.attempt": 2, "tokentrail.tag.beta": True}
    assert tag_attrs(outside) == {}


def test_tags_decorator_sync_and_threads(traced, client):
    @tokentrail.tags(session_id="s-9", feature="batch")
    def job() -> None:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
        ctx = contextvars.copy_context()
        with_ctx = threading.Thread(target=ctx.run, args=(client.chat.completions.create,),
                                    kwargs={"model": MODEL, "messages": MESSAGES})
        bare = threading.Thread(target=client.chat.completions.create, kwargs={"model": MODEL, "messages": MESSAGES})
        with_ctx.start()
        with_ctx.join()
        bare.start()
        bare.join()

    job()
    spans = traced.spans()
    assert [tag_attrs(s) for s in spans] == [
        {"session.id": "s-9", "tokentrail.feature": "batch"},
        {"session.id": "s-9", "tokentrail.feature": "batch"},  # thread started with the copied context
        {},  # a plain thread does not inherit contextvars
    ]


async def test_tags_async_decorator_await_and_tasks(traced, aclient):
    @tokentrail.tags(user_id=42, feature="chat")
    async def handler() -> None:
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        await asyncio.gather(*(asyncio.create_task(aclient.chat.completions.create(model=MODEL, messages=MESSAGES))
                               for _ in range(2)))
        await asyncio.to_thread(lambda: None)

    await handler()
    await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    spans = traced.spans()
    assert [tag_attrs(s) for s in spans] == [{"user.id": "42", "tokentrail.feature": "chat"}] * 3 + [{}]


def test_tags_on_streams(traced, client):
    with tokentrail.tags(feature="stream"):
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    list(stream)  # consumed outside the block: the tags were taken when the call started
    assert tag_attrs(traced.one()) == {"tokentrail.feature": "stream"}


def test_no_content_by_default(traced, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    attrs = traced.attrs()
    assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} & set(attrs)
    assert "4111" not in repr(attrs)


@pytest.fixture
def capture_exporter(request):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    tokentrail.uninstrument()


def test_content_on_opt_in_with_redaction(capture_exporter, client):
    exporter, provider = capture_exporter
    tokentrail.instrument(tracer_provider=provider, capture_content=True,
                          redact=lambda text: text.replace("4111-1111", "[card]"))
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    attrs = dict(exporter.get_finished_spans()[0].attributes)
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "My card is [card]."}]}]
    assert json.loads(attrs["gen_ai.output.messages"]) == [{
        "role": "assistant", "parts": [{"type": "text", "content": r.choices[0].message.content}],
        "finish_reason": r.choices[0].finish_reason}]


def test_content_from_env_for_streams(capture_exporter, client, monkeypatch):
    exporter, provider = capture_exporter
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    tokentrail.instrument(tracer_provider=provider)
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    attrs = dict(exporter.get_finished_spans()[0].attributes)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": text}]
    assert "4111-1111" in attrs["gen_ai.input.messages"]  # no redact hook given


def test_content_of_streams_with_usage(capture_exporter, client):
    """A stream whose usage arrives is folded without reading each chunk's text, unless content
    is captured: then every chunk's text is read."""
    exporter, provider = capture_exporter
    tokentrail.instrument(tracer_provider=provider, capture_content=True)
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, max_tokens=30,
                                                 stream_options={"include_usage": True}))
    attrs = dict(exporter.get_finished_spans()[0].attributes)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": text}]
    assert attrs["tokentrail.usage.source"] == "api"
