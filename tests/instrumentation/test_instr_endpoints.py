"""Every other endpoint and access path: parse, .stream() helpers, responses, embeddings, completions,
with_raw_response and with_streaming_response — sync and async, real SDK over loopback."""

from __future__ import annotations

from typing import Any

import openai
import pydantic
from instr_helpers import cache_write, text_tokens

MODEL = "gpt-4o-mini"
WINDOW = 128_000
MESSAGES = [{"role": "user", "content": "Give me a city and its country."}]


class City(pydantic.BaseModel):
    city: str
    country: str


def server(sim: Any) -> dict[str, Any]:
    return {"gen_ai.provider.name": "openai", "server.address": "127.0.0.1", "server.port": sim.port}


def chat_usage(usage: Any) -> dict[str, Any]:
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.prompt_tokens_details.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": usage.completion_tokens_details.reasoning_tokens,
        **cache_write(usage.prompt_tokens_details),
        "tokentrail.usage.source": "api",
        "tokentrail.context.utilization": usage.prompt_tokens / WINDOW,
        "tokentrail.cache.hit": False,
    }


def chat_completion_attrs(sim: Any, r: Any, **request: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat", **server(sim), "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": False, "openai.api.type": "chat_completions", **request,
        "gen_ai.response.id": r.id, "gen_ai.response.model": r.model,
        "gen_ai.response.finish_reasons": tuple(c.finish_reason for c in r.choices),
        "openai.response.service_tier": r.service_tier,
        **chat_usage(r.usage), "http.response.status_code": 200, "tokentrail.retry.count": 0,
        "tokentrail.retry.wait_ms": 0.0,
    }


def without_ttfc(attrs: dict[str, Any]) -> dict[str, Any]:
    ttfc = attrs.pop("gen_ai.response.time_to_first_chunk", None)
    assert ttfc is None or ttfc > 0
    return attrs


# ---- chat.completions.parse and .stream() ---------------------------------------------------

def test_chat_parse_sync(traced, client, simulator):
    r = client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=City)
    assert isinstance(r.choices[0].message.parsed, City)
    assert traced.attrs() == chat_completion_attrs(simulator, r, **{"gen_ai.output.type": "json"})


async def test_chat_parse_async(traced, aclient, simulator):
    r = await aclient.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=City)
    assert traced.attrs() == chat_completion_attrs(simulator, r, **{"gen_ai.output.type": "json"})


def test_chat_stream_helper_sync(traced, client, simulator):
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES,
                                        stream_options={"include_usage": True}) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    attrs = without_ttfc(traced.attrs())
    assert attrs["tokentrail.stream.end"] == "completed"
    assert attrs["gen_ai.response.id"] == final.id
    assert attrs["gen_ai.request.stream"] is True
    assert {k: attrs[k] for k in chat_usage(final.usage)} == chat_usage(final.usage)


async def test_chat_stream_helper_async_closed_early(traced, aclient, simulator):
    async with aclient.chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        async for event in stream:
            if event.type == "content.delta":
                break
    # leaving the manager closes the helper, which ends the span without waiting for GC
    spans = traced.spans()
    assert len(spans) == 1
    assert spans[0].attributes["tokentrail.stream.end"] == "closed"
    assert spans[0].attributes["tokentrail.usage.source"] == "tiktoken"


# ---- responses -----------------------------------------------------------------------------------

def responses_attrs(sim: Any, r: Any, stream: bool) -> dict[str, Any]:
    u = r.usage
    return {
        "gen_ai.operation.name": "chat", **server(sim), "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": stream, "openai.api.type": "responses",
        "gen_ai.response.id": r.id, "gen_ai.response.model": r.model,
        "gen_ai.response.finish_reasons": ("stop",) if r.status == "completed" else (r.status,),
        "openai.response.service_tier": r.service_tier,
        "gen_ai.usage.input_tokens": u.input_tokens, "gen_ai.usage.output_tokens": u.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": u.input_tokens_details.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": u.output_tokens_details.reasoning_tokens,
        **cache_write(u.input_tokens_details),
        "tokentrail.usage.source": "api", "tokentrail.context.utilization": u.input_tokens / WINDOW,
        "tokentrail.cache.hit": False, "http.response.status_code": 200, "tokentrail.retry.count": 0,
        "tokentrail.retry.wait_ms": 0.0,
    }


def test_responses_create_sync(traced, client, simulator):
    r = client.responses.create(model=MODEL, input="Say hello.", max_output_tokens=50)
    assert traced.attrs() == {**responses_attrs(simulator, r, False), "gen_ai.request.max_tokens": 50}


async def test_responses_create_async(traced, aclient, simulator):
    r = await aclient.responses.create(model=MODEL, input="Say hello.")
    assert traced.attrs() == responses_attrs(simulator, r, False)


def test_responses_streamed_sync(traced, client, simulator):
    events = list(client.responses.create(model=MODEL, input="Say hello.", stream=True))
    final = next(e.response for e in events if e.type == "response.completed")
    span = traced.one()
    attrs = dict(span.attributes)
    ttfc = attrs.pop("gen_ai.response.time_to_first_chunk")
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9
    assert attrs == {**responses_attrs(simulator, final, True), "tokentrail.stream.end": "completed"}


async def test_responses_stream_helper_async(traced, aclient, simulator):
    async with aclient.responses.stream(model=MODEL, input="Say hello.") as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    attrs = without_ttfc(traced.attrs())
    assert attrs == {**responses_attrs(simulator, final, True), "tokentrail.stream.end": "completed"}


def test_responses_stream_helper_sync(traced, client, simulator):
    with client.responses.stream(model=MODEL, input="Say hello.") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    attrs = without_ttfc(traced.attrs())
    assert attrs == {**responses_attrs(simulator, final, True), "tokentrail.stream.end": "completed"}


def test_responses_parse_sync(traced, client, simulator):
    r = client.responses.parse(model=MODEL, input="A city?", text_format=City)
    assert isinstance(r.output_parsed, City)
    assert traced.attrs() == {**responses_attrs(simulator, r, False), "gen_ai.output.type": "json"}


async def test_responses_parse_async(traced, aclient, simulator):
    r = await aclient.responses.parse(model=MODEL, input="A city?", text_format=City)
    assert traced.attrs() == {**responses_attrs(simulator, r, False), "gen_ai.output.type": "json"}


# ---- embeddings and completions ------------------------------------------------------------------

def embeddings_attrs(sim: Any, r: Any, model: str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "embeddings", **server(sim), "gen_ai.request.model": model,
        "gen_ai.request.stream": False, "gen_ai.request.encoding_formats": ("float",),
        "gen_ai.embeddings.dimension.count": 256, "gen_ai.response.model": r.model,
        "gen_ai.usage.input_tokens": r.usage.prompt_tokens, "tokentrail.usage.source": "api",
        "tokentrail.context.utilization": r.usage.prompt_tokens / 8191, "tokentrail.cache.hit": False,
        "http.response.status_code": 200, "tokentrail.retry.count": 0, "tokentrail.retry.wait_ms": 0.0,
    }


def test_embeddings_sync(traced, client, simulator):
    model = "text-embedding-3-small"
    r = client.embeddings.create(model=model, input=["alpha beta", "gamma"], dimensions=256,
                                 encoding_format="float")
    span = traced.one()
    assert span.name == f"embeddings {model}"
    assert dict(span.attributes) == embeddings_attrs(simulator, r, model)


async def test_embeddings_async(traced, aclient, simulator):
    model = "text-embedding-3-small"
    r = await aclient.embeddings.create(model=model, input="alpha beta", dimensions=256, encoding_format="float")
    assert traced.attrs() == embeddings_attrs(simulator, r, model)


def completion_attrs(sim: Any, r: Any, model: str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "text_completion", **server(sim), "gen_ai.request.model": model,
        "gen_ai.request.stream": False, "gen_ai.request.max_tokens": 20, "gen_ai.response.id": r.id,
        "gen_ai.response.model": r.model, "gen_ai.response.finish_reasons": tuple(c.finish_reason for c in r.choices),
        "gen_ai.usage.input_tokens": r.usage.prompt_tokens, "gen_ai.usage.output_tokens": r.usage.completion_tokens,
        "tokentrail.usage.source": "api", "tokentrail.context.utilization": r.usage.prompt_tokens / 4096,
        "tokentrail.cache.hit": False, "http.response.status_code": 200, "tokentrail.retry.count": 0,
        "tokentrail.retry.wait_ms": 0.0,
    }


def test_completions_sync(traced, client, simulator):
    model = "gpt-3.5-turbo-instruct"
    r = client.completions.create(model=model, prompt="Once upon a time", max_tokens=20)
    span = traced.one()
    assert span.name == f"text_completion {model}"
    assert dict(span.attributes) == completion_attrs(simulator, r, model)


