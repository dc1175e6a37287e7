"""The key covers the whole normalised request: change any parameter and the cache must miss.

End to end through the SDK: a base request is stored, then each variant (one parameter changed)
must miss, be answered by the API and be stored under its own key (its repeat hits). Unit tests
pin down the normalisation rules and the deterministic-request rule.
"""

from __future__ import annotations

import pytest
import tokentrail.cache as cache
from cache_calls import call, enable_tolerant
from tokentrail.cache.keys import digest, endpoint_of, is_deterministic, normalise

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_river",
        "description": "Find a river by name.",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "rivers",
        "schema": {"type": "object", "properties": {"rivers": {"type": "array", "items": {"type": "string"}}}},
    },
}
BASE_CHAT = {"seed": 1, "temperature": 0}

CHAT_VARIANTS = {
    "model": {"model": "gpt-4o"},
    "message_content": {"messages": [{"role": "user", "content": "Name four rivers."}]},
    "message_role": {"messages": [{"role": "developer", "content": "Be brief."},
                                  {"role": "user", "content": "Name three rivers."}]},
    "extra_message": {"messages": [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Name three rivers."},
                                   {"role": "assistant", "content": "Nile, Amazon, Yangtze."},
                                   {"role": "user", "content": "Name three rivers."}]},
    "tools": {"tools": [TOOL]},
    "tool_description": {"tools": [{**TOOL, "function": {**TOOL["function"], "description": "Find a river."}}]},
    "tool_choice": {"tools": [TOOL], "tool_choice": "none"},
    "response_format_json": {"response_format": {"type": "json_object"}},
    "response_format_schema": {"response_format": SCHEMA},
    "temperature": {"temperature": 0.5},
    "top_p": {"top_p": 0.5},
    "seed": {"seed": 2},
    "n": {"n": 2},
    "max_tokens": {"max_tokens": 40},
    "max_completion_tokens": {"max_completion_tokens": 40},
    "stop": {"stop": ["\n"]},
    "presence_penalty": {"presence_penalty": 0.5},
    "frequency_penalty": {"frequency_penalty": 0.5},
    "logit_bias": {"logit_bias": {"1234": -100}},
    "user": {"user": "alice"},
    "service_tier": {"service_tier": "flex"},
}

RESPONSES_VARIANTS = {
    "model": {"model": "gpt-4o"},
    "input": {"input": "Name four rivers."},
    "input_as_messages": {"input": [{"role": "user", "content": "Name three rivers."}]},
    "instructions": {"instructions": "Answer in French."},
    "tools": {"tools": [{"type": "function", "name": "lookup_river", "parameters": TOOL["function"]["parameters"]}]},
    "text_format": {"text": {"format": {"type": "json_object"}}},
    "temperature": {"temperature": 0.5, "top_p": 1},
    "top_p": {"top_p": 0.5},
    "max_output_tokens": {"max_output_tokens": 400},
}


@pytest.mark.parametrize("variant", sorted(CHAT_VARIANTS))
def test_chat_key_changes_with(client, variant):
    cache.enable("memory", only_deterministic=False)
    assert not call(client, "chat", False, **BASE_CHAT).hit
    assert call(client, "chat", False, **BASE_CHAT).hit
    changed = {**BASE_CHAT, **CHAT_VARIANTS[variant]}
    assert not call(client, "chat", False, **changed).hit, f"{variant} did not change the key"
    assert call(client, "chat", False, **changed).hit  # and the variant has an entry of its own


@pytest.mark.parametrize("variant", sorted(RESPONSES_VARIANTS))
def test_responses_key_changes_with(client, variant):
    cache.enable("memory", only_deterministic=False)
    base = {"max_output_tokens": 200}
    assert not call(client, "responses", False, **base).hit
    assert call(client, "responses", False, **base).hit
    changed = {**base, **RESPONSES_VARIANTS[variant]}
    assert not call(client, "responses", False, **changed).hit, f"{variant} did not change the key"
    assert call(client, "responses", False, **changed).hit


def test_stream_options_change_the_key(client):
    cache.enable("memory")
    assert not call(client, "chat", True).hit
    assert not call(client, "chat", True, stream_options={"include_usage": True}).hit
    assert call(client, "chat", True, stream_options={"include_usage": True}).hit


def test_ignore_keys_leave_the_key_unchanged(client, redis_server):
    enable_tolerant(redis_server.url, ignore_keys=["user", "metadata.trace"])
    first = call(client, "chat", False, user="alice", metadata={"trace": "t1", "team": "a"})
    assert not first.hit
    second = call(client, "chat", False, user="bob", metadata={"trace": "t2", "team": "a"})
    assert second.hit and second.items == first.items
    assert not call(client, "chat", False, user="bob", metadata={"trace": "t2", "team": "b"}).hit


