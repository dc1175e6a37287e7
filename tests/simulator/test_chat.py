"""Chat Completions through the real openai SDK over loopback."""

from __future__ import annotations

import openai

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say something."}]


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
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage == full.usage
    assert all(c.usage is None for c in chunks[:-1])


async def test_async_client_streams(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    pieces = [c.choices[0].delta.content or "" async for c in stream]
    assert "".join(pieces)
