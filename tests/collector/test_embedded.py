"""Embedded mode: several processes write the same DuckDB file through write_spans."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import time

import duckdb
import pytest


def _worker(path: str, worker: int, batches: int) -> list[str]:
    """Runs in a spawned process: emits real SDK spans and writes them batch by batch."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from tokentrail.collector.embedded import write_spans

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"worker-{worker}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("embedded")
    ids = []
    for b in range(batches):
        memory.clear()
        for i in range(20):
            tracer.start_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                                         "gen_ai.usage.input_tokens": b * 100 + i}).end()
        spans = memory.get_finished_spans()
        request = encode_spans(spans)
        assert write_spans(path, request, lock_timeout=60) == len(spans)
        assert write_spans(path, request, lock_timeout=60) == 0  # a retry adds nothing
        ids += [format(s.context.span_id, "016x") for s in spans]
    return ids


def test_processes_share_one_file(tmp_path) -> None:
    path = str(tmp_path / "embedded.duckdb")
    with mp.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(_worker, [(path, w, 4) for w in range(3)])
    expected = {i for ids in results for i in ids}
    assert len(expected) == 3 * 4 * 20
    con = duckdb.connect(path, read_only=True)
    try:
        assert {r[0] for r in con.execute("SELECT span_id FROM spans").fetchall()} == expected
        per_service = dict(con.execute("SELECT service, count(*) FROM llm_calls_raw GROUP BY service").fetchall())
        assert per_service == {f"worker-{w}": 80 for w in range(3)}
    finally:
        con.close()


def test_writer_and_reader_wait_for_the_file_guard(tmp_path) -> None:
    """Both per-batch paths take tokentrail's file guard, so neither can open the file from headers
    another process is replacing (see tokentrail.fileguard)."""
    from tokentrail.collector.embedded import write_spans

    from tests.collector.test_http_protocol import make_request
    from tests.test_fileguard import hold_guard
    from tokentrail.readonly import DatabaseOpenError, open_file_reader

    path = tmp_path / "guarded.duckdb"
    assert write_spans(path, make_request(2)) == 2
    holder = hold_guard(str(path), shared=False)
    try:
        with pytest.raises(TimeoutError):
            write_spans(path, make_request(2), lock_timeout=0.3)
        with pytest.raises(DatabaseOpenError, match="stayed locked"), open_file_reader(path, lock_timeout=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert write_spans(path, make_request(2), lock_timeout=5) == 2
    with open_file_reader(path) as con:
        assert con.execute("SELECT count(*) FROM spans").fetchall() == [(4,)]


def test_lock_timeout_when_another_process_holds_the_file(tmp_path) -> None:
    from tokentrail.collector.embedded import write_spans

    from tests.collector.test_http_protocol import make_request

    path = tmp_path / "held.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(30)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            write_spans(path, make_request(2), lock_timeout=0.5)
        assert 0.4 < time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    assert write_spans(path, make_request(2), lock_timeout=10) == 2


def test_embedded_rows_match_collector_rows(tmp_path, collector) -> None:
    """The same request through the server and through write_spans yields identical rows."""
    from tokentrail.collector.embedded import write_spans

    from tests.collector.conftest import http
    from tests.collector.test_http_protocol import PB, make_request

    req = make_request(4)
    assert http("POST", collector.http_url + "/v1/traces", req.SerializeToString(), PB).status == 200
    path = tmp_path / "emb.duckdb"
    assert write_spans(path, req) == 4
    cur = collector.con.cursor()
    query = "SELECT * FROM llm_calls_raw ORDER BY span_id"
    server_rows = cur.execute(query).fetchall()
    server_spans = cur.execute("SELECT * FROM spans ORDER BY span_id").fetchall()
    cur.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute(query).fetchall() == server_rows
        assert con.execute("SELECT * FROM spans ORDER BY span_id").fetchall() == server_spans
        assert json.loads(server_spans[0][13])["gen_ai.operation.name"] == "chat"
    finally:
        con.close()


def test_write_spans_accepts_bytes_and_rejects_garbage(tmp_path) -> None:
    from tokentrail.collector.decode import DecodeError
    from tokentrail.collector.embedded import write_spans

    from tests.collector.test_http_protocol import make_request

    path = tmp_path / "bytes.duckdb"
    assert write_spans(path, make_request(3).SerializeToString()) == 3
    assert write_spans(path, make_request(0)) == 0
    with pytest.raises(DecodeError):
        write_spans(path, b"\xff\xff\xff")
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM spans").fetchall() == [(3,)]
    finally:
        con.close()


def test_collector_holds_the_file_guard_until_it_stops(make_collector) -> None:
    """A running collector keeps embedded writers and per-query readers off its file's headers."""
    from tests.collector.test_http_protocol import make_request
    from tokentrail.fileguard import GuardTimeout, guarded
    from tokentrail.readonly import open_file_reader

    coll = make_collector()
    with pytest.raises(GuardTimeout), guarded(coll.db, shared=True, timeout=0.1):
        pass
    assert coll.ingest(make_request(3).SerializeToString()).accepted == 3
    coll.stop()
    with guarded(coll.db, shared=False, timeout=1):
        pass
    with open_file_reader(coll.db) as con:
        assert con.execute("SELECT count(*) FROM spans").fetchall() == [(3,)]
