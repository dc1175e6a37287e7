"""Is a response complete enough to store? Only answers the provider says it finished.

- chat, plain: status 200, a JSON body whose every choice carries a finish_reason.
- chat, streamed: the `data: [DONE]` sentinel arrived, and no event carried an `error`.
- responses, plain: a JSON body with `"status": "completed"` (not incomplete, failed, queued).
- responses, streamed: a `response.completed` event arrived whole (terminated by a blank line).
A stream the application abandoned early, a stream cut by the network, or an error event is never
stored, so a replay always yields the whole answer.
"""

from __future__ import annotations

import json
from typing import Any


def is_complete(endpoint: str, content_type: str, body: bytes) -> bool:
    if content_type.lower().startswith("text/event-stream"):
        return _stream_complete(endpoint, body)
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return _body_complete(endpoint, data)


def _body_complete(endpoint: str, data: Any) -> bool:
    if not isinstance(data, dict) or "error" in data and data["error"]:
        return False
    if endpoint == "/responses":
        return data.get("status") == "completed"
    choices = data.get("choices")
    return isinstance(choices, list) and bool(choices) and all(
        isinstance(c, dict) and c.get("finish_reason") for c in choices
    )


def _events(body: bytes) -> list[tuple[str | None, str]]:
    """Whole SSE events (those followed by a blank line) as (event name, joined data)."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n\n")[:-1]  # the last piece is unterminated (or empty)
    out: list[tuple[str | None, str]] = []
    for block in blocks:
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if name is not None or data:
            out.append((name, "\n".join(data)))
    return out


def _stream_complete(endpoint: str, body: bytes) -> bool:
    if endpoint == "/responses":
        if b"response.completed" not in body:
            return False
        for name, data in _events(body):
            if name == "response.completed":
                return True
            if "response.completed" in data and _json_type(data) == "response.completed":
                return True
        return False
    done = False
    check_errors = b'"error"' in body
    for _name, data in _events(body):
        if data == "[DONE]":
            done = True
        elif check_errors and _has_error(data):
            return False
    return done


def _json_type(data: str) -> Any:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value.get("type") if isinstance(value, dict) else None


def _has_error(data: str) -> bool:
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and bool(value.get("error"))
