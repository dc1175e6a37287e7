"""Backend failures never reach the application: Redis killed, unreachable, corrupt or silent.

Each case checks three things: the call still returns the API's answer, the failure is counted in
`tokentrail.cache.stats()`, and it is logged once, not once per call.
"""

from __future__ import annotations

import logging
import time

import httpx
import openai
import pytest
import tokentrail.cache as cache
from cache_calls import CHAT, acall, call, enable_tolerant
from tokentrail.cache.entry import decode

LOGGER = "tokentrail.cache"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def _only_key(server) -> bytes:
    keys = list(server.client().scan_iter("tokentrail:cache:*"))
    assert len(keys) == 1
    return keys[0]


def test_redis_killed_mid_run(simulator, client, own_redis, caplog):
    caplog.set_level(logging.WARNING, LOGGER)
    enable_tolerant(own_redis.url, breaker_cooldown_s=60)
    first = call(client, "chat", stream=False)
    assert not call(client, "chat", stream=True).hit  # a stream entry too
    assert call(client, "chat", stream=False).hit

    own_redis.kill()
    before = len(simulator.requests)
    results = [call(client, "chat", stream=s) for s in (False, True, False, True)]
    assert [r.hit for r in results] == [False] * 4
    assert len(simulator.requests) == before + 4  # every call went to the API and succeeded
    assert results[0].items[0] != first.items[0]  # a fresh answer (new id), not a replay
    s = cache.stats()
    assert s["errors_connection"] == 1 and s["breaker_open"] == 1
    assert s["breaker_skipped"] >= 4  # later lookups and stores skip the dead server at once
    assert len(_warnings(caplog)) == 1 and "unreachable" in _warnings(caplog)[0]


def test_redis_back_after_restart(simulator, client, own_redis, caplog):
    caplog.set_level(logging.WARNING, LOGGER)
    enable_tolerant(own_redis.url, breaker_cooldown_s=0.2)
    port = own_redis.port
    own_redis.kill()
    assert not call(client, "chat", stream=False).hit
    own_redis.start(port=port)
    deadline = time.monotonic() + 10
    while cache.stats()["stores"] == 0 and time.monotonic() < deadline:
        assert not call(client, "chat", stream=False).hit  # once the breaker probes, the answer is stored
        time.sleep(0.05)
    assert call(client, "chat", stream=False).hit
    messages = _warnings(caplog)
    assert len(messages) == 2 and "unreachable" in messages[0] and "recovered" in messages[1]


async def test_redis_killed_mid_run_async(simulator, aclient, own_redis):
    enable_tolerant(own_redis.url, breaker_cooldown_s=60)
    assert not (await acall(aclient, "responses", stream=True)).hit
    assert (await acall(aclient, "responses", stream=True)).hit
    own_redis.kill()
    for stream in (True, False, True):
        result = await acall(aclient, "responses", stream=stream)
        assert not result.hit and result.items
    assert cache.stats()["errors_connection"] == 1


def test_redis_killed_while_a_stream_is_read(simulator, client, own_redis):
    """The store at the end of the stream fails; the application still gets every chunk."""
    enable_tolerant(own_redis.url, breaker_cooldown_s=60)
    stream = client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True},
                                            extra_headers={"x-sim-latency-scale": "0.05"})
    chunks = [next(stream)]
    own_redis.kill()
    chunks += list(stream)
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert cache.stats()["errors_connection"] == 1 and cache.stats()["stores"] == 0


def test_redis_not_running_at_all(simulator, client, caplog):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    caplog.set_level(logging.WARNING, LOGGER)
    cache.enable(f"redis://127.0.0.1:{port}/0", breaker_cooldown_s=60)
    for _ in range(3):
        assert not call(client, "chat", stream=False).hit
    assert cache.stats()["errors"] == 1 and cache.stats()["breaker_skipped"] >= 3
    assert len(_warnings(caplog)) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bit_flip", "other_key", "empty"])
