"""Store.write: exact dedupe on (trace_id, span_id) without primary keys (a ts-bounded anti-join)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from tokentrail.collector.decode import decode_traces
from tokentrail.collector.store import Store, _windows, connect

from tests.collector.test_http_protocol import make_request


def _tables(req):
    return decode_traces(req.SerializeToString()).tables()


def _counts(store: Store) -> tuple[int, int, int]:
    spans = store.con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchall()[0]
    return spans[0], spans[1], store.con.execute("SELECT count(*) FROM llm_calls_raw").fetchall()[0][0]


def test_retries_and_repeats_are_stored_once(tmp_path) -> None:
    store = Store(connect(tmp_path / "s.duckdb"))
    a, b = make_request(5), make_request(4)
    assert store.write([_tables(a)]) == (5, 5)
    # A group holding a retry of `a` plus the new `b`: only b's rows are new.
    assert store.write([_tables(a), _tables(b)]) == (4, 4)
    # Duplicates inside one batch (a retry that arrived while the first attempt was still queued).
    spans, llm = _tables(make_request(3))
    assert store.write([(pa.concat_tables([spans, spans]), pa.concat_tables([llm, llm]))]) == (3, 3)
    assert _counts(store) == (12, 12, 12)
    # After a checkpoint the rows sit in compressed row groups: still found.
    store.checkpoint()
    assert store.write([_tables(b)]) == (0, 0)
    assert _counts(store) == (12, 12, 12)
    store.close()


def test_retry_found_when_the_batch_spans_a_wide_time_range(tmp_path) -> None:
    """The retried span's start time lies inside the new batch's range, far from its edges."""
    store = Store(connect(tmp_path / "s.duckdb"))
    early, late, middle = make_request(2), make_request(2), make_request(1)
    for span in early.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano -= 86_400 * 10**9
    for span in late.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano += 86_400 * 10**9
    assert store.write([_tables(middle)]) == (1, 1)
    assert store.write([_tables(early), _tables(middle), _tables(late)]) == (4, 4)
    assert _counts(store) == (5, 5, 5)
    store.close()


def test_spans_without_a_start_time_are_deduplicated_too(tmp_path) -> None:
    store = Store(connect(tmp_path / "s.duckdb"))
    req = make_request(3)
    for span in req.resource_spans[0].scope_spans[0].spans[:2]:
        span.start_time_unix_nano = 0  # no start time: stored with a NULL ts
    assert store.write([_tables(req)]) == (3, 3)
    assert store.con.execute("SELECT count(*) FROM spans WHERE ts IS NULL").fetchall() == [(2,)]
    assert store.write([_tables(req)]) == (0, 0)
    assert store.write([_tables(make_request(2)), _tables(req)]) == (2, 2)
    assert _counts(store) == (5, 5, 5)
    store.close()


def test_tables_carry_no_in_memory_key_index(tmp_path) -> None:
    """A key's ART index lives in memory and grows with every span (schema v2 dropped them)."""
    store = Store(connect(tmp_path / "s.duckdb"))
    store.write([_tables(make_request(3))])
    kinds = store.con.execute(
        "SELECT table_name, constraint_type FROM duckdb_constraints() WHERE table_name IN ('spans', 'llm_calls_raw')"
    ).fetchall()
    assert not [k for k in kinds if k[1] in ("PRIMARY KEY", "UNIQUE")]
    assert store.con.execute("SELECT count(*) FROM duckdb_indexes()").fetchall() == [(0,)]
    store.close()


def test_start_times_are_grouped_into_tight_windows() -> None:
    minute = 60 * 1_000_000
    t = 1_767_225_600 * 1_000_000

    def windows(values):
        return _windows(pa.chunked_array([pa.array(values, pa.int64()).cast(pa.timestamp("us"))]))

    def at(us: int) -> datetime:
        return datetime(1970, 1, 1) + timedelta(microseconds=us)

    # Live spans, and one that started an hour earlier: two windows, each as tight as its spans.
    got = windows([t + 5, t, None, t - 60 * minute, t + 1_000_000])
    assert got == [(at(t - 60 * minute), at(t - 60 * minute)), (at(t), at(t + 1_000_000))]
    assert windows([None]) == []
    # More clusters than windows: cut at the widest gaps, so every cluster stays whole.
    clusters = [t + i * 10 * minute for i in range(12)] + [t + 500 * minute]
    got = windows([c + d for c in clusters for d in (0, 1_000)])
    assert len(got) == 8
    assert sum(lo <= at(c) <= hi for c in clusters for lo, hi in got) == len(clusters)
    assert (at(t + 500 * minute), at(t + 500 * minute + 1_000)) in got
