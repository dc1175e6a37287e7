"""Count a chat request's prompt tokens before sending it, and estimate what it will cost.

Counting follows OpenAI's published recipe for chat models: every message is framed by 3 tokens, a
`name` field costs 1 more, the reply is primed with 3, and function tools are rendered into the
prompt with fixed per-function/per-property overheads (7/3/3, enums -3 +3 per item, 12 at the
end for the gpt-4o family; 10 instead of 7 for gpt-4 and gpt-3.5). Exact for OpenAI models whose
vocabulary tiktoken knows; other models are counted with o200k_base and flagged as approximate.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DEFAULT_ENCODING = "o200k_base"


class TokenCountWarning(UserWarning):
    """The count is approximate: unknown model, or no tiktoken vocabulary could be loaded."""


@dataclass(frozen=True)
class _Framing:
    per_message: int = 3
    per_name: int = 1
    reply_primer: int = 3
    func_init: int = 7
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3
    func_end: int = 12


_GPT4O = _Framing()
_LEGACY = _Framing(func_init=10)  # gpt-4 and gpt-3.5-turbo
_GPT35_0301 = _Framing(per_message=4, per_name=-1, func_init=10)

_lock = threading.Lock()
_encodings: dict[str, Any] = {}


def _framing(model: str) -> _Framing:
    m = model.lower().rsplit("/", 1)[-1].removeprefix("ft:")  # fine-tunes frame like their base
    if m.startswith("gpt-3.5-turbo-0301"):
        return _GPT35_0301
    if m.startswith(("gpt-3.5", "gpt-4-", "gpt-4")) and not m.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return _LEGACY
    return _GPT4O


def _encoding(model: str) -> tuple[Any | None, bool]:
    """(encoding or None when no vocabulary loads, exact?)."""
    import tiktoken
    import tiktoken.model

    name = model.rsplit("/", 1)[-1]
    exact = True
    try:
        enc_name = tiktoken.model.encoding_name_for_model(name)
    except KeyError:
        enc_name, exact = DEFAULT_ENCODING, False
    with _lock:
        if enc_name not in _encodings:
            try:
                _encodings[enc_name] = tiktoken.get_encoding(enc_name)
            except Exception as exc:  # offline without TIKTOKEN_CACHE_DIR, or a broken cache
                warnings.warn(
                    f"tiktoken vocabulary {enc_name!r} could not be loaded ({exc}); token counts are "
                    "estimated at 4 characters per token. Set TIKTOKEN_CACHE_DIR for exact counts.",
                    TokenCountWarning,
                    stacklevel=4,
                )
                _encodings[enc_name] = None
        enc = _encodings[enc_name]
    if enc is not None and not exact:
        warnings.warn(f"{model!r} is not an OpenAI model tiktoken knows; counted with {enc_name} "
                      "(approximate)", TokenCountWarning, stacklevel=4)
    return enc, exact and enc is not None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: the text the model reads
        return "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in value)
    return json.dumps(value, separators=(",", ":"))


def _strip_period(s: str) -> str:
    return s[:-1] if s.endswith(".") else s


def _tools_tokens(tools: Sequence[Mapping[str, Any]], n: Any, f: _Framing) -> int:
    total = 0
    for tool in tools:
        fn = tool.get("function", tool)
        total += f.func_init + n(f"{fn.get('name', '')}:{_strip_period(fn.get('description', '') or '')}")
        props = (fn.get("parameters") or {}).get("properties") or {}
        if props:
            total += f.prop_init
            for key, spec in props.items():
                total += f.prop_key
                if "enum" in spec:
                    total += f.enum_init
                    for item in spec["enum"]:
                        total += f.enum_item + n(str(item))
                desc = _strip_period(spec.get("description", "") or "")
                total += n(f"{key}:{spec.get('type', '')}:{desc}")
    return total + (f.func_end if tools else 0)


def count_tokens(
    messages: Sequence[Mapping[str, Any]], model: str, tools: Sequence[Mapping[str, Any]] | None = None
) -> int:
    """Prompt tokens the chat request will be billed for (framing and tool definitions included).

    Warns `TokenCountWarning` when the answer is approximate (non-OpenAI model or no vocabulary).
    """
    enc, _exact = _encoding(model)

    def n(text: str) -> int:
        if enc is None:
            return (len(text.encode("utf-8")) + 3) // 4
        return len(enc.encode(text, disallowed_special=()))

    f = _framing(model)
    total = f.reply_primer
    for message in messages:
        total += f.per_message
        for key, value in message.items():
            if value is None:
                continue
            total += n(_text(value))
            if key == "name":
                total += f.per_name
    if tools:
        total += _tools_tokens(tools, n, f)
    return total


@dataclass(frozen=True)
class CostEstimate:
    model: str
    input_tokens: int
    max_output_tokens: int
    input_cost_usd: float | None
    max_output_cost_usd: float | None
    max_cost_usd: float | None  # None when the model has no price (never a silent $0)
    price_known: bool
    price_source: str | None


def estimate_cost(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    max_output_tokens: int,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    provider: str | None = None,
    at: datetime | None = None,
) -> CostEstimate:
    """Upper bound on a request's cost: its prompt at the uncached input rate plus
    `max_output_tokens` at the output rate, with prices in force `at` (default now, UTC) including
    the user's overrides (TOKENTRAIL_PRICES)."""
    from tokentrail.analytics.forecast import utc_now
    from tokentrail.analytics.overrides import load_overrides
    from tokentrail.analytics.prices import price_at

    tokens = count_tokens(messages, model, tools)
    when = at or utc_now()
    price = price_at(model, when, provider=provider, overrides=load_overrides(), input_tokens=tokens)
    if price is None:
        return CostEstimate(model, tokens, max_output_tokens, None, None, None, False, None)
    rates = price.rates
    inp = tokens * (rates.input or 0) / 1e6
    out = max_output_tokens * (rates.output or 0) / 1e6
    return CostEstimate(model, tokens, max_output_tokens, inp, out, inp + out, True, price.source)
