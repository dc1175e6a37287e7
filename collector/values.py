"""OTLP `AnyValue` / `KeyValue` → Python values and JSON text, with the documented input caps.

Caps (docs/collector.md): string and bytes values are cut to `MAX_STRING_CHARS`; arrays and
key-value lists nested deeper than `MAX_DEPTH` are replaced by a marker string; NaN and ±Inf
become null (JSON cannot carry them). Bytes values are stored as base64, as OTLP/JSON does.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

from tokentrail.collector.normalise import assignments
from tokentrail.collector.wire import WireError, as_double, as_int64, as_text, fields, read_varint

MAX_STRING_CHARS = 64 * 1024
TAG_PREFIX = "tokentrail.tag."
MAX_DEPTH = 8
TRUNCATED_MARK = "…[truncated]"
DEPTH_MARK = "[nesting too deep]"

Pair = tuple[str, Any, str, "str | None", tuple[tuple[int, int, Any], ...]]
_DOUBLE_AT = struct.Struct("<d").unpack_from
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _text(buf: bytes, start: int, stop: int) -> str:
    if stop - start > MAX_STRING_CHARS * 4:
        stop = start + MAX_STRING_CHARS * 4
    text = as_text(buf, start, stop)
    if len(text) > MAX_STRING_CHARS:
        text = text[:MAX_STRING_CHARS] + TRUNCATED_MARK
    return text


def any_value(buf: bytes, start: int, stop: int, depth: int = 0) -> Any:
    """Decode one AnyValue message; an empty one is None (OTLP's "no value")."""
    value: Any = None
    for number, wire_type, v, end in fields(buf, start, stop):
        if number == 1 and wire_type == 2:
            value = _text(buf, v, end)
        elif number == 3 and wire_type == 0:
            value = as_int64(v)
        elif number == 4 and wire_type == 1:
            value = as_double(v)
            if not math.isfinite(value):
                value = None
        elif number == 2 and wire_type == 0:
            value = bool(v)
        elif number == 5 and wire_type == 2:
            if depth >= MAX_DEPTH:
                value = DEPTH_MARK
            else:
                value = [any_value(buf, s, e, depth + 1) for n, w, s, e in fields(buf, v, end) if n == 1 and w == 2]
        elif number == 6 and wire_type == 2:
            if depth >= MAX_DEPTH:
                value = DEPTH_MARK
            else:
                value = dict(
                    key_value(buf, s, e, depth + 1) for n, w, s, e in fields(buf, v, end) if n == 1 and w == 2
                )
        elif number == 7 and wire_type == 2:
            raw = buf[v : min(end, v + MAX_STRING_CHARS)]
            value = base64.b64encode(raw).decode("ascii")
    return value


def key_value(buf: bytes, start: int, stop: int, depth: int = 0) -> tuple[str, Any]:
    """Decode one KeyValue message into (key, value)."""
    key = ""
    value: Any = None
    for number, wire_type, v, end in fields(buf, start, stop):
        if number == 1 and wire_type == 2:
            key = _text(buf, v, end)
        elif number == 2 and wire_type == 2:
            value = any_value(buf, v, end, depth)
    return key, value


class KeyValueCache:
    """Memoises raw KeyValue bytes → (key, value, JSON member text).

    LLM spans repeat most attribute pairs byte for byte, so the hit rate is high and a hit costs a
    slice and a dict lookup. Bounded: cleared when full, and large pairs are never cached.
    """

    MAX_ENTRIES = 100_000
    MAX_PAIR_BYTES = 256

    def __init__(self) -> None:
        self.entries: dict[bytes, Pair] = {}

    def get(self, buf: bytes, start: int, stop: int) -> Pair:
        if stop - start > self.MAX_PAIR_BYTES:
            return decode_pair(buf, start, stop)
        raw = buf[start:stop]
        entry = self.entries.get(raw)
        if entry is None:
            entry = decode_pair(buf, start, stop)
            if len(self.entries) >= self.MAX_ENTRIES:
                self.entries.clear()
            self.entries[raw] = entry
        return entry


_KeyInfo = tuple[str, str, "str | None"]
_keys: dict[bytes, _KeyInfo] = {}


def _key_info(raw: bytes) -> _KeyInfo:
    """(key, '"key":' JSON prefix, tag member prefix or None), memoised per key bytes: keys repeat
    far more than values, so a pair that misses the pair cache still skips the key work."""
    info = _keys.get(raw)
    if info is None:
        key = raw.decode("utf-8", "replace")[:MAX_STRING_CHARS]
        tag = _dumps(key[len(TAG_PREFIX) :]) + ":" if key.startswith(TAG_PREFIX) else None
        info = (key, _dumps(key) + ":", tag)
        if len(_keys) >= 10_000:
            _keys.clear()
        _keys[raw] = info
    return info


def _scalar_pair(buf: bytes, start: int, stop: int) -> tuple[bytes, Any] | None:
    """Fast path for the common shape `KeyValue{key, AnyValue{one scalar}}` with short lengths;
    None means "use the general decoder"."""
    if stop - start < 4 or buf[start] != 0x0A:
        return None
    klen = buf[start + 1]
    if klen >= 0x80:
        return None
    v = start + 2 + klen
    if v + 2 > stop or buf[v] != 0x12:
        return None
    vlen = buf[v + 1]
    if vlen >= 0x80 or v + 2 + vlen != stop:
        return None
    raw_key = buf[start + 2 : v]
    a = v + 2
    if vlen == 0:
        return raw_key, None
    tag = buf[a]
    if tag == 0x0A:
        slen = buf[a + 1] if a + 1 < stop else 0x80
        if slen >= 0x80 or a + 2 + slen != stop:
            return None
        return raw_key, buf[a + 2 : stop].decode("utf-8", "replace")
    if tag == 0x18:
        value, end = read_varint(buf, a + 1, stop)
        return (raw_key, as_int64(value)) if end == stop else None
    if tag == 0x21 and a + 9 == stop:
        value = _DOUBLE_AT(buf, a + 1)[0]
        return raw_key, value if math.isfinite(value) else None
    if tag == 0x10 and a + 2 == stop:
        return raw_key, bool(buf[a + 1])
    return None


def decode_pair(buf: bytes, start: int, stop: int) -> Pair:
    """(key, value, JSON member text, JSON member under the tag's short name or None,
    llm_calls_raw slot assignments)."""
    fast = _scalar_pair(buf, start, stop)
    if fast is None:
        key, value = key_value(buf, start, stop)
        key_json = _dumps(key) + ":"
        tag_prefix = _dumps(key[len(TAG_PREFIX) :]) + ":" if key.startswith(TAG_PREFIX) else None
    else:
        key, key_json, tag_prefix = _key_info(fast[0])
        value = fast[1]
    value_json = _dumps(value)
    tag = tag_prefix + value_json if tag_prefix is not None else None
    return key, value, key_json + value_json, tag, assignments(key, value)


def to_json(value: Any) -> str:
    """Compact JSON text; values here are already free of NaN/Inf."""
    return _dumps(value)


def object_json(pairs: list[Pair]) -> str:
    """JSON object text for decoded pairs; a repeated key keeps its last value."""
    if not pairs:
        return "{}"
    members = [p[2] for p in pairs]
    if len({p[0] for p in pairs}) != len(pairs):
        merged = {p[0]: p[1] for p in pairs}
        return _dumps(merged)
    return "{" + ",".join(members) + "}"


__all__ = [
    "MAX_DEPTH",
    "MAX_STRING_CHARS",
    "KeyValueCache",
    "WireError",
    "any_value",
    "decode_pair",
    "key_value",
    "object_json",
    "to_json",
]
