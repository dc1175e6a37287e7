"""The cache key: a sha256 over the whole normalised request, never over the prompt alone.

A key built from the prompt text alone (the common md5-of-the-prompt recipe) returns a cached answer
for a request that asked for another model, other tools, another response format or other sampling
parameters. Here every body field takes part, minus the keys the user chose to ignore, plus:
- the namespace, so tenants sharing one Redis never see each other's answers;
- the method and the full URL (scheme, host, port, path, query), because the same model name behind
  another base URL (a proxy, Azure with its `api-version`, a local server) is another model.

Request headers never take part: the API key and organisation live there, and tenancy is the
namespace's job. Normalisation only folds spellings the API treats as identical: a top-level
`null` equals an absent key, `"stream": false` equals no `stream`, and an integral float equals the
integer (`0.0` is `0`). Nothing else is guessed, e.g. `n: 1` and an absent `n` stay distinct.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KEY_VERSION = b"tokentrail-cache-v1"

#: API paths whose POST responses may be cached, matched on the URL path suffix so that a base URL
#: with a prefix (`/v1`, `/openai/deployments/x`) still matches.
CACHEABLE_PATHS: tuple[str, ...] = ("/chat/completions", "/responses")


@dataclass(frozen=True)
class RequestKey:
    """What the cache knows about one request once it decided the request is cacheable."""

    digest: str  # hex sha256
    endpoint: str  # "/chat/completions" or "/responses"
    stream: bool
    model: str | None


def endpoint_of(method: str, path: str) -> str | None:
    """The cacheable endpoint a request targets, or None."""
    if method.upper() != "POST":
        return None
    path = path.rstrip("/")
    for suffix in CACHEABLE_PATHS:
        if path.endswith(suffix):
            return suffix
    return None


def normalise(body: dict[str, Any], ignore_keys: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of the body with ignored keys removed and equivalent spellings folded."""
    out = {k: _fold_numbers(v) for k, v in body.items() if v is not None}
    if out.get("stream") is False:
        del out["stream"]
    for dotted in ignore_keys:
        _drop_path(out, dotted.split("."))
    return out


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(namespace: str, method: str, url: str, normalised_body: dict[str, Any]) -> str:
    """sha256 over version, namespace, method, URL and canonical body, NUL-separated."""
    h = hashlib.sha256()
    for part in (KEY_VERSION, namespace.encode(), method.upper().encode(), url.encode()):
        h.update(part)
        h.update(b"\0")
    h.update(canonical_json(normalised_body))
    return h.hexdigest()


def is_deterministic(body: dict[str, Any]) -> bool:
    """temperature 0 or a seed: the requests whose answer is worth replaying by default."""
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature == 0:
        return True
    return body.get("seed") is not None


def _fold_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _fold_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fold_numbers(v) for v in value]
    return value


def _drop_path(obj: dict[str, Any], parts: list[str]) -> None:
    """Remove `a.b.c` from nested dicts; a missing segment is not an error."""
    for part in parts[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            return
        obj = nxt
    obj.pop(parts[-1], None)
