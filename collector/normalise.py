"""Map the attributes of an LLM span, whatever convention sent it, onto the typed `llm_calls_raw` row.

Speed matters here (every span passes through it), so the mapping is compiled per attribute *key*:
`assignments(key, value)` says which columns a pair feeds, at what priority, with the value
already converted, and the decoder memoises that with the pair's bytes. Per span, building the
row is then a handful of list writes. (Doing the same in SQL with json_extract over the batch was
measured at ~70 µs per span on this machine, far over budget.)

Sources, first match wins (so the current GenAI semconv beats older names and vendor variants):
- OTel GenAI semconv, current names (what tokentrail's own instrumentation emits) and the older
  ones (`gen_ai.system`, `gen_ai.usage.prompt_tokens` / `completion_tokens`);
- OpenLLMetry / Traceloop (`llm.request.type`, `llm.is_streaming`, `llm.usage.total_tokens`,
  `gen_ai.usage.cache_read_input_tokens`, `gen_ai.usage.cache_creation_input_tokens`,
  `llm.usage.reasoning_tokens`, `llm.response.finish_reason`, `gen_ai.openai.api_base`,
  `traceloop.association.properties.*`);
- OpenInference / Arize (`openinference.span.kind` = LLM | EMBEDDING, `llm.model_name`,
  `llm.provider`, `llm.system`, `llm.token_count.prompt|completion`,
  `llm.token_count.prompt_details.cache_read|cache_write`,
  `llm.token_count.completion_details.reasoning`, `embedding.model_name`);
- OpenLIT (`gen_ai.system`, `gen_ai.request.is_stream`, `gen_ai.server.ttft` /
  `gen_ai.server.time_to_first_token`, `gen_ai.usage.reasoning_tokens`, `gen_ai.request.user`).
A value of the wrong type is treated as absent rather than rejecting the span.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tokentrail.columns import STORED_COLUMNS

TAG_PREFIX = "tokentrail.tag."

# Operations that describe agents and tools, not a call to a model: counting them would double
# count the tokens of the model calls they contain.
NON_MODEL_OPERATIONS = ("invoke_agent", "create_agent", "execute_tool", "invoke_workflow")
OPERATION_ALIASES = {
    "completion": "text_completion",
    "completions": "text_completion",
    "embedding": "embeddings",
    "chat_completions": "chat",
    "responses": "chat",
}
# Any of these marks a span as an LLM call even without an operation name.
LLM_MARKERS = ("gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model")

# column -> (SQL type, source keys in priority order)
SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "provider": ("VARCHAR", ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
    "model": ("VARCHAR", ("gen_ai.request.model", "llm.model_name", "embedding.model_name", "llm.request.model", "gen_ai.response.model")),
    "response_model": ("VARCHAR", ("gen_ai.response.model",)),
    "input_tokens": ("BIGINT", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "llm.usage.prompt_tokens")),
    "output_tokens": ("BIGINT", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "llm.usage.completion_tokens")),
    "cached_input_tokens": ("BIGINT", ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens", "llm.token_count.prompt_details.cache_read", "gen_ai.usage.input_tokens_details.cached")),
    "cache_write_tokens": ("BIGINT", ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens", "llm.token_count.prompt_details.cache_write")),
    "reasoning_tokens": ("BIGINT", ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens", "llm.token_count.completion_details.reasoning", "gen_ai.usage.output_tokens_details.reasoning")),
    "stream": ("BOOLEAN", ("gen_ai.request.stream", "llm.is_streaming", "gen_ai.request.is_stream")),
    "http_status": ("INTEGER", ("http.response.status_code",)),
    "retry_count": ("INTEGER", ("tokentrail.retry.count",)),
    "retry_wait_ms": ("DOUBLE", ("tokentrail.retry.wait_ms",)),
    "cache_hit": ("BOOLEAN", ("tokentrail.cache.hit",)),
    "saved_input_tokens": ("BIGINT", ("tokentrail.cache.saved.input_tokens",)),
    "saved_output_tokens": ("BIGINT", ("tokentrail.cache.saved.output_tokens",)),
    "saved_ms": ("DOUBLE", ("tokentrail.cache.saved.duration_ms",)),
    "context_utilization": ("DOUBLE", ("tokentrail.context.utilization",)),
    "user_id": ("VARCHAR", ("user.id", "gen_ai.request.user", "llm.user", "traceloop.association.properties.user_id")),
    "session_id": ("VARCHAR", ("session.id", "traceloop.association.properties.session_id")),
    "feature": ("VARCHAR", ("tokentrail.feature",)),
    "service_tier": ("VARCHAR", ("openai.response.service_tier", "openai.request.service_tier", "gen_ai.openai.response.service_tier", "gen_ai.openai.request.service_tier")),
}
TTFT_SECONDS = ("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token", "gen_ai.server.ttft")
FINISH_REASON = ("gen_ai.response.finish_reasons", "llm.response.finish_reason", "llm.response.stop_reason")




def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -(1 << 63) <= v < (1 << 63) else None
    if isinstance(v, float):
        return int(v) if abs(v) < 9e18 else None
    if isinstance(v, str):
        try:
            return _as_int(int(v.strip()))
        except ValueError:
            return None
    return None


def _as_int32(v: Any) -> int | None:
    n = _as_int(v)
    return n if n is not None and -(1 << 31) <= n < (1 << 31) else None


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
    else:
        return None
    return f if f == f and abs(f) != float("inf") else None


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
    return None


def _as_str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _first_str(v: Any) -> str | None:
    if isinstance(v, list):
        return _as_str(v[0]) if v else None
    return _as_str(v)


def _host(v: Any) -> str | None:
    if not isinstance(v, str):
        return None
    try:
        return urlsplit(v).hostname
    except ValueError:
        return None


def _seconds_to_ms(v: Any) -> float | None:
    f = _as_float(v)
    return None if f is None else f * 1000.0


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "VARCHAR": _as_str, "BIGINT": _as_int, "INTEGER": _as_int32, "DOUBLE": _as_float, "BOOLEAN": _as_bool,
}

# Slots beyond the stored columns: raw inputs of the derived columns.
_EXTRA = ("_op", "_oi_kind", "_req_type", "_marker", "_usage_source", "_error_type", "_api_base")
SLOTS: tuple[str, ...] = tuple(c.name for c in STORED_COLUMNS) + _EXTRA
_INDEX = {name: i for i, name in enumerate(SLOTS)}


def _build_key_map() -> dict[str, tuple[tuple[int, int, Callable[[Any], Any]], ...]]:
    key_map: dict[str, list[tuple[int, int, Callable[[Any], Any]]]] = {}

    def add(key: str, slot: str, priority: int, convert: Callable[[Any], Any]) -> None:
        key_map.setdefault(key, []).append((_INDEX[slot], priority, convert))

    for column, (sql_type, keys) in SOURCES.items():
        for priority, key in enumerate(keys):
            add(key, column, priority, _CONVERT[sql_type])
    for priority, key in enumerate(FINISH_REASON):
        add(key, "finish_reason", priority, _first_str)
    for priority, key in enumerate(TTFT_SECONDS):
        add(key, "ttft_ms", priority, _seconds_to_ms)
    add("server.address", "server_address", 0, _as_str)
    add("gen_ai.openai.api_base", "_api_base", 0, _host)
    add("gen_ai.operation.name", "_op", 0, _as_str)
    add("openinference.span.kind", "_oi_kind", 0, _as_str)
    add("llm.request.type", "_req_type", 0, _as_str)
    for key in LLM_MARKERS:
        add(key, "_marker", 0, lambda v: True)
    add("tokentrail.usage.source", "_usage_source", 0, _as_str)
    add("error.type", "_error_type", 0, _as_str)
    return {k: tuple(v) for k, v in key_map.items()}


_KEY_MAP = _build_key_map()
NO_ASSIGNMENTS: tuple[tuple[int, int, Any], ...] = ()


def assignments(key: str, value: Any) -> tuple[tuple[int, int, Any], ...]:
    """(slot, priority, converted value) for each slot this attribute pair feeds; memoised by the
    decoder with the pair's bytes."""
    targets = _KEY_MAP.get(key)
    if not targets or value is None:
        return NO_ASSIGNMENTS
    out = []
    for slot, priority, convert in targets:
        converted = convert(value)
        if converted is not None:
            out.append((slot, priority, converted))
    return tuple(out)


