"""Bad requests get OpenAI-shaped 400s (with `param` and `code`), unknown URLs 404."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

MESSAGES = [{"role": "user", "content": "hi"}]


def _post(client: openai.OpenAI, path: str, body: dict) -> None:
    client.post(path, body=body, cast_to=ChatCompletion)


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        ("/chat/completions", {"messages": MESSAGES}, "model", "missing_required_parameter"),
        ("/chat/completions", {"model": "gpt-4o"}, "messages", "missing_required_parameter"),
        ("/chat/completions", {"model": "gpt-4o", "messages": "hi"}, "messages", "invalid_type"),
        ("/chat/completions", {"model": "gpt-4o", "messages": []}, "messages", "invalid_value"),
        (
            "/chat/completions",
            {"model": "gpt-4o", "messages": [{"content": "x"}]},
            "messages[0].role",
            "missing_required_parameter",
        ),
        (
            "/chat/completions",
            {"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        ("/chat/completions", {"model": 42, "messages": MESSAGES}, "model", "invalid_type"),
        ("/chat/completions", {"model": "gpt-4o", "messages": MESSAGES, "n": 0}, "n", "invalid_value"),
        (
            "/chat/completions",
            {"model": "gpt-4o", "messages": MESSAGES, "temperature": 3},
            "temperature",
            "invalid_value",
        ),
        (
            "/chat/completions",
            {"model": "gpt-4o", "messages": MESSAGES, "stream": "yes"},
            "stream",
            "invalid_type",
        ),
        (
            "/chat/completions",
            {"model": "gpt-4o", "messages": MESSAGES, "stream_options": {"include_usage": True}},
            "stream_options",
            "invalid_value",
        ),
        ("/responses", {"model": "gpt-4o"}, "input", "missing_required_parameter"),
        ("/responses", {"model": "gpt-4o", "input": 5}, "input", "invalid_type"),
        ("/embeddings", {"model": "text-embedding-3-small"}, "input", "missing_required_parameter"),
        ("/embeddings", {"model": "text-embedding-3-small", "input": ""}, "input[0]", "invalid_value"),
        (
            "/embeddings",
            {"model": "text-embedding-3-small", "input": "x", "dimensions": 99999},
            "dimensions",
            "invalid_value",
        ),
        ("/completions", {"model": "gpt-3.5-turbo-instruct"}, "prompt", "missing_required_parameter"),
    ],
)
def test_invalid_requests_get_400_with_param_and_code(
    client: openai.OpenAI, path: str, body: dict, param: str, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _post(client, path, body)
    err = info.value
    assert err.status_code == 400
    assert err.param == param and err.code == code
    assert err.body["type"] == "invalid_request_error" and err.body["message"]


def test_bad_requests_are_not_retried(simulator) -> None:
    with (
        openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=3) as client,
        pytest.raises(openai.BadRequestError),
    ):
        _post(client, "/chat/completions", {"model": "gpt-4o"})
    assert len(simulator.requests) == 1


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_json_is_a_400(simulator, payload: bytes) -> None:
    r = httpx.post(
        f"{simulator.base_url}/chat/completions",
        content=payload,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"]


def test_unknown_url_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.post("/no/such/endpoint", body={}, cast_to=ChatCompletion)
    assert "Invalid URL" in info.value.message


def test_wrong_method_is_a_405(simulator) -> None:
    r = httpx.get(f"{simulator.base_url}/chat/completions")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_keep_alive_connection_survives_errors(simulator) -> None:
    with httpx.Client(base_url=simulator.base_url) as http:
        bad = http.post("/chat/completions", content=b"{oops")
        good = http.post("/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES})
        chunked = http.post(
            "/chat/completions",
            content=iter([b'{"model": "gpt-4o", ', b'"messages": [{"role": "user", "content": "hi"}]}']),
        )
    assert (bad.status_code, good.status_code, chunked.status_code) == (400, 200, 200)
    assert good.http_version == "HTTP/1.1" and good.headers.get("connection") != "close"


def test_tool_choice_without_tools_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tool_choice="required")
    assert info.value.param == "tool_choice"


def test_malformed_framing_is_a_400_and_closes_the_connection(simulator) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
        reply = b""
        while chunk := conn.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b'"invalid_request_error"' in body
