"""Acknowledged means committed: kill -9 after a 200 loses nothing; SIGTERM flushes everything.

The collector runs as a real `tokentrail collector` subprocess; the file is reopened afterwards
the way readers do without a collector (tokentrail.readonly.open_file_reader).
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.collector.conftest import http
from tests.collector.test_http_protocol import PB, make_request
from tokentrail.readonly import open_file_reader


def _stored_ids(db) -> set[str]:
    with open_file_reader(db) as con:
        return {r[0] for r in con.execute("SELECT span_id FROM spans").fetchall()}


def _llm_count(db) -> int:
    with open_file_reader(db) as con:
        return con.execute("SELECT count(*) FROM llm_calls_raw").fetchall()[0][0]


def test_kill_9_right_after_ack_loses_nothing(collector_process) -> None:
    proc = collector_process()
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("durable")
    for i in range(200):
        tracer.start_span(f"chat m{i % 3}", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": f"m{i % 3}",
                                                       "gen_ai.usage.input_tokens": i}).end()
    spans = memory.get_finished_spans()
    exporter = OTLPSpanExporter(endpoint=proc.url + "/v1/traces")
    for start in range(0, 200, 50):
        assert exporter.export(spans[start:start + 50]).name == "SUCCESS"
    proc.kill9()  # no shutdown hook runs: only what was committed survives
    expected = {format(s.context.span_id, "016x") for s in spans}
    assert _stored_ids(proc.db) == expected
    assert _llm_count(proc.db) == 200


def test_kill_9_under_concurrent_load_keeps_every_acked_span(collector_process) -> None:
    proc = collector_process()
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            req = make_request(64)
            try:
                resp = http("POST", proc.url + "/v1/traces", req.SerializeToString(), PB)
            except OSError:
                return  # the collector died mid-request: not acknowledged
            if resp.status == 200:
                with lock:
                    acked.update(s.span_id.hex() for s in req.resource_spans[0].scope_spans[0].spans)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < 64 * 20 and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    assert len(acked) >= 64 * 20, "the collector stopped acknowledging"
    proc.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    stored = _stored_ids(proc.db)
    assert acked <= stored, f"{len(acked - stored)} acknowledged spans lost"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_flushes_and_exits_cleanly(collector_process, sig) -> None:
    proc = collector_process()
    sent: set[str] = set()
    for _ in range(5):
        req = make_request(30)
        assert http("POST", proc.url + "/v1/traces", req.SerializeToString(), PB).status == 200
        sent.update(s.span_id.hex() for s in req.resource_spans[0].scope_spans[0].spans)
    assert proc.term(sig) == 0
    assert _stored_ids(proc.db) == sent
    # A restarted collector on the same file keeps deduplicating against what is stored.
    again = collector_process(db=proc.db)
    req = make_request(3)
    body = req.SerializeToString()
    assert http("POST", again.url + "/v1/traces", body, PB).status == 200
    assert http("POST", again.url + "/v1/traces", body, PB).status == 200
    assert again.term() == 0
    assert len(_stored_ids(proc.db)) == len(sent) + 3


def test_sigterm_during_load_keeps_every_acked_span(collector_process) -> None:
    """Requests in flight when SIGTERM arrives are either acknowledged and stored, or refused."""
    proc = collector_process()
    acked: set[str] = set()
    lock = threading.Lock()

    def client() -> None:
        for _ in range(200):
            req = make_request(64)
            try:
                resp = http("POST", proc.url + "/v1/traces", req.SerializeToString(), PB)
            except OSError:
                return
            if resp.status == 200:
                with lock:
                    acked.update(s.span_id.hex() for s in req.resource_spans[0].scope_spans[0].spans)
            elif resp.status != 503:
                raise AssertionError(resp.status)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < 64 * 10 and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    assert len(acked) >= 64 * 10, "the collector stopped acknowledging"
    assert proc.term() == 0
    for t in threads:
        t.join(60)
    assert acked <= _stored_ids(proc.db)
