"""No input crashes the collector: random bytes, truncated or mutated protobuf, hostile values."""

from __future__ import annotations

import json
import math

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from tokentrail.collector.decode import DecodeError, decode_traces
from tokentrail.collector.store import Store
from tokentrail.collector.values import DEPTH_MARK, MAX_DEPTH, MAX_STRING_CHARS

from tests.collector.conftest import http
from tests.collector.test_http_protocol import PB, make_request
from tokentrail.schema import ensure_schema

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def store() -> Store:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    con.execute("SELECT 1").fetchall()
    return Store(con)


def _decode_and_store(data: bytes, store: Store) -> None:
    """The property: DecodeError, or rows that DuckDB accepts, with valid JSON in every JSON column
    (they reach DuckDB as Arrow's JSON type, which it does not re-validate)."""
    try:
        decoded = decode_traces(data)
    except DecodeError:
        return
    spans, llm = decoded.tables()
    store.write([(spans, llm)])
    for table, names in ((spans, ("attributes", "resource", "events", "links")), (llm, ("tags",))):
        for name in names:
            for text in table.column(name).to_pylist():
                if text is not None:
                    json.loads(text)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(store, data: bytes) -> None:
    _decode_and_store(data, store)


VALID = make_request(4).SerializeToString()


@FUZZ
@given(st.integers(0, len(VALID)), st.binary(max_size=8), st.integers(0, len(VALID)))
def test_truncated_and_mutated_protobuf(store, cut: int, noise: bytes, at: int) -> None:
    _decode_and_store(VALID[:cut], store)
    _decode_and_store(VALID[:at] + noise + VALID[at + len(noise):], store)


def _array(values: list[AnyValue]) -> AnyValue:
    v = AnyValue()
    v.array_value.values.extend(values)
    return v


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    v = AnyValue()
    for key, value in pairs:
        kv = v.kvlist_value.values.add()
        kv.key = key
        kv.value.CopyFrom(value)
    return v


any_values = st.recursive(
    st.one_of(
        st.text(max_size=50).map(lambda s: AnyValue(string_value=s)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: AnyValue(double_value=f)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.binary(max_size=20).map(lambda b: AnyValue(bytes_value=b)),
        st.just(AnyValue()),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_array),
        st.lists(st.tuples(st.text(max_size=10), children), max_size=4).map(_kvlist),
    ),
    max_leaves=20,
)


KEYS = st.sampled_from(["gen_ai.usage.input_tokens", "gen_ai.request.model", "gen_ai.operation.name",
                        "gen_ai.request.stream", "http.response.status_code", "tokentrail.tag.x",
                        "gen_ai.response.finish_reasons", "gen_ai.response.time_to_first_chunk", "free"]) | st.text(max_size=20)


@FUZZ
@given(st.lists(st.tuples(KEYS, any_values), max_size=12), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.integers(0, 2**31 - 1), st.text(max_size=30))
def test_hostile_attribute_values(store, attrs, start, end, kind, name) -> None:
    req = make_request(1)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.start_time_unix_nano, span.end_time_unix_nano, span.kind, span.name = start, end, kind, name
    for key, value in attrs:
        kv = span.attributes.add()
        kv.key = key
        kv.value.CopyFrom(value)
    _decode_and_store(req.SerializeToString(), store)


def _nested_kvlist(depth: int) -> bytes:
    """An AnyValue nested `depth` kvlists deep, encoded by hand (the generated parser would refuse)."""
    value = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(depth):
        kv = b"\x0a\x01k" + b"\x12" + _varint(len(value)) + value  # KeyValue{key:"k", value}
        kvlist = b"\x0a" + _varint(len(kv)) + kv  # KeyValueList{values: [kv]}
        value = b"\x32" + _varint(len(kvlist)) + kvlist  # AnyValue{kvlist_value}
    return value


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _with_attribute(value_bytes: bytes, key: str = "deep") -> bytes:
    kv = b"\x0a" + _varint(len(key)) + key.encode() + b"\x12" + _varint(len(value_bytes)) + value_bytes
    return with_span_bytes(b"\x4a" + _varint(len(kv)) + kv)


def with_span_bytes(extra: bytes) -> bytes:
    """A one-span request whose span (without attributes) ends with `extra`, raw bytes."""
    req = make_request(1)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    del span.attributes[:]
    parsed = ExportTraceServiceRequest.FromString(req.SerializeToString())
    span_bytes = parsed.resource_spans[0].scope_spans[0].spans[0].SerializeToString() + extra
    scope = parsed.resource_spans[0].scope_spans[0]
    del scope.spans[:]
    scope_bytes = scope.SerializeToString() + b"\x12" + _varint(len(span_bytes)) + span_bytes
    rs = parsed.resource_spans[0]
    del rs.scope_spans[:]
    rs_bytes = rs.SerializeToString() + b"\x12" + _varint(len(scope_bytes)) + scope_bytes
    return b"\x0a" + _varint(len(rs_bytes)) + rs_bytes


