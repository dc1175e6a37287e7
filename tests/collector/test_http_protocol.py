"""OTLP/HTTP per the spec: encodings, compression, every error status, backpressure."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.collector.conftest import http

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def make_request(n: int = 3, *, model: str = "gpt-4o") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "proto-test"
    ss = rs.scope_spans.add()
    ss.scope.name = "raw"
    for i in range(n):
        s = ss.spans.add()
        s.trace_id, s.span_id = os.urandom(16), os.urandom(8)
        s.name = f"chat {model}"
        s.kind = 3
        s.start_time_unix_nano = 1_767_225_600_000_000_000 + i
        s.end_time_unix_nano = s.start_time_unix_nano + 5_000_000
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", model)):
            a = s.attributes.add()
            a.key, a.value.string_value = key, value
        a = s.attributes.add()
        a.key, a.value.int_value = "gen_ai.usage.input_tokens", 10 + i
    return req


def otlp_json(req: ExportTraceServiceRequest) -> dict:
    """OTLP/JSON: protobuf JSON mapping, but ids as hex (not base64)."""
    doc = json_format.MessageToDict(req)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        import base64

                        span[key] = base64.b64decode(span[key]).hex()
    return doc


def count(collector, table: str = "spans") -> int:
    cur = collector.con.cursor()
    try:
        return cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        cur.close()


def test_protobuf_ok_returns_export_response(collector) -> None:
    resp = http("POST", collector.http_url + "/v1/traces", make_request(3).SerializeToString(), PB)
    assert resp.status == 200 and resp.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(resp.body)
    assert not parsed.HasField("partial_success")
    assert count(collector) == 3 and count(collector, "llm_calls_raw") == 3


def test_json_ids_are_hex(collector) -> None:
    req = make_request(2)
    resp = http("POST", collector.http_url + "/v1/traces", json.dumps(otlp_json(req)).encode(), JS)
    assert resp.status == 200 and resp.headers["content-type"] == "application/json"
    assert resp.json() == {}
    cur = collector.con.cursor()
    stored = {r[0] for r in cur.execute("SELECT trace_id || ':' || span_id FROM spans").fetchall()}
    cur.close()
    expected = {f"{s.trace_id.hex()}:{s.span_id.hex()}" for s in req.resource_spans[0].scope_spans[0].spans}
    assert stored == expected


def test_json_gzip_and_protobuf_gzip(collector) -> None:
    body = gzip.compress(json.dumps(otlp_json(make_request(2))).encode())
    resp = http("POST", collector.http_url + "/v1/traces", body, {**JS, "Content-Encoding": "gzip"})
    assert resp.status == 200
    body = gzip.compress(make_request(3).SerializeToString())
    resp = http("POST", collector.http_url + "/v1/traces", body, {**PB, "Content-Encoding": "gzip"})
    assert resp.status == 200
    assert count(collector) == 5


def test_partial_success_for_invalid_ids(collector) -> None:
    req = make_request(3)
    spans = req.resource_spans[0].scope_spans[0].spans
    spans[0].span_id = b"\x01\x02"  # wrong length
    spans[1].trace_id = bytes(16)  # all zero
    resp = http("POST", collector.http_url + "/v1/traces", req.SerializeToString(), PB)
    assert resp.status == 200
    partial = ExportTraceServiceResponse.FromString(resp.body).partial_success
    assert partial.rejected_spans == 2 and "span_id" in partial.error_message
    assert count(collector) == 1
    doc = otlp_json(make_request(1))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not-hex"
    resp = http("POST", collector.http_url + "/v1/traces", json.dumps(doc).encode(), JS)
    assert resp.status == 200 and resp.json()["partialSuccess"]["rejectedSpans"] == "1"


def test_400_for_malformed_bodies(collector) -> None:
    url = collector.http_url + "/v1/traces"
    for body in (b"\xff\xff\xff\xff", make_request(2).SerializeToString()[:-7], b"\x0a\x05abc"):
        resp = http("POST", url, body, PB)
        assert resp.status == 400, body
        assert "malformed" in status_pb2.Status.FromString(resp.body).message
    for body in (b"{not json", b"[1, 2]", b'{"resourceSpans": 5}', b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}'):
        resp = http("POST", url, body, JS)
        assert resp.status == 400, body
        assert "malformed" in resp.json()["message"]
    resp = http("POST", url, b"\x1f\x8b\x08\x00garbage", {**PB, "Content-Encoding": "gzip"})
    assert resp.status == 400
    assert http("GET", collector.http_url + "/healthz").status == 200
    assert count(collector) == 0


def test_413_counted_after_decompression(make_collector) -> None:
    collector = make_collector(max_body_bytes=64 * 1024)
    url = collector.http_url + "/v1/traces"
    big = make_request(1000).SerializeToString()
    assert len(big) > 64 * 1024
    assert http("POST", url, big, PB).status == 413
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
    assert len(bomb) < 64 * 1024
    resp = http("POST", url, bomb, {**PB, "Content-Encoding": "gzip"})
    assert resp.status == 413
    small = gzip.compress(make_request(5).SerializeToString())
    assert http("POST", url, small, {**PB, "Content-Encoding": "gzip"}).status == 200


def test_415_unsupported_content_type_or_encoding(collector) -> None:
    url = collector.http_url + "/v1/traces"
    assert http("POST", url, b"hello", {"Content-Type": "text/plain"}).status == 415
    assert http("POST", url, make_request(1).SerializeToString(), {**PB, "Content-Encoding": "br"}).status == 415


def test_unsupported_signals_answer_404(collector) -> None:
    for path in ("/v1/metrics", "/v1/logs"):
        resp = http("POST", collector.http_url + path, b"", PB)
        assert resp.status == 404
        assert "not supported" in status_pb2.Status.FromString(resp.body).message
    assert http("POST", collector.http_url + "/v2/other", b"", PB).status == 404


def _fill_queue(collector) -> threading.Thread:
    """Block the writer and park one request in the queue, so the queue is full."""
    collector.queue._write_lock.acquire()
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(
        http("POST", collector.http_url + "/v1/traces", make_request(2).SerializeToString(), PB).status))
    first.start()
    deadline = time.monotonic() + 10
    while collector.queue.depth == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert collector.queue.depth == 2
    first.results = results  # type: ignore[attr-defined]
    return first


def test_503_with_retry_after_when_queue_full(make_collector) -> None:
    collector = make_collector(max_queued_spans=2)
    first = _fill_queue(collector)
    try:
        resp = http("POST", collector.http_url + "/v1/traces", make_request(1).SerializeToString(), PB)
        assert resp.status == 503 and resp.headers["retry-after"] == "1"
        metrics = http("GET", collector.http_url + "/metrics").body.decode()
        assert "tokentrail_collector_queue_spans 2" in metrics
        assert 'tokentrail_collector_rejections_total{reason="overloaded"} 1' in metrics
    finally:
        collector.queue._write_lock.release()
    first.join(10)
    assert first.results == [200]  # type: ignore[attr-defined]
    assert count(collector) == 2


def test_real_exporter_retries_backpressure_and_succeeds(make_collector) -> None:
    collector = make_collector(max_queued_spans=2)
    first = _fill_queue(collector)
    threading.Timer(0.5, collector.queue._write_lock.release).start()
    exporter = OTLPSpanExporter(endpoint=collector.http_url + "/v1/traces", timeout=20)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("chat x", attributes={"gen_ai.operation.name": "chat"}).end()
    started = time.monotonic()
    assert exporter.export(memory.get_finished_spans()).name == "SUCCESS"
    assert time.monotonic() - started >= 0.9  # it waited the Retry-After second
    first.join(10)
    codes = http("GET", collector.http_url + "/metrics").body.decode()
    assert 'tokentrail_collector_requests_total{transport="http",code="503"}' in codes
    assert count(collector) == 3


def test_grpc_backpressure_is_resource_exhausted_with_retry_info(make_collector) -> None:
    import grpc
    from google.rpc.error_details_pb2 import RetryInfo

    collector = make_collector(max_queued_spans=2)
    first = _fill_queue(collector)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_bound_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            try:
                export(make_request(1).SerializeToString(), timeout=10)
                raise AssertionError("expected RESOURCE_EXHAUSTED")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                trailer = dict(err.trailing_metadata())["google.rpc.retryinfo-bin"]
                assert RetryInfo.FromString(trailer).retry_delay.seconds == 1
    finally:
        collector.queue._write_lock.release()
    first.join(10)
    assert first.results == [200]  # type: ignore[attr-defined]


def test_grpc_message_over_limit_is_refused(make_collector) -> None:
    import grpc

    collector = make_collector(max_body_bytes=64 * 1024)
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_bound_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        try:
            export(make_request(1000).SerializeToString(), timeout=10)
            raise AssertionError("expected RESOURCE_EXHAUSTED")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert export(make_request(3).SerializeToString(), timeout=10) == b""
    assert count(collector) == 3
