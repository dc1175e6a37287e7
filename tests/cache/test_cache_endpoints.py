"""Hits and misses through the real openai SDK against the simulator, with a real Redis behind.

Every endpoint (chat.completions, responses) in every mode (sync/async, plain/streamed): the first
call goes to the API and is stored, the second is answered from Redis with the same parsed output
and, for streams, the same chunks in a stream object of the same type. The hit is proven to need
no API by stopping the simulator before it.
"""

from __future__ import annotations

import openai
import pytest
import tokentrail.cache as cache
from cache_calls import ENDPOINTS, acall, call, enable_tolerant

MODES = [(e, s) for e in ENDPOINTS for s in (False, True)]
IDS = [f"{e}-{'stream' if s else 'plain'}" for e, s in MODES]


def _keys(redis_server) -> list[bytes]:
    return sorted(redis_server.client().scan_iter("tokentrail:cache:*"))


@pytest.mark.parametrize(("endpoint", "stream"), MODES, ids=IDS)
def test_sync_miss_then_hit(simulator, client, redis_server, endpoint, stream):
    enable_tolerant(redis_server.url)
    first = call(client, endpoint, stream)
    assert not first.hit
    assert len(_keys(redis_server)) == 1
    assert cache.stats()["misses"] == 1 and cache.stats()["stores"] == 1

    simulator.stop()  # from here on the API is gone: only the cache can answer
    second = call(client, endpoint, stream)
    assert second.hit
    assert second.items == first.items
    assert second.kind is first.kind is (openai.Stream if stream else second.kind)
    assert second.headers["x-request-id"] == first.headers["x-request-id"]
    assert float(second.headers["x-tokentrail-cache-original-ms"]) > 0
    assert "authorization" not in {k.lower() for k in second.headers}
    assert any(k.startswith("x-ratelimit-") for k in first.headers)
    assert not any(k.startswith("x-ratelimit-") for k in second.headers)  # stale account state is not replayed
    s = cache.stats()
    assert (s["lookups"], s["hits"], s["misses"], s["errors"]) == (2, 1, 1, 0)
    assert s["saved_ms"] == pytest.approx(float(second.headers["x-tokentrail-cache-original-ms"]), abs=0.01)


@pytest.mark.parametrize(("endpoint", "stream"), MODES, ids=IDS)
async def test_async_miss_then_hit(simulator, aclient, redis_server, endpoint, stream):
    enable_tolerant(redis_server.url)
    first = await acall(aclient, endpoint, stream)
    assert not first.hit
    assert len(_keys(redis_server)) == 1

    simulator.stop()
    second = await acall(aclient, endpoint, stream)
    assert second.hit
    assert second.items == first.items
    assert second.kind is first.kind is (openai.AsyncStream if stream else second.kind)
    assert (cache.stats()["hits"], cache.stats()["misses"]) == (1, 1)


def test_stream_replays_the_same_chunks(simulator, client, redis_server):
    """The replay hands the SDK the stored chunks one by one, not one blob: same SSE bytes, same splits."""
    enable_tolerant(redis_server.url)
    kwargs = {**ENDPOINTS["chat"], "stream": True, "stream_options": {"include_usage": True}}
    paced = {"x-sim-latency-scale": "0.05"}  # a little per-token delay, so frames arrive as separate chunks
    with client.chat.completions.with_streaming_response.create(**kwargs, extra_headers=paced) as live:
        live_chunks = list(live.iter_bytes())
    with client.chat.completions.with_streaming_response.create(**kwargs) as replayed:
        assert replayed.headers["x-tokentrail-cache"] == "hit"
        replay_chunks = list(replayed.iter_bytes())
    assert len(live_chunks) > 1
    assert replay_chunks == live_chunks
    assert b"".join(replay_chunks).rstrip().endswith(b"data: [DONE]")


