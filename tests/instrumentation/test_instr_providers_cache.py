"""Provider detection (Azure, known hosts, compatible servers), response-cache hits, context windows,
and the visible degradation when no tiktoken vocabulary can be loaded."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import tokentrail.cache
from instr_helpers import API_KEY, http_module
from tokentrail.instrumentation import tokencount
from tokentrail.instrumentation.context_windows import context_window
from tokentrail.instrumentation.hooks import provider_for

import tokentrail

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "cache me"}]

httpx_mod = http_module()


def test_provider_names():
    assert provider_for("api.openai.com", False) == "openai"
    assert provider_for("myres.openai.azure.com", False) == "azure.ai.openai"
    assert provider_for("127.0.0.1", True) == "azure.ai.openai"  # client type wins
    assert provider_for("api.deepseek.com", False) == "deepseek"
    assert provider_for("api.groq.com", False) == "groq"
    assert provider_for("generativelanguage.googleapis.com", False) == "gcp.gemini"
    assert provider_for("localhost", False) == "openai"  # vLLM/Ollama/gateways speak OpenAI's API


def _to_simulator(request: Any) -> None:
    """Route Azure's /openai/deployments/<name>/... URLs to the simulator's /v1/... (the wire stays loopback)."""
    path = request.url.path
    marker = "/deployments/"
    if marker in path:
        rest = path.split(marker, 1)[1].split("/", 1)[1]
        request.url = request.url.copy_with(path="/v1/" + rest, query=None)


def test_azure_client_sync(traced, simulator):
    http = httpx_mod.Client(event_hooks={"request": [_to_simulator]})
    client = openai.AzureOpenAI(azure_endpoint=f"http://127.0.0.1:{simulator.port}", api_key=API_KEY,
                                api_version="2024-10-21", http_client=http)
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    attrs = traced.attrs()
    assert attrs["gen_ai.provider.name"] == "azure.ai.openai"
    assert (attrs["server.address"], attrs["server.port"]) == ("127.0.0.1", simulator.port)
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.response.id"] == r.id
    assert attrs["gen_ai.usage.output_tokens"] == r.usage.completion_tokens


async def test_azure_client_async(traced, simulator):
    async def hook(request: Any) -> None:
        _to_simulator(request)

    http = httpx_mod.AsyncClient(event_hooks={"request": [hook]})
    client = openai.AsyncAzureOpenAI(azure_endpoint=f"http://127.0.0.1:{simulator.port}", api_key=API_KEY,
                                     api_version="2024-10-21", http_client=http)
    chunks = [c async for c in await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)]
    attrs = traced.attrs()
    assert attrs["gen_ai.provider.name"] == "azure.ai.openai"
    assert attrs["gen_ai.response.id"] == chunks[0].id
    await client.close()


def test_response_cache_hit_reports_saved_usage(traced, client):
    with tokentrail.cache.enable("memory"):
        first = client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0)
        second = client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0)
    miss, hit = traced.spans()
    assert second.id == first.id  # replayed through the SDK's own parsing
    assert miss.attributes["tokentrail.cache.hit"] is False
    assert miss.attributes["gen_ai.usage.input_tokens"] == first.usage.prompt_tokens
    h = dict(hit.attributes)
    assert h["tokentrail.cache.hit"] is True
    assert h["tokentrail.cache.saved.input_tokens"] == first.usage.prompt_tokens
    assert h["tokentrail.cache.saved.output_tokens"] == first.usage.completion_tokens
    original_ms = (miss.end_time - miss.start_time) / 1e6
    assert 0 < h["tokentrail.cache.saved.duration_ms"] <= original_ms + 1
    assert h["gen_ai.usage.input_tokens"] == 0
    assert h["gen_ai.usage.output_tokens"] == 0


def test_context_windows():
    assert context_window("gpt-4o-mini-2024-07-18") == 128_000
    assert context_window("gpt-4o") == 128_000
    assert context_window("gpt-4-0613") == 8192
    assert context_window("gpt-4.1-nano") == 1_047_576
    assert context_window("o1-mini") == 128_000
    assert context_window("openai/gpt-4o") == 128_000
    assert context_window("llama3:8b") is None


def test_unknown_model_has_no_utilization(traced, client):
    client.chat.completions.create(model="my-finetune", messages=MESSAGES)
    attrs = traced.attrs()
    assert "tokentrail.context.utilization" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] > 0


def test_missing_vocabulary_degrades_visibly(traced, client, monkeypatch, caplog):
    monkeypatch.setattr(tokencount, "_encodings", {})
    monkeypatch.setattr(tokencount, "_failed", set())
    monkeypatch.setattr(tokencount, "_warned", False)

    def unavailable(name: str) -> Any:
        raise OSError("no network and no TIKTOKEN_CACHE_DIR")

    import tiktoken

    monkeypatch.setattr(tiktoken, "get_encoding", unavailable)
    with caplog.at_level("WARNING", logger="tokentrail.instrumentation"):
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    spans = traced.spans()
    for span in spans:
        attrs = dict(span.attributes)
        assert attrs["tokentrail.usage.source"] == "none"
        assert "gen_ai.usage.input_tokens" not in attrs and "gen_ai.usage.output_tokens" not in attrs
    assert caplog.text.count("cannot load tiktoken encoding") == 1


@pytest.mark.parametrize("model,encoding", [("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base"),
                                            ("some-local-model", "o200k_base")])
def test_encoding_choice(model, encoding):
    assert tokencount.encoding_name(model) == encoding
