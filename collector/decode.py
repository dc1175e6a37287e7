"""OTLP ExportTraceServiceRequest bytes → columnar batches for `spans` and `llm_calls_raw`.

One decoder serves every entry point (HTTP protobuf, HTTP JSON after conversion, gRPC, the
embedded exporter), so a span lands in the same rows however it arrived. Spans with invalid ids
are rejected individually and reported through OTLP `partial_success`; a malformed message
rejects the whole request (`DecodeError` → HTTP 400 / gRPC INVALID_ARGUMENT).

The install compiles this module with Cython (collector/compiled.py; C types in decode.pxd), so
what the compiled build keeps in C integers is written to stay in range: varints are 64-bit
(wire.read_varint) and a length is checked against what is left before it is added to a position.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from tokentrail.collector.normalise import SLOTS, finish_row
from tokentrail.collector.values import KeyValueCache, Pair, decode_pair, key_value, object_json, to_json
from tokentrail.collector.wire import WireError, as_text, fields, read_varint

from tokentrail.columns import STORED_COLUMNS

_U64 = struct.Struct("<Q").unpack_from
# The span header as SDKs write it (fields in number order): trace_id (1), span_id (2), and after
# the optional parent (4) and name (5): kind (6), start (7) and end (8) time. Read with one struct
# call each instead of a loop turn per field; anything else takes the general field loop.
_IDS = struct.Struct("<BB16sBB8s").unpack_from  # 0x0A 16 trace_id 0x12 8 span_id
_TIMES = struct.Struct("<BBBQBQ").unpack_from  # 0x30 kind 0x39 start 0x41 end
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
# JSON text columns are sent as Arrow's JSON extension type, which DuckDB takes as JSON without
# re-parsing every value (a VARCHAR → JSON cast validates each one: ~2 µs per span here). The
# decoder only ever produces valid JSON (values.py; the fuzz tests check every JSON column).
_JSON = pa.json_()
SPANS_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()), ("span_id", pa.string()), ("parent_span_id", pa.string()),
        ("name", pa.string()), ("kind", pa.string()), ("ts", _TS), ("end_ts", _TS),
        ("duration_ms", pa.float64()), ("status_code", pa.string()), ("status_message", pa.string()),
        ("service", pa.string()), ("scope_name", pa.string()), ("scope_version", pa.string()),
        ("attributes", _JSON), ("resource", _JSON), ("events", _JSON), ("links", _JSON),
    ]
)
_ARROW_TYPES = {
    "TIMESTAMP": _TS, "VARCHAR": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_(), "JSON": _JSON,
}
LLM_SCHEMA = pa.schema([(c.name, _ARROW_TYPES[c.sql_type]) for c in STORED_COLUMNS])
_N_LLM = len(STORED_COLUMNS)
_N_SLOTS = len(SLOTS)
_N_SPAN = len(SPAN_COLUMNS)
_NO_PRIO = 1 << 30
_FRESH_SLOTS: list[Any] = [None] * _N_SLOTS  # shared, never written: a span copies before its first write
_FRESH_PRIOS: list[int] = [_NO_PRIO] * _N_SLOTS
_UNSET: tuple[str, str | None] = ("UNSET", None)


def _known_tails() -> dict[bytes, tuple[str, str | None]]:
    """Span endings as SDKs write them after the attributes: a status without message (field 15),
    then optionally the W3C flags (field 16, fixed32). Matching the whole tail as one bytes key
    saves two turns of the field loop per span; any other ending takes the loop."""
    statuses = {b"\x7a\x00": _UNSET, b"\x7a\x02\x18\x00": _UNSET,
                b"\x7a\x02\x18\x01": ("OK", None), b"\x7a\x02\x18\x02": ("ERROR", None)}
    flags = [b""] + [b"\x85\x01" + struct.pack("<I", f) for f in (0, 1, 0x100, 0x101, 0x200, 0x201, 0x300, 0x301)]
    return {st + fl: status for st, status in statuses.items() for fl in flags}


_TAILS = _known_tails()


class DecodeError(ValueError):
    """The request body is not a valid OTLP trace export."""


@dataclass
class Decoded:
    """Columns of one request, plus what was rejected and why.

    Rows are kept flat (one list, row after row) because `flat[i::width]` cuts a column out in C,
    where transposing per-row tuples with `zip(*rows)` cost ~1.5 µs per span.
    """

    span_flat: list[Any] = field(default_factory=list)  # SPAN_COLUMNS values, row after row
    llm_flat: list[Any] = field(default_factory=list)  # SLOTS values (stored columns first), row after row
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def span_count(self) -> int:
        return len(self.span_flat) // _N_SPAN

    @property
    def llm_count(self) -> int:
        return len(self.llm_flat) // _N_SLOTS

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """One tuple per span, SPAN_COLUMNS order (for inspection and tests)."""
        f = self.span_flat
        return [tuple(f[i : i + _N_SPAN]) for i in range(0, len(f), _N_SPAN)]

    @property
    def llm(self) -> list[list[Any]]:
        """One list per LLM call, STORED_COLUMNS order (for inspection and tests)."""
        f = self.llm_flat
        return [f[i : i + _N_LLM] for i in range(0, len(f), _N_SLOTS)]

    @property
    def spans(self) -> dict[str, list[Any]]:
        """The span rows by column (for inspection; `tables` is the fast path)."""
        return {name: self.span_flat[i::_N_SPAN] for i, name in enumerate(SPAN_COLUMNS)}

    def reject(self, why: str) -> None:
        self.rejected += 1
        if len(self.errors) < 5 and why not in self.errors:
            self.errors.append(why)

    def tables(self) -> tuple[pa.Table, pa.Table]:
        """Arrow tables for `spans` and `llm_calls_raw`; timestamps are µs since the epoch, UTC."""
        f = self.span_flat
        spans = pa.Table.from_arrays(
            [pa.array(f[i::_N_SPAN], type=t) for i, t in enumerate(SPANS_SCHEMA.types)], schema=SPANS_SCHEMA
        )
        f = self.llm_flat
        llm = pa.Table.from_arrays(
            [pa.array(f[i::_N_SLOTS], type=t) for i, t in enumerate(LLM_SCHEMA.types)], schema=LLM_SCHEMA
        )
        return spans, llm


_cache = KeyValueCache()


class _Chain:
    """A run of attribute pairs seen after a given pair (the head), learnt so that the next time
    the same bytes follow that head, the whole run is taken with one `startswith`.

    Learning only keeps the raw bytes and the decoded pairs; the combined form (keys, joined JSON
    text, slot assignments reduced to the winner per slot, and the slot state for a span whose
    attributes start with head + run) is built the first time the chain matches again, so runs
    that never repeat (the pairs after a unique value) cost almost nothing to learn.
    """

    __slots__ = ("raw", "head", "pairs", "keyset", "nkeys", "text", "tags", "assigns", "slots", "prios")

    def __init__(self, raw: bytes, head: Pair, pairs: tuple[Pair, ...]) -> None:
        self.raw = raw
        self.head = head
        self.pairs = pairs
        self.slots: list[Any] | None = None  # None: not combined yet

    def combine(self) -> None:
        pairs = (self.head, *self.pairs)
        self.keyset = frozenset(p[0] for p in pairs)
        self.nkeys = len(pairs)
        self.text = ",".join(p[2] for p in pairs)
        self.tags = tuple(p[3] for p in pairs if p[3] is not None)
        best: dict[int, tuple[int, int, Any]] = {}
        for p in self.pairs:
            for a in p[4]:
                if a[0] not in best or a[1] < best[a[0]][1]:
                    best[a[0]] = a
        self.assigns = tuple(best.values())
        slots = [None] * _N_SLOTS
        prios = [_NO_PRIO] * _N_SLOTS
        for slot, priority, value in (*self.head[4], *self.assigns):
            if priority < prios[slot]:
                slots[slot] = value
                prios[slot] = priority
        self.prios = prios
        self.slots = slots


_chains: dict[bytes, _Chain] = {}
_MAX_CHAINS = 4_000


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


def _span(span_flat: list[Any], llm_flat: list[Any], buf: bytes, start: int, stop: int, service: str | None,
          resource_json: str, scope: tuple[str | None, str | None], cached: bool) -> str | None:
    """Append one span's row (and its LLM row, if it is an LLM call); return why it was rejected, if it was."""
    # Hot loop: the field walk is inlined (no generator, no per-field calls) because it runs for
    # every field of every span; see docs/collector.md for the measurements behind each shortcut.
    trace_id = span_id = parent = b""
    name = ""
    kind = 0
    t0 = t1 = 0
    members: list[str] = []
    keys: list[str] = []  # keys of pairs taken one by one
    keysets: list[frozenset[str]] = []  # keys of chains taken whole
    chained = 0  # how many keys those chains hold
    tags: list[str] = []
    slots: list[Any] = _FRESH_SLOTS
    prios: list[int] = _FRESH_PRIOS
    fresh = True  # slots/prios are still the shared initial lists (copied on first write)
    events: list[tuple[int, int]] = []
    links: list[tuple[int, int]] = []
    status: tuple[str, str | None] = _UNSET
    entries = _cache.entries if cached else {}
    chains = _chains if cached else {}
    max_pair = _cache.MAX_PAIR_BYTES
    pos = start
    if stop - start >= 28:
        h = _IDS(buf, start)
        if h[0] == 0x0A and h[1] == 0x10 and h[3] == 0x12 and h[4] == 0x08:
            trace_id = h[2]
            span_id = h[5]
            pos += 28
            if buf.startswith(b"\x22\x08", pos) and pos + 10 <= stop:
                parent = buf[pos + 2 : pos + 10]
                pos += 10
            if pos + 2 <= stop and buf[pos] == 0x2A and buf[pos + 1] < 0x80 and pos + 2 + buf[pos + 1] <= stop:
                name = buf[pos + 2 : pos + 2 + buf[pos + 1]].decode("utf-8", "replace")  # < 128 chars
                pos += 2 + buf[pos + 1]
            if pos + 20 <= stop:
                h = _TIMES(buf, pos)
                if h[0] == 0x30 and h[1] < 0x80 and h[2] == 0x39 and h[4] == 0x41:
                    kind = h[1]
                    t0 = h[3]
                    t1 = h[5]
                    pos += 20
    while pos < stop:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        elif pos + 1 < stop and buf[pos + 1] < 0x80:
            tag = (tag & 0x7F) | (buf[pos + 1] << 7)
            pos += 2
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
            if length > stop - pos:  # compared before adding: in the compiled build pos is a C integer
                raise WireError("length-delimited field runs past the end of its message")
            s = pos
            pos += length
            if number == 9:
                # Attributes come as a run of consecutive field-9 entries: walk the run here. Each
                # pair is looked up by its raw bytes; a known pair may head a learnt chain (see
                # _Chain), so a repeated stretch is taken with one bytes comparison.
                head: Pair | None = None  # the pair a chain is being learnt after
                head_raw = b""
                learn_from = field_start = 0
                learnt: list[Pair] = []
                while True:
                    raw = buf[s:pos] if pos - s <= max_pair else None
                    entry = entries.get(raw)
                    if entry is None:
                        entry = decode_pair(buf, s, pos)
                        if cached and raw is not None:
                            if len(entries) >= _cache.MAX_ENTRIES:
                                entries.clear()
                            entries[raw] = entry
                        if head is not None:
                            if len(learnt) > 1:
                                if len(chains) >= _MAX_CHAINS:
                                    chains.clear()
                                chains[head_raw] = _Chain(buf[learn_from:field_start], head, tuple(learnt))
                            head = None
                    elif head is None:
                        chain = chains.get(raw)
                        if chain is not None and buf.startswith(chain.raw, pos, stop):
                            if chain.slots is None:
                                chain.combine()
                            if fresh:  # the span's attributes start with this chain: take its slots
                                slots = chain.slots.copy()
                                prios = chain.prios.copy()
                                fresh = False
                            else:
                                for slot, priority, value in (*entry[4], *chain.assigns):
                                    if priority < prios[slot]:
                                        slots[slot] = value
                                        prios[slot] = priority
                            keysets.append(chain.keyset)
                            chained += chain.nkeys
                            members.append(chain.text)
                            if chain.tags:
                                tags.extend(chain.tags)
                            pos += len(chain.raw)
                            entry = None
                        else:
                            head, head_raw, learn_from, learnt = entry, raw, pos, []
                    else:
                        learnt.append(entry)
                    if entry is not None:
                        keys.append(entry[0])
                        members.append(entry[2])
                        if entry[3] is not None:
                            tags.append(entry[3])
                        if entry[4]:
                            if fresh:
                                slots = slots.copy()
                                prios = prios.copy()
                                fresh = False
                            for slot, priority, value in entry[4]:
                                if priority < prios[slot]:
                                    slots[slot] = value
                                    prios[slot] = priority
                    if pos >= stop or buf[pos] != 0x4A:
                        break
                    field_start = pos
                    length = buf[pos + 1] if pos + 1 < stop else 0x80
                    if length < 0x80:
                        s = pos + 2
                    else:
                        length, s = read_varint(buf, pos + 1, stop)
                    if length > stop - s:
                        raise WireError("length-delimited field runs past the end of its message")
                    pos = s + length
                if head is not None and len(learnt) > 1:
                    if len(chains) >= _MAX_CHAINS:
                        chains.clear()
                    chains[head_raw] = _Chain(buf[learn_from:pos], head, tuple(learnt))
                if stop - pos <= 10:
                    tail = _TAILS.get(buf[pos:stop])
                    if tail is not None:
                        status = tail
                        pos = stop
            elif number == 1:
                trace_id = buf[s:pos]
            elif number == 2:
                span_id = buf[s:pos]
            elif number == 5:
                name = buf[s:pos].decode("utf-8", "replace")
                if len(name) > _MAX_NAME_CHARS:
                    name = name[:_MAX_NAME_CHARS]
            elif number == 15:
                status = _COMMON_STATUS.get(buf[s:pos]) or _status(buf, s, pos)
            elif number == 4:
                parent = buf[s:pos]
            elif number == 11:
                events.append((s, pos))
            elif number == 13:
                links.append((s, pos))
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
        return "invalid trace_id: must be 16 bytes, not all zero"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "invalid span_id: must be 8 bytes, not all zero"
    if not members:
        attributes = "{}"
    else:
        if keysets:
            seen = set(keysets[0])
            for more in keysets[1:]:
                seen |= more
            seen.update(keys)
            unique = len(seen) == len(keys) + chained
        else:
            unique = len(set(keys)) == len(keys)
        if unique:
            attributes = "{" + ",".join(members) + "}"
        else:  # a repeated key: the last value wins, as in the SDKs
            attributes = object_json([decode_pair(buf, s, e) for s, e in _ranges(buf, start, stop, 9)])
    ts = t0 // 1000 if 0 < t0 <= _INT64_MAX else None
    end_ts = t1 // 1000 if 0 < t1 <= _INT64_MAX else None
    tid = trace_id.hex()
    sid = span_id.hex()
    pid = parent.hex() if len(parent) == 8 and parent != _ZERO_SPAN else None
    duration = (t1 - t0) / 1e6 if ts is not None and end_ts is not None else None
    span_flat.extend((
        tid, sid, pid, name, _KINDS[kind] if 0 <= kind < 6 else "UNSPECIFIED", ts, end_ts, duration,
        status[0], status[1], service, scope[0], scope[1], attributes, resource_json,
        to_json([_event(buf, s, e) for s, e in events]) if events else None,
        to_json([_link(buf, s, e) for s, e in links]) if links else None,
    ))
    if not fresh and finish_row(slots, status[0] == "ERROR") is not None:
        slots[_TS_I] = ts
        slots[_TRACE_I] = tid
        slots[_SPAN_I] = sid
        slots[_PARENT_I] = pid
        slots[_SERVICE_I] = service
        slots[_DURATION_I] = duration
        slots[_TAGS_I] = "{" + ",".join(tags) + "}" if tags else None
        llm_flat.extend(slots)
    return None


