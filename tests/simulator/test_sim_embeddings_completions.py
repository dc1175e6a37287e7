"""Embeddings and legacy completions through the real openai SDK."""

from __future__ import annotations

import math

import openai
import tiktoken


def test_embeddings_float_vectors_are_unit_length_and_stable(client: openai.OpenAI) -> None:
    texts = ["the first text", "another text", "the first text"]
    r = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    assert r.object == "list" and r.model == "text-embedding-3-small"
    assert [d.index for d in r.data] == [0, 1, 2]
    vectors = [d.embedding for d in r.data]
    assert all(len(v) == 1536 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)  # float32
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    enc = tiktoken.encoding_for_model("text-embedding-3-small")
    expected = sum(len(enc.encode(t)) for t in texts)
    assert r.usage.prompt_tokens == expected == r.usage.total_tokens


def test_embeddings_base64_decodes_to_the_float_vector(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="text-embedding-3-large", input="x", encoding_format="float")
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    default = client.embeddings.create(model="text-embedding-3-large", input="x")
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-large", input="x", encoding_format="base64"
    )
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)
    assert len(default.data[0].embedding) == 3072
    for a, b in zip(default.data[0].embedding, floats.data[0].embedding, strict=True):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)


def test_embeddings_dimensions_and_token_input(client: openai.OpenAI) -> None:
    r = client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], dimensions=256)
    assert [len(d.embedding) for d in r.data] == [256, 256]
    assert r.usage.prompt_tokens == 5


async def test_async_embeddings(aclient: openai.AsyncOpenAI) -> None:
    r = await aclient.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(r.data[0].embedding) == 1536


def test_completions_plain_n_and_usage(client: openai.OpenAI) -> None:
    r = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Once upon a time", n=2, max_tokens=8
    )
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.finish_reason == "length" for c in r.choices)
    enc = tiktoken.encoding_for_model("gpt-3.5-turbo-instruct")
    assert r.usage.prompt_tokens == len(enc.encode("Once upon a time"))
    assert r.usage.completion_tokens == sum(len(enc.encode(c.text)) for c in r.choices) == 16


def test_completions_stream_with_usage(client: openai.OpenAI) -> None:
    full = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hello", max_tokens=12)
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Hello",
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == full.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage == full.usage


async def test_async_completions_stream(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hi", stream=True)
    text = "".join([c.choices[0].text async for c in stream])
    assert text


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids
