"""The compiled decoder is the one in use, is built from the current sources, and gives exactly the
rows (and errors) of the same modules run as plain Python (collector/compiled.py)."""

from __future__ import annotations

import importlib
import importlib.machinery
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokentrail.collector import compiled
from tokentrail.collector import decode as compiled_decode

from tests.collector.conftest import http
from tests.collector.test_fuzz import (
    KEYS,
    VALID,
    _nested_kvlist,
    _varint,
    _with_attribute,
    any_values,
    with_span_bytes,
)
from tests.collector.test_http_protocol import make_request

SAME = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def plain() -> ModuleType:
    return compiled.plain_python("decode")


def _outcome(module: ModuleType, data: bytes, cached: bool = True) -> tuple[Any, ...]:
    try:
        out = module.decode_traces(data, cached=cached)
    except module.DecodeError as exc:
        return ("DecodeError", str(exc))
    return out.span_flat, out.llm_flat, out.rejected, out.errors


def _same(plain: ModuleType, data: bytes) -> None:
    for cached in (True, False):
        assert _outcome(compiled_decode, data, cached) == _outcome(plain, data, cached)


def test_every_decoder_module_is_compiled_from_its_current_sources() -> None:
    here = Path(compiled.__file__).parent
    for name in compiled.MODULES:
        assert compiled.is_compiled(name), f"tokentrail.collector.{name} runs as plain Python: run make"
        built = Path(importlib.import_module(f"tokentrail.collector.{name}").__file__).stat().st_mtime
        for source in (here / f"{name}.py", here / f"{name}.pxd"):
            if source.exists():
                assert built >= source.stat().st_mtime, f"the build of {name} is older than {source.name}: run make"


def test_the_plain_python_modules_are_loaded_beside_the_compiled_ones(plain) -> None:
    assert plain.__file__.endswith("decode.py") and plain is not compiled_decode
    assert plain.decode_pair.__module__ == "tokentrail.collector.values"
    assert not isinstance(plain.__spec__.loader, importlib.machinery.ExtensionFileLoader)
    assert compiled.all_compiled()  # the import left the compiled modules in place
    assert importlib.import_module("tokentrail.collector.decode") is compiled_decode


def test_same_rows_for_requests_with_varied_attributes(plain) -> None:
    """Attribute runs that repeat, diverge and carry tags, decoded over and over (warm caches)."""
    rng = random.Random(11)
    for _ in range(40):
        req = make_request(rng.randint(1, 30), model=rng.choice(("gpt-4o", "gpt-4o-mini")))
        for span in req.resource_spans[0].scope_spans[0].spans:
            for _ in range(rng.randint(0, 8)):
                kv = span.attributes.add()
                kv.key = rng.choice(("k1", "k2", "gen_ai.usage.output_tokens", "tokentrail.tag.team", "x" * 200))
                kv.value.int_value = rng.choice((1, 2, rng.randint(0, 1 << 62)))
            if rng.random() < 0.3:
                span.parent_span_id = rng.randbytes(8)
                span.status.code, span.status.message = 2, rng.choice(("", "boom"))
                event = span.events.add()
                event.name, event.time_unix_nano = "gen_ai.choice", 5
                link = span.links.add()
                link.trace_id, link.span_id = rng.randbytes(16), rng.randbytes(8)
            if rng.random() < 0.2:
                span.name = "n" * rng.randint(100, 300)  # past the one-byte length of the fast header
        _same(plain, req.SerializeToString())


def test_same_errors_for_oversized_varints_and_lengths(plain) -> None:
    """Values the compiled build keeps in C integers: 64-bit varints, tags and lengths past the buffer."""
    over = b"\xff" * 9 + b"\x7f"  # a varint over 64 bits: the parsers keep the low 64
    top = (1 << 64) - 8  # the largest tag of wire type 0, a field number over 2**60
    unknown_field = with_span_bytes(_varint(top | 2) + _varint(3) + b"abc")  # skipped
    bodies = [
        b"\x0a" + over,
        with_span_bytes(over),  # as a field's tag: 2**64 - 1, wire type 7
        unknown_field,
        with_span_bytes(_varint(top) + over),
        with_span_bytes(b"\x52" + over),  # a length of 2**64 - 1
        with_span_bytes(b"\x52" + _varint((1 << 63) - 1)),  # a length that overflows pos + length
        with_span_bytes(b"\x4a" + _varint((1 << 63) + 5)),  # the same, inside the attribute run
        _with_attribute(b"\x18" + over),  # int_value
        _with_attribute(_nested_kvlist(30)),
    ]
    for body in bodies:
        _same(plain, body)
    assert _outcome(plain, unknown_field)[2:] == (0, [])


@SAME
@given(st.binary(max_size=2048))
def test_same_outcome_for_random_bytes(plain, data: bytes) -> None:
    _same(plain, data)


@SAME
@given(st.integers(0, len(VALID)), st.binary(max_size=12), st.integers(0, len(VALID)))
def test_same_outcome_for_truncated_and_mutated_protobuf(plain, cut: int, noise: bytes, at: int) -> None:
    _same(plain, VALID[:cut])
    _same(plain, VALID[:at] + noise + VALID[at + len(noise):])


@SAME
@given(st.lists(st.tuples(KEYS, any_values), max_size=12), st.integers(0, 2**64 - 1), st.integers(0, 2**31 - 1))
def test_same_rows_for_hostile_attribute_values(plain, attrs, start: int, kind: int) -> None:
    req = make_request(2)
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano, span.kind = start, kind
        for key, value in attrs:
            kv = span.attributes.add()
            kv.key = key
            kv.value.CopyFrom(value)
    _same(plain, req.SerializeToString())


def test_a_collector_on_the_plain_python_decoder_says_so(make_collector, monkeypatch, caplog) -> None:
    make_collector(decode_workers=0)
    assert not [r for r in caplog.records if "plain Python" in r.getMessage()]
    monkeypatch.setattr(compiled, "is_compiled", lambda name: name != "values")
    with caplog.at_level("WARNING", logger="tokentrail.collector"):
        plain_one = make_collector(decode_workers=0)
    assert [r for r in caplog.records if r.levelname == "WARNING" and "runs as plain Python" in r.getMessage()]
    assert "tokentrail_collector_decoder_compiled 0" in http("GET", plain_one.http_url + "/metrics").body.decode()
