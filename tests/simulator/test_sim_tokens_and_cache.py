"""Token counts against tiktoken directly, and OpenAI-style automatic prompt caching."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import tiktoken
from tokentrail.simulator import tokens
from tokentrail.simulator.server import start_in_thread


def _chat_prompt_tokens(model: str, messages: list[dict[str, str]]) -> int:
    """OpenAI's documented counting: 3 per message + its fields (+1 per name), + 3 to prime the reply."""
    enc = tiktoken.encoding_for_model(model)
    total = 3
    for m in messages:
        total += 3 + sum(len(enc.encode(v)) for v in m.values()) + (1 if "name" in m else 0)
    return total


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4", "gpt-3.5-turbo"])
def test_chat_prompt_tokens_match_tiktoken(client: openai.OpenAI, model: str) -> None:
    messages = [
        {"role": "system", "content": "You are a terse assistant. Ünïcödé and emoji 🚀 count too."},
        {"role": "user", "name": "alice", "content": "How many tokens is this sentence, exactly?"},
    ]
    r = client.chat.completions.create(model=model, messages=messages)
    assert r.usage.prompt_tokens == _chat_prompt_tokens(model, messages)
    assert r.usage.completion_tokens == len(
        tiktoken.encoding_for_model(model).encode(r.choices[0].message.content)
    )


def test_cl100k_and_o200k_models_count_differently(client: openai.OpenAI) -> None:
    text = "Tokenizers disagree about words like antidisestablishmentarianism and 東京."
    old = client.embeddings.create(model="text-embedding-3-small", input=text)
    assert old.usage.prompt_tokens == len(tiktoken.get_encoding("cl100k_base").encode(text))
    new = client.responses.create(model="gpt-4o", input=text)
    assert new.usage.input_tokens == _chat_prompt_tokens("gpt-4o", [{"role": "user", "content": text}])


def _long_system_prompt(n_words: int) -> str:
    return " ".join(f"rule{i} applies" for i in range(n_words))


def test_repeated_long_prefix_reports_cached_tokens_in_128_steps(fresh_client: openai.OpenAI) -> None:
    system = {"role": "system", "content": _long_system_prompt(600)}
    shared = _chat_prompt_tokens("gpt-4o-mini", [system])
    assert shared > 1100
    first = fresh_client.chat.completions.create(
        model="gpt-4o-mini", messages=[system, {"role": "user", "content": "first question"}]
    )
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    second = fresh_client.chat.completions.create(
        model="gpt-4o-mini", messages=[system, {"role": "user", "content": "a different question"}]
    )
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0
    # The hit covers the shared system prompt, rounded down to a 128-token step, and nothing after it.
    assert shared - 128 - 16 < cached <= shared
    assert cached < second.usage.prompt_tokens

    other_model = fresh_client.chat.completions.create(
        model="gpt-4o", messages=[system, {"role": "user", "content": "a different question"}]
    )
    assert other_model.usage.prompt_tokens_details.cached_tokens == 0


def test_short_prompts_are_never_cached(fresh_client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": _long_system_prompt(100)}]
    for _ in range(2):
        r = fresh_client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert r.usage.prompt_tokens < 1024
        assert r.usage.prompt_tokens_details.cached_tokens == 0


def test_cache_is_per_server_instance_and_covers_responses(fresh_client: openai.OpenAI) -> None:
    text = _long_system_prompt(700)
    fresh_client.responses.create(model="gpt-4o-mini", input=text)
    again = fresh_client.responses.create(model="gpt-4o-mini", input=text)
    cached = again.usage.input_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0 and cached <= again.usage.input_tokens
    with start_in_thread() as fresh, openai.OpenAI(base_url=fresh.base_url, api_key="k") as other:
        cold = other.responses.create(model="gpt-4o-mini", input=text)
    assert cold.usage.input_tokens_details.cached_tokens == 0


def test_streamed_usage_reports_cached_tokens(fresh_client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": _long_system_prompt(600)}, {"role": "user", "content": "q"}]
    fresh_client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    chunks = list(
        fresh_client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens >= 1024


def test_missing_vocabulary_warns_and_falls_back_to_an_approximation() -> None:
    with pytest.warns(tokens.TokenizerWarning, match="approximate"):
        tok = tokens._load("no_such_vocabulary")
    assert not tok.exact
    assert len(tok.encode("abcdefgh")) == 2


def test_prompt_cache_hits_are_the_longest_seen_prefix_in_128_token_steps() -> None:
    from tokentrail.simulator.prompt_cache import PromptCache

    cache = PromptCache()
    seen = list(range(2000))
    assert cache.lookup_and_store("m", seen) == 0
    # Shares the first 1500 tokens: the hit is the longest 1024 + k*128 prefix within them.
    query = seen[:1500] + [-1] * 300
    assert cache.lookup_and_store("m", query) == 1024 + (1500 - 1024) // 128 * 128
    assert cache.lookup_and_store("m", seen[:1023] + [-1] * 900) == 0  # diverges before 1024
    assert cache.lookup_and_store("m", seen) == 1024 + (2000 - 1024) // 128 * 128
    assert cache.lookup_and_store("other-model", seen) == 0


def test_simulator_without_vocabularies_warns_and_still_answers(tmp_path) -> None:
    """No cached vocabulary and no way to download one: approximate counts, and a visible warning."""
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path),  # empty
        "HTTPS_PROXY": "http://127.0.0.1:9",  # the download fails at once, internet or not
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    cli = Path(sys.executable).with_name("tokentrail")
    proc = subprocess.Popen(
        [str(cli), "simulate", "--port", "0", "--latency-scale", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/v1", proc.stdout.readline()).group(0)
        with openai.OpenAI(base_url=url, api_key="k", max_retries=0) as c:
            text = "x" * 40
            r = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    # 3 + 3 framing, "user" (4 chars → 1), 40 chars → 10: the 4-characters-per-token approximation.
    assert r.usage.prompt_tokens == 3 + 3 + 1 + 10
    assert "TokenizerWarning" in stderr and "approximate" in stderr
