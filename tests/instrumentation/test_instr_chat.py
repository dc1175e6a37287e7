"""chat.completions.create through the real SDK to the simulator: plain and streamed, sync and async."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import openai
import pytest
from instr_helpers import cache_write, chat_prompt_tokens, text_tokens
from opentelemetry.trace import SpanKind, StatusCode
from tokentrail.instrumentation import calls, streams

MODEL = "gpt-4o-mini"
WINDOW = 128_000  # gpt-4o-mini's published context window
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three rivers."}]


def base(sim: Any, stream: bool) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": sim.port,
        "gen_ai.request.stream": stream,
        "openai.api.type": "chat_completions",
    }


def expected_for_completion(sim: Any, r: Any) -> dict[str, Any]:
    u = r.usage
    return {
        **base(sim, False),
        "gen_ai.request.max_tokens": 40,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.seed": 7,
        "gen_ai.response.id": r.id,
        "gen_ai.response.model": r.model,
        "gen_ai.response.finish_reasons": tuple(c.finish_reason for c in r.choices),
        "openai.response.service_tier": r.service_tier,
        "gen_ai.usage.input_tokens": u.prompt_tokens,
        "gen_ai.usage.output_tokens": u.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": u.prompt_tokens_details.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": u.completion_tokens_details.reasoning_tokens,
        **cache_write(u.prompt_tokens_details),
        "tokentrail.usage.source": "api",
        "tokentrail.context.utilization": u.prompt_tokens / WINDOW,
        "tokentrail.cache.hit": False,
        "http.response.status_code": 200,
        "tokentrail.retry.count": 0,
        "tokentrail.retry.wait_ms": 0.0,
    }


def test_chat_create_sync(traced, client, simulator):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=40, temperature=0.5, seed=7)
    span = traced.one()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == expected_for_completion(simulator, r)
    assert span.end_time > span.start_time
    assert not span.events


async def test_chat_create_async(traced, aclient, simulator):
    r = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=40, temperature=0.5,
                                              seed=7)
    assert traced.attrs() == expected_for_completion(simulator, r)


def test_rare_parameters_are_recorded_with_few_keys(traced, client):
    """model + messages + seed is three keys; the seed must not be skipped as "only the usual keys"."""
    client.chat.completions.create(model=MODEL, messages=MESSAGES, seed=11)
    assert traced.attrs()["gen_ai.request.seed"] == 11
    traced.clear()
    client.chat.completions.create(model=MODEL, messages=MESSAGES, stop=["."])
    assert traced.attrs()["gen_ai.request.stop_sequences"] == (".",)


def stream_expectations(sim: Any, chunks: list[Any], how: str) -> dict[str, Any]:
    usage = chunks[-1].usage
    return {
        **base(sim, True),
        "tokentrail.stream.end": how,
        "gen_ai.response.id": chunks[0].id,
        "gen_ai.response.model": chunks[0].model,
        "openai.response.service_tier": chunks[0].service_tier,
        "gen_ai.response.finish_reasons": tuple(c.choices[0].finish_reason for c in chunks
                                                if c.choices and c.choices[0].finish_reason),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.prompt_tokens_details.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": usage.completion_tokens_details.reasoning_tokens,
        **cache_write(usage.prompt_tokens_details),
        "tokentrail.usage.source": "api",
        "tokentrail.context.utilization": usage.prompt_tokens / WINDOW,
        "tokentrail.cache.hit": False,
        "http.response.status_code": 200,
        "tokentrail.retry.count": 0,
        "tokentrail.retry.wait_ms": 0.0,
    }


def check_ttfc(span: Any, attrs: dict[str, Any]) -> None:
    ttfc = attrs.pop("gen_ai.response.time_to_first_chunk")
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9


def test_stream_with_usage_sync(traced, client, simulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    assert type(stream) is openai.Stream
    assert stream.response.status_code == 200
    assert traced.spans() == []  # the span lives until the stream ends
    chunks = list(stream)
    span = traced.one()
    attrs = dict(span.attributes)
    check_ttfc(span, attrs)
    assert attrs == stream_expectations(simulator, chunks, "completed")


async def test_stream_with_usage_async(traced, aclient, simulator):
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True})
    assert type(stream) is openai.AsyncStream
    chunks = [c async for c in stream]
    span = traced.one()
    attrs = dict(span.attributes)
    check_ttfc(span, attrs)
    assert attrs == stream_expectations(simulator, chunks, "completed")


def streamed_finish_reasons(chunks: list[Any]) -> tuple[str, ...]:
    """Each choice's finish reason, by choice index, as the chunks carried them."""
    reasons = {c.index: c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason}
    return tuple(reasons[i] for i in sorted(reasons))


@pytest.mark.parametrize("n", [1, 3])
def test_stream_with_usage_and_several_choices(traced, client, simulator, n):
    """The stream's end reads only its first chunk, the finish reasons and the usage: every choice's
    finish reason must still be found."""
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, n=n, max_tokens=12,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    attrs = traced.attrs()
    assert len({c.index for chunk in chunks for c in chunk.choices}) == n
    assert attrs["gen_ai.response.finish_reasons"] == streamed_finish_reasons(chunks)
    assert len(attrs["gen_ai.response.finish_reasons"]) == n
    assert attrs["gen_ai.response.id"] == chunks[0].id
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
    assert attrs["tokentrail.usage.source"] == "api"


def test_long_stream_folded_in_batches(traced, client, simulator, monkeypatch):
    """More chunks than one fold batch: the first batches are folded whole, the last one lazily."""
    monkeypatch.setattr(streams, "_BATCH", 4)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, n=2, max_tokens=40,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert len(chunks) > 3 * streams._BATCH  # precondition: several batches
    span = traced.one()
    attrs = dict(span.attributes)
    check_ttfc(span, attrs)
    assert attrs["gen_ai.response.id"] == chunks[0].id
    assert attrs["gen_ai.response.model"] == chunks[0].model
    assert attrs["gen_ai.response.finish_reasons"] == streamed_finish_reasons(chunks)
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_fold_failing_mid_stream_keeps_forwarding(traced, client, aclient, monkeypatch, caplog, use_async):
    """Our fold raising on a batch mid-stream: logged once, the caller still gets every chunk, the
    watch stops buffering and folding, and the span still ends when the stream does."""
    monkeypatch.setattr(streams, "_BATCH", 4)
    folds: list[bool] = []

    def fold(self: Any, items: list[Any], last: bool) -> None:
        folds.append(last)
        raise RuntimeError("fold bug")

    monkeypatch.setattr(calls.ChoicesCall, "fold", fold)
    monkeypatch.setattr(calls, "_reported", False)
    kwargs = {"model": MODEL, "messages": MESSAGES, "stream": True, "n": 2, "max_tokens": 40,
              "stream_options": {"include_usage": True}}
    with caplog.at_level(logging.WARNING, logger="tokentrail.instrumentation"):
        if use_async:
            chunks = [c async for c in await aclient.chat.completions.create(**kwargs)]
        else:
            chunks = list(client.chat.completions.create(**kwargs))
    assert len(chunks) > 3 * streams._BATCH  # precondition: the failure comes early in the stream
    assert chunks[-1].usage is not None  # the caller got the stream to its very end
    assert len({c.id for c in chunks}) == 1
    assert folds == [False]  # nothing folded after the failure, not even the rest at the end
    assert sum(rec.name == "tokentrail.instrumentation" for rec in caplog.records) == 1
    span = traced.one()
    assert span.end_time is not None
    assert dict(span.attributes)["tokentrail.stream.end"] == "completed"


