"""OTLP ExportTraceServiceRequest bytes → columnar batches for `spans` and `llm_calls_raw`.

One decoder serves every entry point (HTTP protobuf, HTTP JSON after conversion, gRPC, the
embedded exporter), so a span lands in the same rows however it arrived. Spans with invalid ids
are rejected individually and reported through OTLP `partial_success`; a malformed message
rejects the whole request (`DecodeError` → HTTP 400 / gRPC INVALID_ARGUMENT).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from tokentrail.collector.normalise import SLOTS, finish_row, new_slots
from tokentrail.collector.values import KeyValueCache, Pair, decode_pair, key_value, object_json, to_json
from tokentrail.collector.wire import WireError, as_text, fields, read_varint

from tokentrail.columns import STORED_COLUMNS

_U64 = struct.Struct("<Q").unpack_from
_TS_I, _TRACE_I, _SPAN_I, _PARENT_I, _SERVICE_I, _DURATION_I, _TAGS_I = (
    SLOTS.index(c) for c in ("ts", "trace_id", "span_id", "parent_span_id", "service", "duration_ms", "tags")
)

_INT64_MAX = (1 << 63) - 1
_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_MAX_NAME_CHARS = 4096
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "ts", "end_ts", "duration_ms",
    "status_code", "status_message", "service", "scope_name", "scope_version",
    "attributes", "resource", "events", "links",
)
_TS = pa.timestamp("us")
SPANS_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()), ("span_id", pa.string()), ("parent_span_id", pa.string()),
        ("name", pa.string()), ("kind", pa.string()), ("ts", _TS), ("end_ts", _TS),
        ("duration_ms", pa.float64()), ("status_code", pa.string()), ("status_message", pa.string()),
        ("service", pa.string()), ("scope_name", pa.string()), ("scope_version", pa.string()),
        ("attributes", pa.string()), ("resource", pa.string()), ("events", pa.string()),
        ("links", pa.string()),
    ]
)
_ARROW_TYPES = {
    "TIMESTAMP": _TS, "VARCHAR": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_(), "JSON": pa.string(),
}
LLM_SCHEMA = pa.schema([(c.name, _ARROW_TYPES[c.sql_type]) for c in STORED_COLUMNS])
_N_LLM = len(STORED_COLUMNS)


class DecodeError(ValueError):
    """The request body is not a valid OTLP trace export."""


@dataclass
class Decoded:
    """Columns of one request, plus what was rejected and why."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)  # one tuple per span, SPAN_COLUMNS order
    llm: list[list[Any]] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def span_count(self) -> int:
        return len(self.rows)

    @property
    def spans(self) -> dict[str, list[Any]]:
        """The span rows by column (for inspection; `tables` is the fast path)."""
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(SPAN_COLUMNS)
        return {name: list(col) for name, col in zip(SPAN_COLUMNS, columns, strict=True)}

    def reject(self, why: str) -> None:
        self.rejected += 1
        if len(self.errors) < 5 and why not in self.errors:
            self.errors.append(why)

    @property
    def llm_count(self) -> int:
        return len(self.llm)

    def tables(self) -> tuple[pa.Table, pa.Table]:
        """Arrow tables for `spans` and `llm_calls_raw`; timestamps are µs since the epoch, UTC."""
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(SPAN_COLUMNS)
        spans = pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, SPANS_SCHEMA, strict=True)], schema=SPANS_SCHEMA
        )
        columns = list(zip(*self.llm, strict=True)) if self.llm else [()] * _N_LLM
        llm = pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, LLM_SCHEMA, strict=True)], schema=LLM_SCHEMA
        )
        return spans, llm


_cache = KeyValueCache()
# head pair bytes -> (raw bytes of the pairs that followed it, keys, JSON members, tag members,
# flattened llm slot assignments)
_chains: dict[bytes, tuple[bytes, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[tuple[int, int, Any], ...]]] = {}
_MAX_CHAINS = 2_000


def _learn(head: bytes, run: bytes, pairs: list[Pair]) -> None:
    """Remember that `run` (the encoded pairs `pairs`) followed the pair `head`."""
    if len(pairs) < 2:
        return
    if len(_chains) >= _MAX_CHAINS:
        _chains.clear()
    _chains[head] = (
        run,
        tuple(p[0] for p in pairs),
        tuple(p[2] for p in pairs),
        tuple(p[3] for p in pairs if p[3] is not None),
        tuple(a for p in pairs for a in p[4]),
    )


def _resource(buf: bytes, start: int, stop: int) -> tuple[str | None, str]:
    pairs = [decode_pair(buf, s, e) for n, w, s, e in fields(buf, start, stop) if n == 1 and w == 2]
    service = None
    for key, value, *_ in pairs:
        if key == "service.name" and isinstance(value, str):
            service = value
    return service, object_json(pairs)