def test_plain_and_streamed_requests_are_different_entries(client, redis_server):
    enable_tolerant(redis_server.url)
    assert not call(client, "chat", stream=False).hit
    assert not call(client, "chat", stream=True).hit
    assert call(client, "chat", stream=False).hit
    assert call(client, "chat", stream=True).hit
    assert len(_keys(redis_server)) == 2


def test_non_deterministic_requests_bypass_by_default(client, redis_server):
    enable_tolerant(redis_server.url)
    for _ in range(2):
        assert not call(client, "chat", stream=False, temperature=0.7).hit
    assert cache.stats()["bypassed"] == 2 and cache.stats()["lookups"] == 0
    assert _keys(redis_server) == []


def test_seed_makes_a_request_cacheable(client, redis_server):
    enable_tolerant(redis_server.url)
    assert not call(client, "chat", stream=False, temperature=0.7, seed=7).hit
    assert call(client, "chat", stream=False, temperature=0.7, seed=7).hit


def test_only_deterministic_false_caches_everything(client, redis_server):
    enable_tolerant(redis_server.url, only_deterministic=False)
    first = call(client, "responses", stream=False, temperature=1.0)
    second = call(client, "responses", stream=False, temperature=1.0)
    assert second.hit and second.items == first.items
    first = call(client, "chat", stream=True, temperature=None)
    assert call(client, "chat", stream=True, temperature=None).items == first.items


def test_other_endpoints_pass_through(client, redis_server):
    enable_tolerant(redis_server.url, only_deterministic=False)
    for _ in range(2):
        raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="rivers")
        assert "x-tokentrail-cache" not in raw.headers
    assert cache.stats()["lookups"] == 0 and _keys(redis_server) == []


def test_memory_backend_hits_too(client):
    cache.enable("memory")
    for endpoint, stream in MODES:
        first = call(client, endpoint, stream)
        second = call(client, endpoint, stream)
        assert (first.hit, second.hit) == (False, True)
        assert second.items == first.items


def test_sdk_helpers_are_cached_too(client):
    """parse() and the stream() helpers post to the same endpoints, so they replay as well."""
    import pydantic

    class Rivers(pydantic.BaseModel):
        rivers: list[str]

    cache.enable("memory")
    messages = ENDPOINTS["chat"]["messages"]
    parsed = [client.chat.completions.parse(model="gpt-4o-mini", messages=messages, response_format=Rivers,
                                            temperature=0).choices[0].message.parsed for _ in range(2)]
    assert isinstance(parsed[0], Rivers) and parsed[0] == parsed[1]

    events, finals = [], []
    for _ in range(2):
        with client.responses.stream(model="gpt-4o-mini", input="Name three rivers.", temperature=0) as s:
            events.append([e.type for e in s])
            finals.append(s.get_final_response().output_text)
    assert events[0] == events[1] and events[0][-1] == "response.completed" and finals[0] == finals[1]

    texts = []
    for _ in range(2):
        with client.chat.completions.stream(model="gpt-4o-mini", messages=messages, temperature=0) as s:
            texts.append(s.get_final_completion().choices[0].message.content)
    assert texts[0] == texts[1]
    assert (cache.stats()["hits"], cache.stats()["misses"]) == (3, 3)


async def test_redis_py_path_for_other_urls(client, aclient, tmp_path):
    """URLs the lean client does not speak (here a unix socket) go through redis-py, sync and async."""
    from redis_process import RedisServer

    sock = tmp_path / "redis.sock"
    server = RedisServer(tmp_path, "--unixsocket", str(sock), "--unixsocketperm", "700")
    server.start()
    try:
        handle = enable_tolerant(f"unix://{sock}?db=2")
        assert type(handle.store.backend._client()).__module__.startswith("redis")
        assert (call(client, "chat", True).hit, call(client, "chat", True).hit) == (False, True)
        assert ((await acall(aclient, "responses", False)).hit, (await acall(aclient, "responses", False)).hit) == \
            (False, True)
        assert len(list(server.client(db=2).scan_iter("tokentrail:cache:*"))) == 2
        await handle.store.backend.aclose()
    finally:
        server.stop()