def test_corrupt_entry_is_a_counted_miss(simulator, client, redis_server, caplog, damage):
    caplog.set_level(logging.WARNING, LOGGER)
    enable_tolerant(redis_server.url)
    first = call(client, "chat", stream=True)
    r = redis_server.client()
    key = _only_key(redis_server)
    value = r.get(key)
    digest = key.decode().rsplit(":", 1)[1]
    assert decode(value, digest).is_stream
    bad = {
        "garbage": b"\x00\xffnot a cache entry",
        "truncated": value[: len(value) // 2],
        "bit_flip": value[:-5] + bytes([value[-5] ^ 0x01]) + value[-4:],
        "other_key": value.replace(digest.encode(), b"0" * 64),
        "empty": b"",
    }[damage]
    r.set(key, bad)

    before = len(simulator.requests)
    second = call(client, "chat", stream=True)
    assert not second.hit and len(second.items) == len(first.items)
    assert len(simulator.requests) == before + 1
    assert cache.stats()["errors_corrupt"] == 1 and cache.stats()["breaker_open"] == 0
    assert len(_warnings(caplog)) == 1 and "corrupt" in _warnings(caplog)[0]
    # the miss stored a good entry again
    third = call(client, "chat", stream=True)
    assert third.hit and third.items == second.items


def test_silent_redis_costs_at_most_the_timeout(simulator, client, black_hole):
    """A server that accepts and never answers: the lookup gives up after timeout_ms, then the
    breaker skips it; without a timeout the call would hang forever."""
    handle = cache.enable(black_hole.url, timeout_ms=50, breaker_cooldown_s=60)
    started = time.perf_counter()
    assert handle.store.lookup("0" * 64) is None
    waited = time.perf_counter() - started
    assert 0.045 <= waited < 0.5
    assert cache.stats()["errors_timeout"] == 1

    started = time.perf_counter()
    for _ in range(5):
        assert not call(client, "chat", stream=False).hit
    assert cache.stats()["errors_timeout"] == 1  # no second timeout: the breaker is open
    assert cache.stats()["breaker_skipped"] >= 5


def test_timeout_is_configurable(black_hole):
    handle = cache.enable(black_hole.url, timeout_ms=200)
    started = time.perf_counter()
    assert handle.store.lookup("0" * 64) is None
    assert 0.19 <= time.perf_counter() - started < 1.0


async def test_silent_redis_async(aclient, black_hole):
    handle = cache.enable(black_hole.url, timeout_ms=50, breaker_cooldown_s=60)
    started = time.perf_counter()
    assert await handle.store.alookup("0" * 64) is None
    assert 0.045 <= time.perf_counter() - started < 0.5
    result = await acall(aclient, "chat", stream=True)
    assert not result.hit and result.items
    assert cache.stats()["errors_timeout"] == 1


class ExplodingBackend:
    name = "exploding"

    def get(self, key):
        raise RuntimeError("boom")

    def set(self, key, value, ttl_s):
        raise RuntimeError("boom")

    async def aget(self, key):
        raise RuntimeError("boom")

    async def aset(self, key, value, ttl_s):
        raise RuntimeError("boom")

    def close(self):
        pass


async def test_any_backend_exception_is_swallowed(client, aclient):
    cache.enable(ExplodingBackend(), breaker_cooldown_s=0.05)
    assert call(client, "responses", stream=False).items
    time.sleep(0.1)  # let the breaker probe again
    assert (await acall(aclient, "responses", stream=True)).items
    assert cache.stats()["errors_other"] >= 2


def test_error_responses_are_not_stored(simulator, client, redis_server):
    enable_tolerant(redis_server.url)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**CHAT, extra_headers={"x-sim-fault": "500"})
    assert list(redis_server.client().scan_iter("tokentrail:cache:*")) == []
    assert not call(client, "chat", stream=False).hit
    assert cache.stats()["not_stored"] == 1


def test_sdk_retry_after_error_stores_the_success(simulator, redis_server):
    enable_tolerant(redis_server.url)
    with openai.OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=2) as c:
        headers = {"x-sim-fault": "503", "x-sim-fault-count": "1", "x-sim-fault-key": "k1"}
        first = c.chat.completions.with_raw_response.create(**CHAT, extra_headers=headers)
        assert first.retries_taken == 1
        second = c.chat.completions.with_raw_response.create(**CHAT, extra_headers=headers)
    assert second.headers["x-tokentrail-cache"] == "hit"
    assert second.parse().id == first.parse().id


