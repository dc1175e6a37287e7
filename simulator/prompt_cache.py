"""OpenAI's automatic prompt caching, modelled per server instance and model.

OpenAI caches prompt prefixes of at least 1024 tokens and reports hits in 128-token increments of
the longest prefix it has seen before. We remember a hash of every prompt prefix that ends on such a
boundary (1024, 1152, 1280, ...) so a lookup costs one pass over the new prompt, not a comparison
against every earlier prompt.
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from tokentrail.simulator import tokens

MIN_PREFIX = 1024
INCREMENT = 128


class PromptCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._max_entries = max_entries

    def lookup_and_store(self, model: str, tokens: Sequence[int]) -> int:
        """Cached tokens for this prompt (0 on a miss), then remember its prefixes for later calls."""
        boundaries = _prefix_digests(tokens)
        if not boundaries:
            return 0
        cached = 0
        with self._lock:
            for length, digest in boundaries:
                key = (model, digest)
                if key in self._seen:
                    cached = length
                    self._seen.move_to_end(key)
                else:
                    self._seen[key] = None
            while len(self._seen) > self._max_entries:
                self._seen.popitem(last=False)
        return cached

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def _prefix_digests(tokens: Sequence[int]) -> list[tuple[int, bytes]]:
    """(prefix length, digest of that prefix) for every cacheable boundary of `tokens`."""
    n = len(tokens)
    if n < MIN_PREFIX:
        return []
    data = array("I", (t & 0xFFFFFFFF for t in tokens)).tobytes()
    h = hashlib.blake2b(digest_size=16)
    h.update(data[: MIN_PREFIX * 4])
    out = [(MIN_PREFIX, h.digest())]
    length = MIN_PREFIX
    while length + INCREMENT <= n:
        h.update(data[length * 4 : (length + INCREMENT) * 4])
        length += INCREMENT
        out.append((length, h.digest()))
    return out


def prompt_usage(
    cache: PromptCache, model: str, messages: list[dict[str, Any]], tools: list[Any] | None
) -> tuple[int, int]:
    """(prompt tokens, cached tokens) for a chat-shaped prompt, shared by Chat Completions and Responses.

    Tool definitions count as prompt text, as OpenAI bills them. The cache is keyed on the rendered
    prompt, tools first (they are injected ahead of the messages), so a changed tool list is a miss.
    """
    prompt = tokens.count_chat_messages(model, messages)
    tools_json = json.dumps(tools, separators=(",", ":"), sort_keys=True) if tools else ""
    if tools_json:
        prompt += tokens.count(model, tools_json)
    if prompt < MIN_PREFIX:
        return prompt, 0
    rendered = [tools_json] if tools_json else []
    rendered += [f"<|{m.get('role')}|>{tokens.flatten(m.get('content') or '')}" for m in messages]
    ids = tokens.tokenizer_for(model).encode("\n".join(rendered))
    return prompt, min(cache.lookup_and_store(model, ids), prompt)
