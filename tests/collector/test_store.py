"""Store.write: the keyed fast path and the INSERT OR IGNORE fallback give exact dedupe."""

from __future__ import annotations

import pyarrow as pa
from tokentrail.collector.decode import decode_traces
from tokentrail.collector.store import Store, connect

from tests.collector.test_http_protocol import make_request


def _tables(req):
    return decode_traces(req.SerializeToString()).tables()


def test_fast_path_then_fallback_on_duplicates(tmp_path) -> None:
    store = Store(connect(tmp_path / "s.duckdb"))
    a, b = make_request(5), make_request(4)
    assert store.write([_tables(a)]) == (5, 5)
    assert (store.fast_writes, store.dedupe_writes) == (1, 0)
    # A group holding a retry of `a` plus the new `b`: only b's rows are new.
    assert store.write([_tables(a), _tables(b)]) == (4, 4)
    assert store.dedupe_writes == 1
    # Duplicates inside one batch.
    spans, llm = _tables(make_request(3))
    assert store.write([(pa.concat_tables([spans, spans]), pa.concat_tables([llm, llm]))]) == (3, 3)
    assert store.con.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [(12, 12)]
    assert store.con.execute("SELECT count(*) FROM llm_calls_raw").fetchall() == [(12,)]
    store.close()