async def test_completions_async(traced, aclient, simulator):
    model = "gpt-3.5-turbo-instruct"
    r = await aclient.completions.create(model=model, prompt="Once upon a time", max_tokens=20)
    assert traced.attrs() == completion_attrs(simulator, r, model)


def test_completions_streamed_without_usage(traced, client, simulator):
    model = "gpt-3.5-turbo-instruct"
    chunks = list(client.completions.create(model=model, prompt="Once upon a time", max_tokens=20, stream=True))
    attrs = without_ttfc(traced.attrs())
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    # gpt-3.5-turbo-instruct uses cl100k_base
    assert attrs["tokentrail.usage.encoding"] == "cl100k_base"
    assert attrs["gen_ai.usage.input_tokens"] == text_tokens("Once upon a time", "cl100k_base")
    assert attrs["gen_ai.usage.output_tokens"] == text_tokens(text, "cl100k_base")
    assert attrs["tokentrail.usage.source"] == "tiktoken"


def test_completions_streamed_with_usage(traced, client, simulator):
    model = "gpt-3.5-turbo-instruct"
    chunks = list(client.completions.create(model=model, prompt="Once upon a time", max_tokens=20, n=2, stream=True,
                                            stream_options={"include_usage": True}))
    attrs = without_ttfc(traced.attrs())
    reasons = {c.index: c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason}
    assert sorted(reasons) == [0, 1]
    assert attrs["gen_ai.response.finish_reasons"] == (reasons[0], reasons[1])
    assert attrs["gen_ai.response.id"] == chunks[0].id
    assert attrs["gen_ai.usage.input_tokens"] == chunks[-1].usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
    assert attrs["tokentrail.usage.source"] == "api"


# ---- with_raw_response / with_streaming_response ---------------------------------------------------

def test_with_raw_response_sync(traced, client, simulator):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.headers.get("content-type", "").startswith("application/json")
    r = raw.parse()
    assert traced.attrs() == chat_completion_attrs(simulator, r)


async def test_with_raw_response_async(traced, aclient, simulator):
    raw = await aclient.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    r = raw.parse()
    assert traced.attrs() == chat_completion_attrs(simulator, r)


def test_with_raw_response_stream_sync(traced, client, simulator):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, stream=True,
                                                           stream_options={"include_usage": True})
    chunks = list(raw.parse())
    attrs = without_ttfc(traced.attrs())
    assert attrs["tokentrail.stream.end"] == "completed"
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


def test_with_streaming_response_parse_sync(traced, client, simulator):
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        assert traced.spans() == []  # body not read yet
        assert set(vars(response)) >= {"read", "close"}  # shadowed on this response only
        r = response.parse()
        assert not {"read", "close"} & set(vars(response))  # taken back once the span ended
    assert traced.attrs() == chat_completion_attrs(simulator, r)
    assert not hasattr(type(response).read, "__tokentrail_wrapped__")  # the class itself is never patched


async def test_with_streaming_response_parse_async(traced, aclient, simulator):
    async with aclient.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        r = await response.parse()
    assert traced.attrs() == chat_completion_attrs(simulator, r)


def test_with_streaming_response_sse_sync(traced, client, simulator):
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        chunks = list(response.parse())
    attrs = without_ttfc(traced.attrs())
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
    assert attrs["tokentrail.usage.source"] == "api"


async def test_with_streaming_response_sse_async(traced, aclient, simulator):
    async with aclient.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        chunks = [c async for c in await response.parse()]
    attrs = without_ttfc(traced.attrs())
    assert attrs["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


def test_with_streaming_response_read_as_json(traced, client, simulator):
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as response:
        body = response.json()
    attrs = traced.attrs()
    assert attrs["gen_ai.response.id"] == body["id"]
    assert attrs["gen_ai.usage.input_tokens"] == body["usage"]["prompt_tokens"]


def test_with_streaming_response_closed_unread(traced, client, simulator):
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES):
        pass
    attrs = traced.attrs()
    assert attrs["http.response.status_code"] == 200
    assert attrs["tokentrail.usage.source"] == "tiktoken"
    assert attrs["gen_ai.usage.output_tokens"] == 0  # the body was never read


def test_isinstance_and_attributes_preserved(traced, client, simulator):
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    import tokentrail

    tokentrail.uninstrument()
    plain = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert set(vars(stream)) == set(vars(plain))  # no extra attributes on the SDK's object
    plain.close()
    assert stream.response.is_closed is False
    with stream as same:
        assert same is stream
        list(same)
    assert stream.response.is_closed
