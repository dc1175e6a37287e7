"""The bytes on the wire, below what the SDK shows: SSE framing, [DONE], response headers."""

from __future__ import annotations

import json

import httpx

MESSAGES = [{"role": "user", "content": "hi"}]


def _sse(text: str) -> list[list[str]]:
    return [block.split("\n") for block in text.split("\n\n") if block]


def test_chat_stream_is_data_frames_ending_with_done(shared_simulator) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    r = httpx.post(f"{shared_simulator.base_url}/chat/completions", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked"
    frames = _sse(r.text)
    assert r.text.endswith("data: [DONE]\n\n")
    assert all(len(f) == 1 and f[0].startswith("data: ") for f in frames)
    chunks = [json.loads(f[0][6:]) for f in frames[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_completions_stream_ends_with_done(shared_simulator) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "stream": True}
    r = httpx.post(f"{shared_simulator.base_url}/completions", json=body)
    assert r.text.endswith("data: [DONE]\n\n")


def test_responses_stream_frames_name_their_event_and_have_no_done(shared_simulator) -> None:
    r = httpx.post(
        f"{shared_simulator.base_url}/responses", json={"model": "gpt-4o-mini", "input": "hi", "stream": True}
    )
    frames = _sse(r.text)
    assert "[DONE]" not in r.text
    for event_line, data_line in frames:
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line[6:])["type"] == event_line[7:]


def test_success_headers_look_like_openai(shared_simulator) -> None:
    r = httpx.post(
        f"{shared_simulator.base_url}/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES}
    )
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"].startswith("req_")
    assert int(r.headers["openai-processing-ms"]) >= 0
    for name in (
        "limit-requests",
        "remaining-requests",
        "reset-requests",
        "limit-tokens",
        "remaining-tokens",
    ):
        assert f"x-ratelimit-{name}" in r.headers
    assert "authorization" not in {h.lower() for h in r.headers}


def test_request_log_never_keeps_credentials(simulator) -> None:
    httpx.post(
        f"{simulator.base_url}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"authorization": "Bearer sk-secret", "x-stainless-retry-count": "0"},
    )
    (logged,) = simulator.requests
    assert logged.path == "/v1/chat/completions" and logged.method == "POST"
    assert "sk-secret" not in repr(logged)
