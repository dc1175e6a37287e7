"""Same seed + same request → same output, across server instances; another seed → other output."""

from __future__ import annotations

import random

import openai
import pytest
import tiktoken
from tokentrail.simulator.content import prose_pieces
from tokentrail.simulator.server import start_in_thread

MESSAGES = [{"role": "user", "content": "Describe the weather."}]


def _run(seed: int) -> dict[str, object]:
    with start_in_thread(seed=seed) as sim, openai.OpenAI(base_url=sim.base_url, api_key="k") as c:
        chat = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)
        resp = c.responses.create(model="gpt-4o-mini", input="Describe the weather.")
        emb = c.embeddings.create(model="text-embedding-3-small", input="weather", encoding_format="float")
        comp = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Weather:", max_tokens=10)
    return {
        "chat": [ch.message.content for ch in chat.choices],
        "chat_usage": chat.usage.model_dump(),
        "responses": resp.output_text,
        "embedding": emb.data[0].embedding[:8],
        "completion": comp.choices[0].text,
    }


def test_same_seed_same_output_other_seed_differs() -> None:
    first, again, other = _run(11), _run(11), _run(12)
    assert first == again
    for key in ("chat", "responses", "embedding", "completion"):
        assert first[key] != other[key], key


def test_request_seed_and_prompt_change_the_output(client: openai.OpenAI) -> None:
    base = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    seeded = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, seed=5)
    other = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    repeat = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert repeat.choices[0].message.content == base.choices[0].message.content
    assert seeded.choices[0].message.content != base.choices[0].message.content
    assert other.choices[0].message.content != base.choices[0].message.content
    assert repeat.id != base.id  # ids stay unique per call


def test_latency_settings_do_not_change_content(client: openai.OpenAI) -> None:
    slow = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-latency-scale": "0.01"}
    )
    fast = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert slow.choices[0].message.content == fast.choices[0].message.content


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_generated_prose_is_exactly_one_token_per_piece(encoding: str) -> None:
    enc = tiktoken.get_encoding(encoding)
    for n in (1, 2, 7, 16, 63, 200):
        for seed in range(10):
            pieces = prose_pieces(random.Random(seed), n)
            assert len(pieces) == n
            assert len(enc.encode("".join(pieces))) == n