def tiktoken_expectations(sim: Any, chunks: list[Any], how: str) -> dict[str, Any]:
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    inp = chat_prompt_tokens(MESSAGES)
    expected = {
        **base(sim, True),
        "tokentrail.stream.end": how,
        "gen_ai.response.id": chunks[0].id,
        "gen_ai.response.model": chunks[0].model,
        "openai.response.service_tier": chunks[0].service_tier,
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": text_tokens(text),
        "tokentrail.usage.source": "tiktoken",
        "tokentrail.usage.encoding": "o200k_base",
        "tokentrail.context.utilization": inp / WINDOW,
        "tokentrail.cache.hit": False,
        "http.response.status_code": 200,
        "tokentrail.retry.count": 0,
        "tokentrail.retry.wait_ms": 0.0,
    }
    reasons = tuple(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
    if reasons:
        expected["gen_ai.response.finish_reasons"] = reasons
    return expected


def test_stream_without_usage_counts_with_tiktoken(traced, client, simulator):
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
    assert all(c.usage is None for c in chunks)  # we never inject stream_options
    span = traced.one()
    attrs = dict(span.attributes)
    check_ttfc(span, attrs)
    assert attrs == tiktoken_expectations(simulator, chunks, "completed")


async def test_stream_async_context_manager(traced, aclient, simulator):
    async with await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        chunks = [c async for c in stream]
    attrs = traced.attrs()
    attrs.pop("gen_ai.response.time_to_first_chunk")
    assert attrs == tiktoken_expectations(simulator, chunks, "completed")


def test_stream_closed_early_ends_span_at_close(traced, client, simulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [next(stream), next(stream), next(stream)]
    stream.close()
    spans = traced.spans()  # no gc: close() itself ends the span
    assert len(spans) == 1
    attrs = dict(spans[0].attributes)
    attrs.pop("gen_ai.response.time_to_first_chunk")
    assert attrs == tiktoken_expectations(simulator, chunks, "closed")


async def test_stream_closed_early_async(traced, aclient, simulator):
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [await stream.__anext__(), await stream.__anext__()]
    await stream.close()
    spans = traced.spans()
    assert len(spans) == 1
    attrs = dict(spans[0].attributes)
    attrs.pop("gen_ai.response.time_to_first_chunk")
    assert attrs == tiktoken_expectations(simulator, chunks, "closed")


def test_stream_abandoned_ends_at_last_chunk_when_collected(traced, client, simulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [next(stream), next(stream)]
    before_last_chunk = time.time_ns()
    chunks.append(next(stream))
    after_last_chunk = time.time_ns()
    time.sleep(0.05)
    del stream
    gc.collect()
    span = traced.one()
    # the span ends when the last chunk arrived: not at GC time, not at an earlier chunk
    assert before_last_chunk <= span.end_time <= after_last_chunk
    attrs = dict(span.attributes)
    attrs.pop("gen_ai.response.time_to_first_chunk")
    assert attrs == tiktoken_expectations(simulator, chunks, "abandoned")


async def test_stream_abandoned_async(traced, aclient, simulator):
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [await stream.__anext__()]
    del stream
    gc.collect()
    attrs = traced.attrs()
    attrs.pop("gen_ai.response.time_to_first_chunk")
    assert attrs == tiktoken_expectations(simulator, chunks, "abandoned")


def test_stream_break_out_of_loop_then_close(traced, client, simulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    seen = []
    for chunk in stream:
        seen.append(chunk)
        if len(seen) == 4:
            break
    with stream:  # context-manager exit closes it
        pass
    assert len(traced.spans()) == 1
    assert traced.attrs()["tokentrail.stream.end"] == "closed"


def test_non_streaming_call_has_no_ttfc_and_metrics_are_recorded(traced, client, simulator):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "gen_ai.response.time_to_first_chunk" not in traced.attrs()
    data = traced.metrics.get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert set(metrics) == {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"}
    usage = metrics["gen_ai.client.token.usage"]
    assert usage.unit == "{token}"
    by_type = {p.attributes["gen_ai.token.type"]: p for p in usage.data.data_points}
    assert by_type["input"].sum == r.usage.prompt_tokens
    assert by_type["output"].sum == r.usage.completion_tokens
    assert list(by_type["input"].explicit_bounds) == [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144,
                                                      1048576, 4194304, 16777216, 67108864]
    assert dict(by_type["input"].attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1", "server.port": simulator.port, "gen_ai.response.model": r.model,
        "gen_ai.token.type": "input",
    }
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    assert list(duration.data.data_points[0].explicit_bounds) == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28,
                                                                  2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
    span = traced.one()
    assert abs(duration.data.data_points[0].sum - (span.end_time - span.start_time) / 1e9) < 1e-6


def test_streaming_records_time_to_first_chunk_metric(traced, client, simulator):
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass
    span = traced.one()
    data = traced.metrics.get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    ttfc = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert ttfc.unit == "s"
    assert ttfc.data.data_points[0].sum == span.attributes["gen_ai.response.time_to_first_chunk"]