def test_namespaces_keep_tenants_apart(client, redis_server):
    enable_tolerant(redis_server.url, namespace="tenant-a")
    a = call(client, "chat", False)
    enable_tolerant(redis_server.url, namespace="tenant-b")
    b = call(client, "chat", False)
    assert not b.hit and b.items != a.items
    enable_tolerant(redis_server.url, namespace="tenant-a")
    assert call(client, "chat", False).items == a.items
    keys = sorted(k.decode().rsplit(":", 1)[0] for k in redis_server.client().scan_iter("tokentrail:cache:*"))
    assert keys == ["tokentrail:cache:tenant-a", "tokentrail:cache:tenant-b"]


def test_api_key_is_neither_in_the_key_nor_stored(simulator, redis_server):
    """Two API keys, one namespace: a hit (the key is not part of the key); the secret is nowhere in Redis."""
    import openai

    enable_tolerant(redis_server.url)
    secret_a, secret_b = "sk-secret-tenant-a-0001", "sk-secret-tenant-b-0002"
    with openai.OpenAI(base_url=simulator.base_url, api_key=secret_a, max_retries=0) as a, \
            openai.OpenAI(base_url=simulator.base_url, api_key=secret_b, max_retries=0) as b:
        assert not call(a, "chat", True).hit
        assert call(b, "chat", True).hit
    r = redis_server.client()
    for key in r.scan_iter("*"):
        value = r.get(key)
        assert b"sk-secret" not in key and b"sk-secret" not in value
        assert b"authorization" not in value.lower() and b"bearer" not in value.lower()


def test_base_url_is_part_of_the_key(client, redis_server):
    """The same model name behind another server is another model."""
    import openai
    from tokentrail.simulator.server import start_in_thread

    enable_tolerant(redis_server.url)
    assert not call(client, "chat", False).hit
    with start_in_thread(seed=0) as other, openai.OpenAI(base_url=other.base_url, api_key="k", max_retries=0) as c:
        assert not call(c, "chat", False).hit
        assert call(c, "chat", False).hit


# -- unit rules ------------------------------------------------------------------------------

def test_normalise_folds_only_equivalent_spellings():
    body = {"model": "m", "temperature": 0.0, "top_p": None, "stream": False, "n": 1,
            "metadata": {"a": 1.0, "trace": "x"}, "logit_bias": {"5": -100.0}}
    assert normalise(body, ["metadata.trace", "absent.key"]) == {
        "model": "m", "temperature": 0, "n": 1, "metadata": {"a": 1}, "logit_bias": {"5": -100}}
    assert normalise({"stream": True})["stream"] is True
    assert normalise({"temperature": 0.5})["temperature"] == 0.5


def test_digest_depends_on_every_part():
    base = digest("ns", "POST", "http://h:1/v1/chat/completions", {"model": "m"})
    assert base == digest("ns", "post", "http://h:1/v1/chat/completions", {"model": "m"})
    assert len(base) == 64
    others = {
        digest("ns2", "POST", "http://h:1/v1/chat/completions", {"model": "m"}),
        digest("ns", "POST", "http://h:2/v1/chat/completions", {"model": "m"}),
        digest("ns", "POST", "http://h:1/v1/chat/completions?api-version=1", {"model": "m"}),
        digest("ns", "POST", "http://h:1/v1/chat/completions", {"model": "m2"}),
        digest("n", "POST", "s:http://h:1/v1/chat/completions", {"model": "m"}),  # no ambiguity at the joins
    }
    assert base not in others and len(others) == 5
    # key order in the body does not matter
    assert digest("ns", "POST", "u", {"a": 1, "b": [1, {"x": 1, "y": 2}]}) == \
        digest("ns", "POST", "u", {"b": [1, {"y": 2, "x": 1}], "a": 1})


@pytest.mark.parametrize(("body", "expected"), [
    ({"temperature": 0}, True),
    ({"temperature": 0.0}, True),
    ({"temperature": 0.7, "seed": 3}, True),
    ({"seed": 0}, True),
    ({}, False),
    ({"temperature": 1}, False),
    ({"temperature": None, "seed": None}, False),
    ({"temperature": False}, False),
])
def test_deterministic_rule(body, expected):
    assert is_deterministic(body) is expected


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/v1/chat/completions", "/chat/completions"),
    ("POST", "/openai/deployments/gpt/chat/completions", "/chat/completions"),
    ("POST", "/v1/responses", "/responses"),
    ("GET", "/v1/responses", None),
    ("POST", "/v1/responses/resp_1/cancel", None),
    ("POST", "/v1/embeddings", None),
])
def test_cacheable_endpoints(method, path, expected):
    assert endpoint_of(method, path) == expected
