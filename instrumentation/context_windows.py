"""Model context windows, for `tokentrail.context.utilization` = input tokens / window.

The table is a small data file (context_windows.json) keyed by model-name prefix, so dated
snapshots (`gpt-4o-mini-2024-07-18`) match their family. Unknown models give None: the
attribute is then left out rather than guessed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

_TABLE_FILE = Path(__file__).with_name("context_windows.json")


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, int], ...]:
    raw = json.loads(_TABLE_FILE.read_text(encoding="utf-8"))
    items = [(k, int(v)) for k, v in raw.items() if not k.startswith("_")]
    return tuple(sorted(items, key=lambda kv: len(kv[0]), reverse=True))


@lru_cache(maxsize=512)
def context_window(model: str | None) -> int | None:
    """The context window of `model` in tokens, or None when unknown."""
    if not model:
        return None
    name = model.lower()
    if "/" in name:  # e.g. "openai/gpt-4o" from gateways
        name = name.rsplit("/", 1)[1]
    for prefix, size in _table():
        if name == prefix or name.startswith(prefix + "-") or name.startswith(prefix + ":"):
            return size
    return None
