"""Entries expire after their TTL (Redis and memory) and the memory backend stays bounded."""

from __future__ import annotations

import time

import tokentrail.cache as cache
from cache_calls import call, enable_tolerant
from tokentrail.cache.backends.memory import MemoryBackend


def test_redis_ttl_expiry(client, redis_server):
    enable_tolerant(redis_server.url, ttl=1.0)
    assert not call(client, "chat", True).hit
    (key,) = list(redis_server.client().scan_iter("tokentrail:cache:*"))
    assert 0 < redis_server.client().pttl(key) <= 1000
    assert call(client, "chat", True).hit
    time.sleep(1.05)
    assert not call(client, "chat", True).hit  # expired: back to the API, stored again
    assert call(client, "chat", True).hit


def test_redis_no_ttl(client, redis_server):
    enable_tolerant(redis_server.url, ttl=None)
    call(client, "chat", False)
    (key,) = list(redis_server.client().scan_iter("tokentrail:cache:*"))
    assert redis_server.client().pttl(key) == -1


def test_memory_ttl_expiry(client):
    cache.enable("memory", ttl=1.0)
    assert not call(client, "responses", False).hit
    assert call(client, "responses", False).hit
    time.sleep(1.05)
    assert not call(client, "responses", False).hit


def test_memory_lru_is_bounded_by_entries(client):
    handle = cache.enable("memory", max_entries=2)
    for seed in (1, 2, 3):
        call(client, "chat", False, seed=seed)
    assert len(handle.store.backend) == 2
    assert call(client, "chat", False, seed=3).hit
    assert call(client, "chat", False, seed=2).hit
    assert not call(client, "chat", False, seed=1).hit  # the least recently used went first


def test_memory_lru_recency_and_bytes():
    mem = MemoryBackend(max_entries=10, max_bytes=100)
    mem.set("a", b"x" * 40, None)
    mem.set("b", b"y" * 40, None)
    assert mem.get("a") == b"x" * 40  # a is now the most recent
    mem.set("c", b"z" * 40, None)  # 120 bytes > 100: evict the least recent, b
    assert (mem.get("a"), mem.get("b"), mem.get("c")) == (b"x" * 40, None, b"z" * 40)
    assert mem.size_bytes == 80
    mem.set("huge", b"h" * 101, None)  # bigger than the whole budget: not kept
    assert mem.get("huge") is None and mem.size_bytes == 80
    mem.set("a", b"short", None)  # overwrite accounts for the old size
    assert mem.size_bytes == 45


def test_oversized_responses_are_not_stored(client):
    handle = cache.enable("memory", max_entry_bytes=200)
    assert not call(client, "chat", False).hit
    assert not call(client, "chat", False).hit
    assert len(handle.store.backend) == 0 and cache.stats()["not_stored"] == 2


def test_clear_deletes_one_namespace(client, redis_server):
    r = redis_server.client()
    a = enable_tolerant(redis_server.url, namespace="team*a")  # glob characters are matched literally
    call(client, "chat", False)
    call(client, "chat", True)
    enable_tolerant(redis_server.url, namespace="team-b")
    call(client, "chat", False)
    r.set("tokentrail:cache:team-a:unrelated", b"x")  # would match an unescaped team*a pattern
    assert a.clear() == 2
    assert sorted(k.decode().rsplit(":", 1)[0] for k in r.scan_iter("tokentrail:cache:*")) == [
        "tokentrail:cache:team-a", "tokentrail:cache:team-b"]
    assert call(client, "chat", False).hit  # team-b untouched


def test_clear_memory_backend(client):
    handle = cache.enable("memory")
    call(client, "responses", False)
    assert handle.clear() == 1
    assert not call(client, "responses", False).hit