def test_abandoned_stream_is_not_stored(simulator, client, redis_server):
    enable_tolerant(redis_server.url)
    # paced, so the first chunk arrives before the rest of the answer exists
    stream = client.chat.completions.create(**CHAT, stream=True, extra_headers={"x-sim-latency-scale": "0.05"})
    next(stream)
    stream.close()
    assert list(redis_server.client().scan_iter("tokentrail:cache:*")) == []
    assert cache.stats()["not_stored"] == 1
    assert not call(client, "chat", stream=True).hit
    assert call(client, "chat", stream=True).hit


def test_stream_cut_by_the_server_is_not_stored(simulator, client, redis_server):
    enable_tolerant(redis_server.url)
    # openai 3.x wraps the cut in APIConnectionError; 1.x lets httpx's RemoteProtocolError through
    with pytest.raises((openai.APIError, httpx.TransportError)):
        list(client.chat.completions.create(**CHAT, stream=True, extra_headers={"x-sim-fault": "drop"}))
    assert list(redis_server.client().scan_iter("tokentrail:cache:*")) == []


def test_incomplete_responses_are_not_stored(simulator, client, redis_server):
    """status "incomplete" (cut by max_output_tokens) is not a finished answer; a chat answer
    with finish_reason "length" is (the API calls it done), and is stored."""
    enable_tolerant(redis_server.url)
    for stream in (False, True):
        result = call(client, "responses", stream=stream, max_output_tokens=16)
        assert "incomplete" in result.items[-1]
        assert not call(client, "responses", stream=stream, max_output_tokens=16).hit
    assert cache.stats()["stores"] == 0
    chat = client.chat.completions.create(**CHAT, max_tokens=1)
    assert chat.choices[0].finish_reason == "length"
    assert call(client, "chat", stream=False, max_tokens=1).hit


@pytest.mark.parametrize(("stream", "temperature"), [(False, 0), (True, 0), (False, 0.7), (True, 0.7)])
def test_transport_errors_are_not_retried_by_the_cache(simulator, client, redis_server, stream, temperature):
    """A failing send belongs to the SDK (its own retry policy); the cache must not send twice,
    whether it handled the request (temperature 0) or let it pass (0.7)."""
    enable_tolerant(redis_server.url)
    with pytest.raises((openai.APIError, httpx.TransportError)):
        result = client.chat.completions.create(**{**CHAT, "temperature": temperature}, stream=stream,
                                                extra_headers={"x-sim-fault": "drop"})
        if stream:
            list(result)
    assert len(simulator.requests) == 1
    assert cache.stats()["errors"] == 0


@pytest.mark.parametrize("temperature", [0, 0.7])
async def test_transport_errors_are_not_retried_by_the_cache_async(simulator, aclient, redis_server, temperature):
    enable_tolerant(redis_server.url)
    with pytest.raises((openai.APIError, httpx.TransportError)):
        await aclient.chat.completions.create(**{**CHAT, "temperature": temperature},
                                              extra_headers={"x-sim-fault": "drop"})
    assert len(simulator.requests) == 1
    assert cache.stats()["errors"] == 0


def test_password_and_database_from_the_url(simulator, client, tmp_path, caplog):
    from redis_process import RedisServer

    server = RedisServer(tmp_path, "--requirepass", "s3cret pass")
    server.start()
    try:
        enable_tolerant(f"redis://:s3cret%20pass@127.0.0.1:{server.port}/3")
        assert not call(client, "chat", False).hit
        assert call(client, "chat", False).hit
        assert len(list(server.client(db=3).scan_iter("tokentrail:cache:*"))) == 1
        assert list(server.client(db=0).scan_iter("*")) == []

        caplog.set_level(logging.WARNING, LOGGER)
        enable_tolerant(f"redis://:wrong@127.0.0.1:{server.port}/3", breaker_cooldown_s=60)
        assert not call(client, "chat", False).hit  # refused by the server: a counted miss, no error
        assert cache.stats()["errors_other"] == 1
        assert "WRONGPASS" in _warnings(caplog)[0] or "invalid" in _warnings(caplog)[0].lower()
    finally:
        server.stop()
