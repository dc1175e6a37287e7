"""Chat Completions through the real openai SDK over loopback."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum

import openai
import pydantic
import pytest

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say something."}]


class Unit(str, Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class GetWeather(pydantic.BaseModel):
    city: str
    unit: Unit
    days: int


class Place(pydantic.BaseModel):
    name: str
    visited_at: datetime
    rating: float


class Trip(pydantic.BaseModel):
    title: str
    places: list[Place]
    budget_usd: int | None
    tags: list[str]


def test_non_streaming_reply_has_text_and_consistent_usage(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == "gpt-4o-mini"
    (choice,) = r.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content
    u = r.usage
    assert u is not None
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.prompt_tokens_details.cached_tokens == 0
    assert u.completion_tokens_details.reasoning_tokens == 0


def test_stream_matches_non_stream_and_ends_with_usage_chunk(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage == full.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert all(c.usage is None and c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_n_choices_are_distinct_and_all_billed(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    texts = [c.message.content for c in r.choices]
    assert len(set(texts)) == 3
    single = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=1)
    assert r.usage.prompt_tokens == single.usage.prompt_tokens  # the prompt is billed once
    enc = _encoding("gpt-4o-mini")
    assert r.usage.completion_tokens == sum(len(enc.encode(t)) for t in texts)


def test_n_choices_stream_by_index(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, n=2, stream=True, stream_options={"include_usage": True}
    )
    texts = {0: "", 1: ""}
    usage = None
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
        usage = chunk.usage or usage
    assert [texts[0], texts[1]] == [c.message.content for c in full.choices]
    assert usage == full.usage


def test_tool_call_with_arguments_matching_the_schema(client: openai.OpenAI) -> None:
    tools = [openai.pydantic_function_tool(GetWeather)]
    r = client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "GetWeather"
    parsed = call.function.parsed_arguments
    assert isinstance(parsed, GetWeather)
    assert GetWeather.model_validate_json(call.function.arguments) == parsed


def test_tool_result_turn_answers_in_text(client: openai.OpenAI) -> None:
    tools = [openai.pydantic_function_tool(GetWeather)]
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    call = first.choices[0].message.tool_calls[0]
    second = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "Weather?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
        ],
        tools=tools,
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


def test_tool_choice_none_and_named(client: openai.OpenAI) -> None:
    class Other(pydantic.BaseModel):
        query: str

    tools = [openai.pydantic_function_tool(GetWeather), openai.pydantic_function_tool(Other)]
    none = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=tools, tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content
    named = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "Other"}},
    )
    (call,) = named.choices[0].message.tool_calls
    assert call.function.name == "Other"
    assert set(json.loads(call.function.arguments)) == {"query"}


def test_streamed_tool_call_reassembles_to_valid_arguments(client: openai.OpenAI) -> None:
    tools = [openai.pydantic_function_tool(GetWeather)]
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert final.choices[0].finish_reason == "tool_calls"


def test_json_object_response_format_is_valid_json(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_parse_with_pydantic_schema(client: openai.OpenAI) -> None:
    r = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Trip)
    trip = r.choices[0].message.parsed
    assert isinstance(trip, Trip)
    assert all(isinstance(p, Place) for p in trip.places)
    assert r.usage.completion_tokens == len(_encoding("gpt-4o-mini").encode(r.choices[0].message.content))


def test_max_tokens_truncates_with_length_and_parse_refuses(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(
            model="gpt-4o-mini", messages=MESSAGES, response_format=Trip, max_completion_tokens=5
        )


def test_reasoning_model_reports_reasoning_tokens_inside_completion_tokens(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="o4-mini", messages=MESSAGES, reasoning_effort="high")
    reasoning = r.usage.completion_tokens_details.reasoning_tokens
    assert reasoning > 0 and reasoning % 64 == 0
    visible = len(_encoding("o4-mini").encode(r.choices[0].message.content))
    assert r.usage.completion_tokens == visible + reasoning
    low = client.chat.completions.create(model="o4-mini", messages=MESSAGES, reasoning_effort="low")
    assert low.usage.completion_tokens_details.reasoning_tokens < reasoning


async def test_async_client_create_stream_and_parse(aclient: openai.AsyncOpenAI) -> None:
    full = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        usage = chunk.usage or usage
    assert "".join(pieces) == full.choices[0].message.content
    assert usage == full.usage
    parsed = await aclient.chat.completions.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Trip
    )
    assert isinstance(parsed.choices[0].message.parsed, Trip)


async def test_async_concurrent_requests(aclient: openai.AsyncOpenAI) -> None:
    import asyncio

    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(40)]
    results = await asyncio.gather(
        *(aclient.chat.completions.create(model="gpt-4o-mini", messages=m) for m in prompts)
    )
    assert len({r.id for r in results}) == 40
    assert all(r.choices[0].message.content for r in results)


def _encoding(model: str):
    import tiktoken

    return tiktoken.encoding_for_model(model)