def test_deep_nesting_is_cut_at_max_depth(store) -> None:
    data = _with_attribute(_nested_kvlist(5000))
    decoded = decode_traces(data)
    value = json.loads(decoded.spans["attributes"][0])["deep"]
    depth = 0
    while isinstance(value, dict):
        value = value["k"]
        depth += 1
    assert depth == MAX_DEPTH and value == DEPTH_MARK
    _decode_and_store(data, store)


def test_huge_string_is_truncated(store) -> None:
    huge = AnyValue(string_value="x" * (5 * MAX_STRING_CHARS)).SerializeToString()
    decoded = decode_traces(_with_attribute(huge, "gen_ai.request.model"))
    model = json.loads(decoded.spans["attributes"][0])["gen_ai.request.model"]
    assert model.startswith("x" * MAX_STRING_CHARS) and len(model) < MAX_STRING_CHARS + 20
    _decode_and_store(_with_attribute(huge), store)


def test_nan_and_infinity_become_null() -> None:
    for f in (math.nan, math.inf, -math.inf):
        decoded = decode_traces(_with_attribute(AnyValue(double_value=f).SerializeToString()))
        assert json.loads(decoded.spans["attributes"][0])["deep"] is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=512), st.sampled_from(["application/x-protobuf", "application/json"]))
def test_server_survives_random_bodies(collector, body: bytes, content_type: str) -> None:
    resp = http("POST", collector.http_url + "/v1/traces", body, {"Content-Type": content_type})
    assert resp.status in (200, 400)
    assert http("GET", collector.http_url + "/healthz").status == 200


def test_server_survives_truncated_and_lying_requests(collector) -> None:
    import socket

    host, port = "127.0.0.1", collector.http_port
    for raw in (b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\nabc",
                b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: -5\r\n\r\n",
                b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"GARBAGE\r\n\r\n", b"\x00\xff" * 100):
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)
            except OSError:
                pass
    assert http("POST", collector.http_url + "/v1/traces", PB and make_request(2).SerializeToString(), PB).status == 200


@FUZZ
@given(KEYS, any_values)
def test_fast_pair_path_matches_general_decoder(key: str, value: AnyValue) -> None:
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from tokentrail.collector.values import _dumps, decode_pair, key_value

    raw = KeyValue(key=key, value=value).SerializeToString()
    k, v, member, _, _ = decode_pair(raw, 0, len(raw))
    assert (k, v) == key_value(raw, 0, len(raw))
    assert member == _dumps(k) + ":" + _dumps(v)


def test_chain_cache_gives_the_same_rows_as_no_cache() -> None:
    """Repeated attribute runs are matched as learnt chains; rows must equal an uncached decode,
    including when a run diverges part-way from what was learnt."""
    import random

    rng = random.Random(7)
    for _ in range(30):
        req = make_request(20)
        for span in req.resource_spans[0].scope_spans[0].spans:
            for _ in range(rng.randint(0, 8)):
                kv = span.attributes.add()
                kv.key = f"k{rng.randint(0, 5)}"
                kv.value.int_value = rng.choice((1, 2, 3, rng.randint(0, 1 << 40)))
            kv = span.attributes.add()
            kv.key, kv.value.string_value = "tokentrail.tag.t", rng.choice(("a", "b"))
        data = req.SerializeToString()
        plain = decode_traces(data, cached=False)
        for _ in range(2):
            cached = decode_traces(data)
            assert cached.rows == plain.rows and cached.llm == plain.llm


@FUZZ
@given(st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8),
                          st.binary(max_size=9), st.text(max_size=200), st.integers(0, 7), st.text(max_size=3),
                          st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), min_size=1, max_size=6))
def test_span_header_matches_the_generated_parser(spans) -> None:
    """The decoder reads the usual span header (ids, parent, name, kind, times) with a fixed-layout
    shortcut; whatever fields are present or missing, the row must say what protobuf says."""
    req = make_request(0)
    for trace_id, span_id, parent, name, kind, trace_state, start, end in spans:
        s = req.resource_spans[0].scope_spans[0].spans.add()
        s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind = trace_id, span_id, parent, name, kind
        s.trace_state, s.start_time_unix_nano, s.end_time_unix_nano = trace_state, start, end
    data = req.SerializeToString()
    decoded = decode_traces(data)
    expected = [s for s in ExportTraceServiceRequest.FromString(data).resource_spans[0].scope_spans[0].spans
                if any(s.trace_id) and any(s.span_id)]
    assert decoded.span_count == len(expected)
    kinds = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
    for row, s in zip(decoded.rows, expected, strict=True):
        t0, t1 = s.start_time_unix_nano, s.end_time_unix_nano
        ok0, ok1 = 0 < t0 < 2**63, 0 < t1 < 2**63
        assert row[:8] == (
            s.trace_id.hex(), s.span_id.hex(),
            s.parent_span_id.hex() if len(s.parent_span_id) == 8 and any(s.parent_span_id) else None,
            s.name, kinds[s.kind] if s.kind < 6 else "UNSPECIFIED",
            t0 // 1000 if ok0 else None, t1 // 1000 if ok1 else None,
            (t1 - t0) / 1e6 if ok0 and ok1 else None,
        )