_I = _INDEX
_NON_MODEL = frozenset(NON_MODEL_OPERATIONS)


_OP, _OI_KIND, _REQ_TYPE, _MARKER = _I["_op"], _I["_oi_kind"], _I["_req_type"], _I["_marker"]
_OPERATION, _CACHE_HIT, _SERVER, _API_BASE = _I["operation"], _I["cache_hit"], _I["server_address"], _I["_api_base"]
_SOURCE, _USAGE_SOURCE, _IN, _OUT = _I["_usage_source"], _I["usage_source"], _I["input_tokens"], _I["output_tokens"]
_STATUS, _ERROR_TYPE, _ERROR_TYPE_IN = _I["status"], _I["error_type"], _I["_error_type"]
_OI_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}


def operation(slots: list[Any]) -> str | None:
    """The model operation this span records, or None when it is not an LLM call."""
    op = slots[_OP]
    if op:
        return None if op in _NON_MODEL else OPERATION_ALIASES.get(op, op)
    kind = slots[_OI_KIND]
    if kind is not None:
        return _OI_KINDS.get(kind.upper())
    req_type = slots[_REQ_TYPE]
    if req_type:
        return OPERATION_ALIASES.get(req_type, req_type)
    return "chat" if slots[_MARKER] else None


def finish_row(slots: list[Any], status_error: bool) -> str | None:
    """Fill the derived columns in place; return the operation (None: not an LLM span)."""
    op = operation(slots)
    if op is None:
        return None
    slots[_OPERATION] = op
    # Only tokentrail's own cache sets the flag; for every other span "not a cache hit" is a fact,
    # and a NULL here would make `WHERE NOT cache_hit` silently drop the row.
    if slots[_CACHE_HIT] is None:
        slots[_CACHE_HIT] = False
    if slots[_SERVER] is None:
        slots[_SERVER] = slots[_API_BASE]
    source = slots[_SOURCE]
    if source is None and (slots[_IN] is not None or slots[_OUT] is not None):
        source = "api"
    slots[_USAGE_SOURCE] = source
    slots[_STATUS] = "error" if status_error else "ok"
    error_type = slots[_ERROR_TYPE_IN]
    slots[_ERROR_TYPE] = error_type if error_type is not None or not status_error else "_OTHER"
    return op


LLM_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in STORED_COLUMNS)
