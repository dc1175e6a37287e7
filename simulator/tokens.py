"""Token counting with the model's real tiktoken vocabulary, and a loud approximation when it is missing.

The vocabularies are downloaded on first use; offline they only load from TIKTOKEN_CACHE_DIR. When
they can't load we still answer (the simulator must not fail), but warn once per encoding so nobody
mistakes approximate counts for exact ones.
"""

from __future__ import annotations

import threading
import warnings
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

DEFAULT_ENCODING = "o200k_base"


class TokenizerWarning(UserWarning):
    """tiktoken's vocabulary could not be loaded; counts are approximate."""


class Tokenizer(Protocol):
    name: str
    exact: bool

    def encode(self, text: str) -> list[int]: ...

    def truncate(self, text: str, n_tokens: int) -> str:
        """The longest prefix of `text` that is at most `n_tokens` tokens."""
        ...


class _Tiktoken:
    exact = True

    def __init__(self, enc: Any) -> None:
        self._enc = enc
        self.name = enc.name

    def encode(self, text: str) -> list[int]:
        return self._enc.encode(text, disallowed_special=())

    def truncate(self, text: str, n_tokens: int) -> str:
        return self._enc.decode(self.encode(text)[:n_tokens])


class _Approximate:
    """About four characters per token (OpenAI's rule of thumb); ids are stable hashes of the pieces."""

    exact = False

    def __init__(self, name: str) -> None:
        self.name = f"approx:{name}"

    def encode(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        return [zlib.crc32(data[i : i + 4]) for i in range(0, len(data), 4)]

    def truncate(self, text: str, n_tokens: int) -> str:
        return text.encode("utf-8")[: 4 * n_tokens].decode("utf-8", errors="ignore")


_lock = threading.Lock()
_by_encoding: dict[str, Tokenizer] = {}
_by_model: dict[str, Tokenizer] = {}
_loading: dict[str, threading.Lock] = {}


def encoding_name_for(model: str) -> str:
    """tiktoken's encoding for `model`, o200k_base for models it does not know (the current default)."""
    try:
        import tiktoken.model
    except ImportError:
        return DEFAULT_ENCODING
    try:
        return tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING


def _load(name: str) -> Tokenizer:
    try:
        import tiktoken

        return _Tiktoken(tiktoken.get_encoding(name))
    except Exception as exc:  # network, missing cache, missing package: all mean "no vocabulary"
        message = (
            f"tiktoken vocabulary {name!r} unavailable ({type(exc).__name__}: {exc}); the simulator "
            "reports approximate token counts (4 characters per token). Set TIKTOKEN_CACHE_DIR to a "
            "directory holding the vocabulary files for exact counts."
        )
        warnings.warn(message, TokenizerWarning, stacklevel=3)
        return _Approximate(name)


def tokenizer_for(model: str) -> Tokenizer:
    """The (cached) tokenizer for `model`; loading a vocabulary takes ~1 s, so it happens once."""
    tok = _by_model.get(model)
    if tok is None:
        tok = _by_model[model] = _encoding(encoding_name_for(model))
    return tok


def _encoding(name: str) -> Tokenizer:
    """Load each vocabulary once; a lock per vocabulary so loading one never blocks users of another."""
    tok = _by_encoding.get(name)
    if tok is not None:
        return tok
    with _lock:
        lock = _loading.setdefault(name, threading.Lock())
    with lock:
        tok = _by_encoding.get(name)
        if tok is None:
            tok = _by_encoding[name] = _load(name)
    return tok


def count(model: str, text: str) -> int:
    return len(tokenizer_for(model).encode(text))


def count_chat_messages(model: str, messages: Sequence[dict[str, Any]]) -> int:
    """Prompt tokens of a chat request, using OpenAI's published per-message framing.

    Each message costs 3 framing tokens plus its encoded fields (a `name` costs one more), and the
    reply is primed with 3 more. Structured fields (tool calls, content parts) are counted as text.
    """
    tok = tokenizer_for(model)
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if value is None:
                continue
            total += len(tok.encode(flatten(value)))
            if key == "name":
                total += 1
    return total


def flatten(value: Any) -> str:
    """Text the model would see for a message field (content parts → their text, objects → JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_part_text(p) for p in value)
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _part_text(part: Any) -> str:
    if isinstance(part, dict):
        for key in ("text", "refusal", "input_text", "output_text"):
            if isinstance(part.get(key), str):
                return part[key]
        if "image_url" in part or part.get("type") in ("input_image", "image_url"):
            return ""  # images are billed separately by OpenAI; not modelled here
    return flatten(part) if not isinstance(part, str) else part


_warm_started = False


def warm_up_in_background(encodings: Sequence[str] = ("o200k_base", "cl100k_base")) -> None:
    """Load the common vocabularies off the request path, so the first call isn't a second slower."""
    global _warm_started
    with _lock:
        if _warm_started:
            return
        _warm_started = True

    def load() -> None:
        for name in encodings:
            _encoding(name)

    threading.Thread(target=load, name="tokentrail-simulator-vocab", daemon=True).start()
