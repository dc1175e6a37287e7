"""count_tokens against the simulator's usage (real openai SDK over loopback) and OpenAI's framing rules."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest
from tokentrail.analytics import count_tokens, estimate_cost

import tokentrail

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a terse assistant."},
     {"role": "user", "content": "Summarise the plot of Hamlet in one line.", "name": "alice"}],
    [{"role": "system", "content": "Answer in French."},
     {"role": "user", "content": "What is the capital of Japan?"},
     {"role": "assistant", "content": "La capitale du Japon est Tokyo."},
     {"role": "user", "content": [{"type": "text", "text": "And of Italy? "}, {"type": "text", "text": "Briefly."}]}],
]


@pytest.fixture(autouse=True)
def _vocab(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", os.environ.get("TIKTOKEN_CACHE_DIR", "/work/shared/tiktoken"))


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4", "gpt-3.5-turbo"])
def test_matches_prompt_tokens_reported_by_the_simulator(simulator, model):
    import openai

    client = openai.OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0)
    for messages in CONVERSATIONS:
        resp = client.chat.completions.create(model=model, messages=messages)
        assert count_tokens(messages, model) == resp.usage.prompt_tokens, messages


def test_framing_arithmetic():
    import tiktoken

    enc = tiktoken.get_encoding("o200k_base")
    n = lambda s: len(enc.encode(s))  # noqa: E731
    msgs = [{"role": "user", "content": "hi there", "name": "bob"}]
    # 3 per message + role + content + name (+1 for having a name) + 3 priming the reply
    assert count_tokens(msgs, "gpt-4o") == 3 + n("user") + n("hi there") + n("bob") + 1 + 3


def test_tool_definitions_are_counted():
    import tiktoken

    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"}}}}}]

    def tools_part(encoding: str, func_init: int) -> int:
        enc = tiktoken.get_encoding(encoding)
        n = lambda s: len(enc.encode(s))  # noqa: E731
        return (func_init + n("get_weather:Get the weather")  # function header, trailing period dropped
                + 3                                            # properties start
                + 3 + n("city:string:City name")
                + 3 - 3 + (3 + n("celsius")) + (3 + n("fahrenheit")) + n("unit:string:Unit")
                + 12)                                          # end of the tools block

    assert count_tokens(msgs, "gpt-4o", tools=tools) - count_tokens(msgs, "gpt-4o") == tools_part("o200k_base", 7)
    assert count_tokens(msgs, "gpt-4", tools=tools) - count_tokens(msgs, "gpt-4") == tools_part("cl100k_base", 10)


def test_estimate_cost_from_published_price():
    msgs = CONVERSATIONS[1]
    est = estimate_cost(msgs, "gpt-4o-mini", 500, at=datetime(2026, 11, 2))
    tokens = count_tokens(msgs, "gpt-4o-mini")
    assert est.input_tokens == tokens
    assert est.max_cost_usd == pytest.approx(tokens * 0.15 / 1e6 + 500 * 0.60 / 1e6)
    assert tokentrail.estimate_cost is estimate_cost and tokentrail.count_tokens is count_tokens


def test_unknown_model_estimate_is_unpriced_not_zero():
    with pytest.warns(UserWarning, match="approximate"):
        est = estimate_cost(CONVERSATIONS[0], "house-model-v2", 100)
    assert not est.price_known and est.max_cost_usd is None


def test_missing_vocabulary_degrades_visibly(tmp_path):
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    code = ("from tokentrail import count_tokens; "
            "print(count_tokens([{'role': 'user', 'content': 'x' * 40}], 'gpt-4o'))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TokenCountWarning" in proc.stderr and "could not be loaded" in proc.stderr
    # estimate: 3 + role(1) + content(10) + 3 at 4 bytes per token
    assert int(proc.stdout) == 3 + 1 + 10 + 3
