"""The Responses API through the real openai SDK: create, stream, the stream helper, parse, tools."""

from __future__ import annotations

import json

import openai
import pydantic
import tiktoken

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    # response.output_text.delta ...
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


class Answer(pydantic.BaseModel):
    summary: str
    confidence: float
    sources: list[str]


class Lookup(pydantic.BaseModel):
    term: str
    limit: int


def test_create_returns_text_and_usage(client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o-mini", input="Tell me something.", instructions="Be brief.")
    assert r.object == "response" and r.status == "completed"
    assert r.id.startswith("resp_")
    assert r.output_text
    (item,) = r.output
    assert item.type == "message" and item.role == "assistant"
    u = r.usage
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0
    assert u.output_tokens_details.reasoning_tokens == 0
    assert u.output_tokens == len(tiktoken.encoding_for_model("gpt-4o-mini").encode(r.output_text))


def test_stream_emits_typed_events_in_order(client: openai.OpenAI) -> None:
    full = client.responses.create(model="gpt-4o-mini", input="Tell me something.")
    events = list(client.responses.create(model="gpt-4o-mini", input="Tell me something.", stream=True))
    types = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert [t for t in types if t != "response.output_text.delta"] == TEXT_EVENTS
    assert types.index("response.content_part.added") < types.index("response.output_text.delta")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in deltas)
    assert text == full.output_text
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == text
    completed = events[-1].response
    assert completed.status == "completed"
    assert completed.usage == full.usage
    assert completed.output_text == text
    assert events[0].response.status == "in_progress" and events[0].response.usage is None


def test_stream_helper_accumulates_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o-mini", input="Tell me something.") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas)
    assert final.usage.output_tokens > 0


def test_parse_with_text_format(client: openai.OpenAI) -> None:
    r = client.responses.parse(model="gpt-4o-mini", input="Summarise.", text_format=Answer)
    assert isinstance(r.output_parsed, Answer)
    assert Answer.model_validate_json(r.output_text) == r.output_parsed


def test_stream_helper_parses_text_format(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o-mini", input="Summarise.", text_format=Answer) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Answer)


def test_function_call_and_tool_output_round_trip(client: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "name": "lookup", "parameters": Lookup.model_json_schema(), "strict": False}
    ]
    first = client.responses.create(model="gpt-4o-mini", input="Find docs.", tools=tools)
    (call,) = [o for o in first.output if o.type == "function_call"]
    assert call.name == "lookup" and call.call_id.startswith("call_")
    Lookup.model_validate_json(call.arguments)
    second = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "Find docs."},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"hits": 3})},
        ],
        tools=tools,
    )
    assert second.output_text
    assert [o.type for o in second.output] == ["message"]


def test_streamed_function_call_events(client: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "name": "Lookup", "parameters": Lookup.model_json_schema(), "strict": False}
    ]
    events = list(client.responses.create(model="gpt-4o-mini", input="Find docs.", tools=tools, stream=True))
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert done.arguments == args
    assert Lookup.model_validate_json(args)
    assert events[-1].type == "response.completed"


def test_reasoning_model_output_tokens_details(client: openai.OpenAI) -> None:
    r = client.responses.create(model="o3", input="Think.", reasoning={"effort": "medium"})
    assert [o.type for o in r.output] == ["reasoning", "message"]
    reasoning = r.usage.output_tokens_details.reasoning_tokens
    assert reasoning > 0
    visible = len(tiktoken.encoding_for_model("o3").encode(r.output_text))
    assert r.usage.output_tokens == visible + reasoning


def test_max_output_tokens_gives_incomplete() -> None:
    from tokentrail.simulator.server import start_in_thread

    with (
        start_in_thread(reply_tokens=(40, 40)) as sim,
        openai.OpenAI(base_url=sim.base_url, api_key="k") as c,
    ):
        r = c.responses.create(model="gpt-4o-mini", input="Talk.", max_output_tokens=16)
        events = list(
            c.responses.create(model="gpt-4o-mini", input="Talk.", max_output_tokens=16, stream=True)
        )
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 16
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.usage == r.usage


async def test_async_create_and_stream(aclient: openai.AsyncOpenAI) -> None:
    full = await aclient.responses.create(model="gpt-4o-mini", input="Hello.")
    stream = await aclient.responses.create(model="gpt-4o-mini", input="Hello.", stream=True)
    deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
    assert "".join(deltas) == full.output_text
    async with aclient.responses.stream(model="gpt-4o-mini", input="Hello.", text_format=Answer) as s:
        async for _ in s:
            pass
        final = await s.get_final_response()
    assert isinstance(final.output_parsed, Answer)


def test_json_object_text_format(client: openai.OpenAI) -> None:
    r = client.responses.create(
        model="gpt-4o-mini", input="JSON please.", text={"format": {"type": "json_object"}}
    )
    assert isinstance(json.loads(r.output_text), dict)
    assert r.text.format.type == "json_object"
