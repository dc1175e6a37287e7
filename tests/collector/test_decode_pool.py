"""Decoding in worker processes: same rows as in-thread decoding, errors carried back, and a dead
or orphaned worker never loses an acknowledged span nor outlives the collector."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from tokentrail.collector.decode import DecodeError
from tokentrail.collector.decode_pool import (
    PIPE_BYTES,
    WORKER_NICENESS,
    DecodePool,
    DecoderUnavailable,
    decode_request,
)

from tests.collector.conftest import http
from tests.collector.test_http_protocol import PB, make_request, otlp_json
from tokentrail.readonly import open_file_reader


def _sdk_spans(n: int = 40) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pool-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("pool")
    for i in range(n):
        with tracer.start_as_current_span("request"):
            span = tracer.start_span(f"chat m{i % 4}", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": f"m{i % 4}",
                "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": i,
                "gen_ai.response.finish_reasons": ("stop",), "tokentrail.user_id": f"u{i % 3}"})
            if i % 5 == 0:
                span.add_event("tokentrail.retry", {"http.response.status_code": 429})
                span.set_status(Status(StatusCode.ERROR, "rate limited"))
            span.end()
    return memory.get_finished_spans()


@pytest.fixture
def pool():
    p = DecodePool(2)
    p.start()
    yield p
    p.close()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _worker_pids(p: DecodePool) -> list[int]:
    return [proc.pid for proc in p._pool._processes.values()]


def test_workers_produce_the_same_tables_as_the_request_thread(pool) -> None:
    data = encode_spans(_sdk_spans()).SerializeToString()
    got = pool.decode(data)
    want = DecodePool(0).decode(data)
    assert (got.span_count, got.rejected) == (want.span_count, want.rejected) == (80, 0)
    assert got.spans.equals(want.spans) and got.llm.equals(want.llm)
    assert got.llm.num_rows == 40
    errors = got.spans.to_pydict()["status_code"].count("ERROR")
    assert errors == 8


def test_otlp_json_is_converted_in_the_worker(pool) -> None:
    req = make_request(6)
    body = json.dumps(otlp_json(req)).encode()
    got = pool.decode(body, as_json=True)
    want = DecodePool(0).decode(req.SerializeToString())
    assert got.span_count == 6 and got.spans.equals(want.spans) and got.llm.equals(want.llm)


def test_rejections_and_malformed_input_come_back_from_the_worker(pool) -> None:
    req = make_request(3)
    req.resource_spans[0].scope_spans[0].spans[1].span_id = b"\0" * 8
    got = pool.decode(req.SerializeToString())
    assert (got.span_count, got.rejected) == (2, 1)
    assert "span_id" in got.errors[0]
    with pytest.raises(DecodeError, match="malformed protobuf"):
        pool.decode(b"\x0a\xff\xff\xff")
    with pytest.raises(DecodeError, match="malformed JSON"):
        pool.decode(b"{not json", as_json=True)
    nothing = pool.decode(b"")
    assert (nothing.span_count, nothing.spans) == (0, None)


def test_workers_run_below_the_collectors_priority(pool) -> None:
    pool.decode(make_request(1).SerializeToString())  # the workers exist
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in _worker_pids(pool):
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(mine + WORKER_NICENESS, 19)


def test_tables_cross_as_bytes_through_pipes_that_hold_a_whole_request(pool) -> None:
    """Both choices are about CPU (bench/bench_collector.py --pool); what must hold is that they
    are in place and that a request larger than the widened pipes still crosses intact."""
    _, _, _, spans, llm = decode_request(make_request(3).SerializeToString())
    assert type(spans) is bytes and type(llm) is bytes
    max_size = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    for queue in (pool._pool._call_queue, pool._pool._result_queue):
        assert fcntl.fcntl(queue._writer.fileno(), fcntl.F_GETPIPE_SZ) >= min(PIPE_BYTES, max_size)  # root may exceed the max
    req = make_request(14_000)
    data = req.SerializeToString()
    assert len(data) > 2 * PIPE_BYTES
    got = pool.decode(data)
    want = DecodePool(0).decode(data)
    assert got.span_count == 14_000 and got.spans.equals(want.spans) and got.llm.equals(want.llm)


def test_a_dead_worker_fails_its_request_and_the_next_one_gets_a_fresh_pool(pool) -> None:
    data = make_request(5).SerializeToString()
    for pid in _worker_pids(pool):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(DecoderUnavailable):
        pool.decode(data)
    assert pool.decode(data).span_count == 5


def test_a_dead_worker_means_a_retryable_503_then_ingest_resumes(make_collector) -> None:
    collector = make_collector(grpc_port=None)
    for pid in _worker_pids(collector.decoder):
        os.kill(pid, signal.SIGKILL)
    url = collector.http_url + "/v1/traces"
    first = http("POST", url, make_request(4).SerializeToString(), PB)
    assert first.status == 503 and first.headers.get("retry-after")
    again = http("POST", url, make_request(4).SerializeToString(), PB)
    assert again.status == 200
    collector.stop()
    with open_file_reader(collector.db) as con:
        assert con.execute("SELECT count(*) FROM spans").fetchall()[0][0] == 4  # the refused batch is not stored


def test_workers_ignore_sigint_and_leave_when_the_collector_is_killed(collector_process) -> None:
    proc = collector_process()
    workers = [pid for pid in _children(proc.proc.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == os.cpu_count()
    for pid in workers:
        os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends the whole group
    exporter = OTLPSpanExporter(endpoint=proc.url + "/v1/traces")
    spans = _sdk_spans(10)
    assert exporter.export(spans).name == "SUCCESS"
    assert all(_alive(pid) for pid in workers)
    proc.kill9()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "decoding workers outlived a killed collector"
    with open_file_reader(proc.db) as con:
        assert con.execute("SELECT count(*) FROM spans").fetchall()[0][0] == 20