def _scope(buf: bytes, start: int, stop: int) -> tuple[str | None, str | None]:
    name = version = None
    for n, w, s, e in fields(buf, start, stop):
        if n == 1 and w == 2:
            name = as_text(buf, s, e)[:_MAX_NAME_CHARS]
        elif n == 2 and w == 2:
            version = as_text(buf, s, e)[:_MAX_NAME_CHARS]
    return name, version


def _event(buf: bytes, start: int, stop: int) -> dict[str, Any]:
    event: dict[str, Any] = {"name": "", "time_unix_nano": 0, "attributes": {}}
    attrs: dict[str, Any] = {}
    for n, w, s, e in fields(buf, start, stop):
        if n == 1 and w == 1:
            event["time_unix_nano"] = s if s <= _INT64_MAX else 0
        elif n == 2 and w == 2:
            event["name"] = as_text(buf, s, e)[:_MAX_NAME_CHARS]
        elif n == 3 and w == 2:
            key, value = key_value(buf, s, e)
            attrs[key] = value
    event["attributes"] = attrs
    return event


def _link(buf: bytes, start: int, stop: int) -> dict[str, Any]:
    link: dict[str, Any] = {"trace_id": "", "span_id": "", "attributes": {}}
    attrs: dict[str, Any] = {}
    for n, w, s, e in fields(buf, start, stop):
        if n == 1 and w == 2:
            link["trace_id"] = buf[s:e].hex()
        elif n == 2 and w == 2:
            link["span_id"] = buf[s:e].hex()
        elif n == 4 and w == 2:
            key, value = key_value(buf, s, e)
            attrs[key] = value
    link["attributes"] = attrs
    return link


_COMMON_STATUS = {b"": ("UNSET", None), b"\x18\x00": ("UNSET", None), b"\x18\x01": ("OK", None),
                  b"\x18\x02": ("ERROR", None)}


def _status(buf: bytes, start: int, stop: int) -> tuple[str, str | None]:
    common = _COMMON_STATUS.get(buf[start:stop]) if stop - start <= 2 else None
    if common is not None:
        return common
    code = 0
    message = None
    for n, w, s, e in fields(buf, start, stop):
        if n == 3 and w == 0:
            code = s
        elif n == 2 and w == 2:
            message = as_text(buf, s, e)[:_MAX_NAME_CHARS] or None
    return (_STATUS[code] if 0 <= code < 3 else "UNSET"), message


