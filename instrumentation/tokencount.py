"""Token counting with tiktoken, for calls where the API reported no usage.

Used only on the fallback path (stream without `include_usage`, interrupted stream, error).
The encoding is chosen from the model name; unknown models use o200k_base, and the encoding
used is recorded on the span (`tokentrail.usage.encoding`) next to `usage.source=tiktoken`,
so an approximate count is never silent. When no vocabulary can be loaded (no network, no
TIKTOKEN_CACHE_DIR), counting returns None, a warning is logged once, and the span says
`usage.source=none` with the token attributes left unset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("tokentrail.instrumentation")

FALLBACK_ENCODING = "o200k_base"
_lock = threading.Lock()
_encodings: dict[str, Any] = {}
_failed: set[str] = set()
_warned = False

# chat framing overhead, per OpenAI's published counting recipe
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMER = 3


def encoding_name(model: str | None) -> str:
    """The tiktoken encoding for `model` (o200k_base when tiktoken doesn't know it)."""
    if model:
        try:
            import tiktoken.model

            return tiktoken.model.encoding_name_for_model(model.rsplit("/", 1)[-1])
        except Exception:
            pass
    return FALLBACK_ENCODING


def get_encoding(name: str) -> Any | None:
    """The loaded encoding, or None when its vocabulary cannot be loaded (warned once)."""
    enc = _encodings.get(name)
    if enc is not None or name in _failed:
        return enc
    with _lock:
        enc = _encodings.get(name)
        if enc is not None or name in _failed:
            return enc
        try:
            import tiktoken

            enc = tiktoken.get_encoding(name)
        except Exception as exc:  # no network and no cache: degrade visibly, never guess
            _failed.add(name)
            _warn_once(f"tokentrail: cannot load tiktoken encoding {name!r} ({exc}); "
                       "calls without API usage will carry no token counts (usage.source=none)")
            return None
        _encodings[name] = enc
        return enc


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(message)


_preloader: threading.Thread | None = None


def preload(names: Iterable[str] = ("o200k_base", "cl100k_base")) -> threading.Thread:
    """Load vocabularies in the background (once) so the first fallback count doesn't stall a call."""
    global _preloader
    with _lock:
        if _preloader is None:
            _preloader = threading.Thread(target=lambda: [get_encoding(n) for n in names],
                                          name="tokentrail-tiktoken", daemon=True)
            _preloader.start()
        return _preloader


def _count(enc: Any, text: str) -> int:
    return len(enc.encode(text, disallowed_special=())) if text else 0


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        out = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text") or part.get("input_text") or part.get("refusal")
                if isinstance(text, str):
                    out.append(text)
            elif isinstance(part, str):
                out.append(part)
        return "\n".join(out)
    return str(content)


def count_chat_input(enc: Any, messages: Any) -> int:
    """Prompt tokens of chat `messages` including the per-message framing."""
    total = _REPLY_PRIMER
    for message in messages or ():
        if not isinstance(message, dict):
            message = getattr(message, "model_dump", lambda: {})()
        total += _PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                total += _count(enc, _content_text(value))
            elif key == "name":
                total += _count(enc, str(value)) + _PER_NAME
            elif key == "role":
                total += _count(enc, str(value))
            elif key == "tool_calls" and isinstance(value, list):
                for call in value:
                    fn = call.get("function", {}) if isinstance(call, dict) else {}
                    total += _count(enc, str(fn.get("name", ""))) + _count(enc, str(fn.get("arguments", "")))
    return total


def count_responses_input(enc: Any, body: dict[str, Any]) -> int:
    """Prompt tokens of a Responses API request (`instructions` + `input`)."""
    total = _count(enc, body.get("instructions") or "")
    value = body.get("input")
    if isinstance(value, str):
        return total + _count(enc, value) + _PER_MESSAGE
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                total += _PER_MESSAGE + _count(enc, _content_text(item.get("content")))
                if item.get("type") == "function_call_output":
                    total += _count(enc, str(item.get("output", "")))
    return total


def count_text_input(enc: Any, value: Any) -> int:
    """Tokens of a completions `prompt` or embeddings `input` (string, list of strings or token ids)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return _count(enc, value)
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return len(value)
        return sum(count_text_input(enc, v) for v in value)
    return 0


def count_text(enc: Any, text: str) -> int:
    return _count(enc, text)
