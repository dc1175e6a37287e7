"""Unit rules behind the end-to-end tests: completeness, the entry codec, the circuit breaker."""

from __future__ import annotations

import json
import time

import pytest
from tokentrail.cache.breaker import CircuitBreaker
from tokentrail.cache.completeness import is_complete
from tokentrail.cache.entry import CorruptEntry, decode, encode, make_entry

SSE = "text/event-stream; charset=utf-8"


def _chat_event(content: str, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_chat_stream_needs_done():
    body = _chat_event("Nile") + _chat_event("", "stop")
    assert not is_complete("/chat/completions", SSE, body)
    assert is_complete("/chat/completions", SSE, body + b"data: [DONE]\n\n")
    assert is_complete("/chat/completions", SSE, (body + b"data: [DONE]\n\n").replace(b"\n", b"\r\n"))
    assert not is_complete("/chat/completions", SSE, body + b"data: [DO")


def test_chat_stream_with_an_error_event_is_not_complete():
    body = _chat_event("Nile") + b'data: {"error": {"message": "overloaded"}}\n\n' + b"data: [DONE]\n\n"
    assert not is_complete("/chat/completions", SSE, body)
    # the word "error" inside generated text is not an error event
    assert is_complete("/chat/completions", SSE, _chat_event('an "error" here') + b"data: [DONE]\n\n")


def test_responses_stream_needs_a_whole_completed_event():
    done = b'event: response.completed\ndata: {"type":"response.completed","response":{"status":"completed"}}\n\n'
    start = b'event: response.created\ndata: {"type":"response.created"}\n\n'
    assert is_complete("/responses", SSE, start + done)
    assert not is_complete("/responses", SSE, start + done[:-2])  # not terminated by a blank line
    assert not is_complete("/responses", SSE, start + done.replace(b"completed", b"incomplete"))
    # the phrase inside a text delta does not count
    text = json.dumps({"type": "response.output_text.delta", "delta": "response.completed"}).encode()
    assert not is_complete("/responses", SSE, start + b"event: response.output_text.delta\ndata: " + text + b"\n\n")
    # servers that send only data lines
    assert is_complete("/responses", SSE, b'data: {"type":"response.completed"}\n\n')


@pytest.mark.parametrize(("endpoint", "body", "expected"), [
    ("/chat/completions", {"choices": [{"finish_reason": "stop"}]}, True),
    ("/chat/completions", {"choices": [{"finish_reason": "stop"}, {"finish_reason": None}]}, False),
    ("/chat/completions", {"choices": []}, False),
    ("/chat/completions", {"error": {"message": "x"}}, False),
    ("/responses", {"status": "completed"}, True),
    ("/responses", {"status": "incomplete"}, False),
    ("/responses", {"status": "queued"}, False),
])
def test_plain_bodies(endpoint, body, expected):
    assert is_complete(endpoint, "application/json", json.dumps(body).encode()) is expected


def test_plain_body_that_is_not_json():
    assert not is_complete("/chat/completions", "application/json", b"{not json")


def test_entry_round_trip_keeps_chunks_and_drops_private_headers():
    headers = [("Content-Type", SSE), ("Set-Cookie", "a=b"), ("Content-Length", "9"), ("x-request-id", "req_1"),
               ("x-ratelimit-remaining-requests", "9"), ("openai-organization", "org-secret")]
    entry = make_entry("a" * 64, 200, headers, [b"data: 1\n\n", b"", b"data: [DONE]\n\n"], None, 12.5)
    back = decode(encode(entry), "a" * 64)
    assert list(back.iter_chunks()) == [b"data: 1\n\n", b"data: [DONE]\n\n"]
    assert dict(back.headers) == {"content-type": SSE, "x-request-id": "req_1"}
    assert (back.status, back.original_ms, back.is_stream) == (200, 12.5, True)


def test_entry_refuses_a_non_success_status():
    value = encode(make_entry("a" * 64, 500, [], None, b"{}", 1.0))
    with pytest.raises(CorruptEntry, match="status"):
        decode(value, "a" * 64)


def test_breaker_opens_probes_and_backs_off():
    """Only checks that hold however late a sleep wakes up (a sleep never returns early)."""
    b = CircuitBreaker(base_cooldown_s=0.1, max_cooldown_s=0.3)
    assert b.allow() and not b.is_open
    assert b.failure() is True  # just opened
    assert not b.allow()
    time.sleep(0.12)
    assert b.allow()  # the probe
    assert not b.allow()  # others wait while it probes
    assert b.failure() is False  # still failing: the cool-down doubles to 0.2 s
    started = time.monotonic()
    while not b.allow():
        time.sleep(0.01)
    assert time.monotonic() - started >= 0.19
    assert b.success() is True and b.allow() and not b.is_open
    assert b.success() is False


@pytest.mark.parametrize(("url", "lean"), [
    ("redis://127.0.0.1:6379/0", True),
    ("redis://localhost", True),
    ("redis://:pw@10.0.0.5:6380/3", True),
    ("redis://user:p%40ss@host/2", True),
    ("rediss://host:6380/0", False),
    ("unix:///run/redis.sock", False),
    ("redis://host:6379/0?socket_keepalive=true", False),
])
def test_which_urls_use_the_lean_client(url, lean):
    from tokentrail.cache.backends.resp import plain_tcp_address

    address = plain_tcp_address(url)
    assert (address is not None) is lean
    if url == "redis://user:p%40ss@host/2":
        assert (address.username, address.password, address.db, address.port) == ("user", "p@ss", 2, 6379)