def _span(out: Decoded, buf: bytes, start: int, stop: int, service: str | None, resource_json: str,
          scope: tuple[str | None, str | None], cached: bool) -> None:
    # Hot loop: the field walk is inlined (no generator) because it runs ~30 times per span.
    trace_id = span_id = parent = b""
    name = ""
    kind = 0
    t0 = t1 = 0
    members: list[str] = []
    keys: list[str] = []
    tags: list[str] = []
    slots, prios = new_slots()
    events: list[tuple[int, int]] = []
    links: list[tuple[int, int]] = []
    status: tuple[str, str | None] = ("UNSET", None)
    get = _cache.get if cached else decode_pair
    entries = _cache.entries if cached else {}
    chains = _chains if cached else {}
    field_start = 0
    max_pair = _cache.MAX_PAIR_BYTES
    pos = start
    while pos < stop:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = read_varint(buf, pos, stop)
        wire_type = tag & 7
        number = tag >> 3
        if wire_type == 2:
            length = buf[pos] if pos < stop else 0x80
            if length < 0x80:
                pos += 1
            else:
                length, pos = read_varint(buf, pos, stop)
            s = pos
            pos += length
            if pos > stop:
                raise WireError("length-delimited field runs past the end of its message")
            if number == 9:
                # Attributes come as a run of consecutive field-9 entries: walk the run here.
                # Runs of pairs already seen are learnt as "chains" (raw bytes → decoded entries)
                # keyed by the pair before them, so a repeated stretch is matched with a single
                # bytes comparison instead of pair by pair.
                head = None  # raw bytes of the pair a chain is being learnt after
                learn_from = 0
                learnt: list[Pair] = []
                while True:
                    raw = buf[s:pos] if pos - s <= max_pair else None
                    entry = entries.get(raw) if raw is not None else None
                    hit = entry is not None
                    if entry is None:
                        entry = get(buf, s, pos)
                    keys.append(entry[0])
                    members.append(entry[2])
                    if entry[3] is not None:
                        tags.append(entry[3])
                    for slot, priority, value in entry[4]:
                        if priority < prios[slot]:
                            slots[slot] = value
                            prios[slot] = priority
                    if hit and head is None:
                        chain = chains.get(raw)
                        if chain is not None and buf.startswith(chain[0], pos, stop):
                            keys.extend(chain[1])
                            members.extend(chain[2])
                            tags.extend(chain[3])
                            for slot, priority, value in chain[4]:
                                if priority < prios[slot]:
                                    slots[slot] = value
                                    prios[slot] = priority
                            pos += len(chain[0])
                        else:
                            head, learn_from, learnt = raw, pos, []
                    elif hit:
                        learnt.append(entry)
                    elif head is not None:
                        _learn(head, buf[learn_from:field_start], learnt)
                        head = None
                    if pos >= stop or buf[pos] != 0x4A:
                        break
                    field_start = pos
                    length = buf[pos + 1] if pos + 1 < stop else 0x80
                    if length < 0x80:
                        s = pos + 2
                    else:
                        length, s = read_varint(buf, pos + 1, stop)
                    pos = s + length
                    if pos > stop:
                        raise WireError("length-delimited field runs past the end of its message")
                if head is not None:
                    _learn(head, buf[learn_from:pos], learnt)
            elif number == 1:
                trace_id = buf[s:pos]
            elif number == 2:
                span_id = buf[s:pos]
            elif number == 4:
                parent = buf[s:pos]
            elif number == 5:
                name = as_text(buf, s, pos)[:_MAX_NAME_CHARS]
            elif number == 11:
                events.append((s, pos))
            elif number == 13:
                links.append((s, pos))
            elif number == 15:
                status = _status(buf, s, pos)
        elif wire_type == 1:
            if pos + 8 > stop:
                raise WireError("truncated fixed64")
            if number == 7:
                t0 = _U64(buf, pos)[0]
            elif number == 8:
                t1 = _U64(buf, pos)[0]
            pos += 8
        elif wire_type == 0:
            value, pos = read_varint(buf, pos, stop)
            if number == 6:
                kind = value
        elif wire_type == 5:
            pos += 4
            if pos > stop:
                raise WireError("truncated fixed32")
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if number == 0:
            raise WireError("field number 0")
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        out.reject("invalid trace_id: must be 16 bytes, not all zero")
        return
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        out.reject("invalid span_id: must be 8 bytes, not all zero")
        return
    if not members:
        attributes = "{}"
    elif len(set(keys)) == len(keys):
        attributes = "{" + ",".join(members) + "}"
    else:  # a repeated key: the last value wins, as in the SDKs
        attributes = object_json([get(buf, s, e) for s, e in _ranges(buf, start, stop, 9)])
    ts = t0 // 1000 if 0 < t0 <= _INT64_MAX else None
    end_ts = t1 // 1000 if 0 < t1 <= _INT64_MAX else None
    tid = trace_id.hex()
    sid = span_id.hex()
    pid = parent.hex() if len(parent) == 8 and parent != _ZERO_SPAN else None
    duration = (t1 - t0) / 1e6 if ts is not None and end_ts is not None else None
    out.rows.append((
        tid, sid, pid, name, _KINDS[kind] if 0 <= kind < 6 else "UNSPECIFIED", ts, end_ts, duration,
        status[0], status[1], service, scope[0], scope[1], attributes, resource_json,
        to_json([_event(buf, s, e) for s, e in events]) if events else None,
        to_json([_link(buf, s, e) for s, e in links]) if links else None,
    ))
    if finish_row(slots, status[0] == "ERROR") is not None:
        row = slots[:_N_LLM]
        row[_TS_I] = ts
        row[_TRACE_I] = tid
        row[_SPAN_I] = sid
        row[_PARENT_I] = pid
        row[_SERVICE_I] = service
        row[_DURATION_I] = duration
        row[_TAGS_I] = "{" + ",".join(tags) + "}" if tags else None
        out.llm.append(row)


def _ranges(buf: bytes, start: int, stop: int, wanted: int) -> list[tuple[int, int]]:
    return [(s, e) for n, w, s, e in fields(buf, start, stop) if n == wanted and w == 2]


def decode_traces(data: bytes, *, cached: bool = True) -> Decoded:
    """Decode a serialized ExportTraceServiceRequest. Raises DecodeError on malformed input."""
    buf = bytes(data)
    out = Decoded()
    try:
        for n, w, s, e in fields(buf, 0, len(buf)):
            if n != 1 or w != 2:
                continue
            service: str | None = None
            resource_json = "{}"
            scope_ranges = []
            for n2, w2, s2, e2 in fields(buf, s, e):
                if w2 != 2:
                    continue
                if n2 == 1:
                    service, resource_json = _resource(buf, s2, e2)
                elif n2 == 2:
                    scope_ranges.append((s2, e2))
            for s2, e2 in scope_ranges:
                scope: tuple[str | None, str | None] = (None, None)
                span_ranges = []
                for n3, w3, s3, e3 in fields(buf, s2, e2):
                    if w3 != 2:
                        continue
                    if n3 == 1:
                        scope = _scope(buf, s3, e3)
                    elif n3 == 2:
                        span_ranges.append((s3, e3))
                for s3, e3 in span_ranges:
                    _span(out, buf, s3, e3, service, resource_json, scope, cached)
    except WireError as exc:
        raise DecodeError(f"malformed protobuf: {exc}") from None
    except RecursionError:
        raise DecodeError("malformed protobuf: nesting too deep") from None
    return out


__all__ = ["LLM_SCHEMA", "SPANS_SCHEMA", "SPAN_COLUMNS", "DecodeError", "Decoded", "decode_traces"]
