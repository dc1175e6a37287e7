"""Shared request shapes, a uniform way to call both endpoints in every mode, and `enable_tolerant`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import tokentrail.cache as cache

CHAT: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three rivers."}],
    "temperature": 0,
}
RESPONSES: dict[str, Any] = {"model": "gpt-4o-mini", "input": "Name three rivers.", "temperature": 0}
ENDPOINTS = {"chat": CHAT, "responses": RESPONSES}


@dataclass
class Result:
    """What a call returned: the parsed items as JSON strings, headers, the SDK return type."""

    items: list[str]
    headers: dict[str, str]
    kind: type

    @property
    def hit(self) -> bool:
        return self.headers.get("x-tokentrail-cache") == "hit"


def _resource(client: Any, endpoint: str) -> Any:
    return client.chat.completions if endpoint == "chat" else client.responses


def call(client: Any, endpoint: str, stream: bool, **overrides: Any) -> Result:
    kwargs = {**ENDPOINTS[endpoint], **overrides}
    if stream:
        kwargs["stream"] = True
    raw = _resource(client, endpoint).with_raw_response.create(**kwargs)
    parsed = raw.parse()
    items = [c.model_dump_json() for c in parsed] if stream else [parsed.model_dump_json()]
    return Result(items, dict(raw.headers), type(parsed))


async def acall(client: Any, endpoint: str, stream: bool, **overrides: Any) -> Result:
    kwargs = {**ENDPOINTS[endpoint], **overrides}
    if stream:
        kwargs["stream"] = True
    raw = await _resource(client, endpoint).with_raw_response.create(**kwargs)
    parsed = raw.parse()  # the legacy raw wrapper parses synchronously, even for async clients
    items = [c.model_dump_json() async for c in parsed] if stream else [parsed.model_dump_json()]
    return Result(items, dict(raw.headers), type(parsed))


def usage_of(result: Result) -> dict[str, Any] | None:
    """The usage object a result carries (last chunk with usage for streams)."""
    for item in reversed(result.items):
        data = json.loads(item)
        usage = data.get("usage") or (data.get("response") or {}).get("usage")
        if usage:
            return usage
    return None


def enable_tolerant(backend: Any, **kwargs: Any) -> cache.Cache:
    """`cache.enable` with a 2 s backend timeout instead of 50 ms: on a CI machine saturated by
    other tests a healthy Redis can take longer than 50 ms to answer, and tests that count hits
    must not see that as a failure. Tests about timeouts pass `timeout_ms` themselves."""
    return cache.enable(backend, **{"timeout_ms": 2000, **kwargs})