def _ranges(buf: bytes, start: int, stop: int, wanted: int) -> list[tuple[int, int]]:
    return [(s, e) for n, w, s, e in fields(buf, start, stop) if n == wanted and w == 2]


def _scope_spans(buf: bytes, start: int, stop: int) -> tuple[tuple[str | None, str | None], list[tuple[int, int]]]:
    """The scope (name, version) and the byte range of each span of one ScopeSpans message.

    The common case, a span field (tag 0x12) with a length under 2**14, is read inline: this
    loop runs once per span.
    """
    scope: tuple[str | None, str | None] = (None, None)
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < stop:
        if buf[pos] == 0x12 and pos + 2 < stop and buf[pos + 2] < 0x80:
            length = buf[pos + 1]
            if length < 0x80:
                s = pos + 2
            else:
                length = (length & 0x7F) | (buf[pos + 2] << 7)
                s = pos + 3
            if length > stop - s:
                raise WireError("length-delimited field runs past the end of its message")
            pos = s + length
            spans.append((s, pos))
            continue
        key, pos = read_varint(buf, pos, stop)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == 2:
            length, s = read_varint(buf, pos, stop)
            if length > stop - s:
                raise WireError("length-delimited field runs past the end of its message")
            pos = s + length
            if number == 1:
                scope = _scope(buf, s, pos)
            elif number == 2:
                spans.append((s, pos))
        elif wire_type == 0:
            _, pos = read_varint(buf, pos, stop)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > stop:
            raise WireError("truncated field")
    return scope, spans


def decode_traces(data: bytes, *, cached: bool = True) -> Decoded:
    """Decode a serialized ExportTraceServiceRequest. Raises DecodeError on malformed input."""
    buf = bytes(data)
    out = Decoded()
    span_flat, llm_flat = out.span_flat, out.llm_flat
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
                scope, span_ranges = _scope_spans(buf, s2, e2)
                for s3, e3 in span_ranges:
                    why = _span(span_flat, llm_flat, buf, s3, e3, service, resource_json, scope, cached)
                    if why is not None:
                        out.reject(why)
    except WireError as exc:
        raise DecodeError(f"malformed protobuf: {exc}") from None
    except RecursionError:
        raise DecodeError("malformed protobuf: nesting too deep") from None
    return out


__all__ = ["LLM_SCHEMA", "SPANS_SCHEMA", "SPAN_COLUMNS", "DecodeError", "Decoded", "decode_traces"]
