"""TOKENTRAIL_TOKEN on every endpoint, and the read-only query endpoint (incl. reader while writing)."""

from __future__ import annotations

import json
import threading

import grpc
import pyarrow as pa
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.collector.conftest import http
from tests.collector.test_http_protocol import PB, make_request

TOKEN = "s3cret-token"


def _spans():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("chat m", attributes={"gen_ai.operation.name": "chat",
                                                              "gen_ai.request.model": "m"}).end()
    return memory.get_finished_spans()


def query(collector, sql: str, *, accept: str = "application/json", headers: dict | None = None, **extra):
    body = json.dumps({"sql": sql, **extra}).encode()
    return http("POST", collector.http_url + "/v1/query", body,
                {"Content-Type": "application/json", "Accept": accept, **(headers or {})})


@pytest.fixture
def secured(make_collector):
    return make_collector(token=TOKEN)


def test_every_http_endpoint_requires_the_token(secured) -> None:
    base = secured.http_url
    calls = [("GET", "/healthz", None), ("GET", "/metrics", None),
             ("POST", "/v1/traces", make_request(1).SerializeToString()),
             ("POST", "/v1/query", b'{"sql": "select 1"}'), ("POST", "/v1/logs", b"")]
    for method, path, body in calls:
        for auth in (None, "Bearer wrong", f"Basic {TOKEN}", TOKEN):
            headers = {**PB, **({"Authorization": auth} if auth else {})}
            resp = http(method, base + path, body, headers)
            assert resp.status == 401, (path, auth)
            assert resp.headers.get("www-authenticate") == "Bearer"
    good = {**PB, "Authorization": f"Bearer {TOKEN}"}
    assert http("GET", base + "/healthz", None, good).status == 200
    assert http("GET", base + "/metrics", None, good).status == 200
    assert http("POST", base + "/v1/traces", make_request(1).SerializeToString(), good).status == 200
    assert query(secured, "select 1 AS x", headers={"Authorization": f"Bearer {TOKEN}"}).json()["rows"] == [[1]]
    assert 'reason="unauthorized"} 20' in http("GET", base + "/metrics", None, good).body.decode()


def test_exporters_with_and_without_token(secured) -> None:
    spans = _spans()
    assert HttpExporter(endpoint=secured.http_url + "/v1/traces").export(spans).name == "FAILURE"
    ok = HttpExporter(endpoint=secured.http_url + "/v1/traces", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.export(spans).name == "SUCCESS"
    target = f"127.0.0.1:{secured.grpc_bound_port}"
    assert GrpcExporter(endpoint=target, insecure=True).export(spans).name == "FAILURE"
    ok = GrpcExporter(endpoint=target, insecure=True, headers=(("authorization", f"Bearer {TOKEN}"),))
    assert ok.export(spans).name == "SUCCESS"
    # The raw gRPC status is UNAUTHENTICATED.
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as err:
            call(make_request(1).SerializeToString(), metadata=(("authorization", "Bearer nope"),))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff", metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        metrics = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
        with pytest.raises(grpc.RpcError) as err:
            metrics(b"", metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_query_json_and_arrow(collector) -> None:
    assert http("POST", collector.http_url + "/v1/traces", make_request(5, model="gpt-4o").SerializeToString(),
                PB).status == 200
    sql = "SELECT model, count(*) AS n, sum(input_tokens) AS t FROM llm_calls_raw WHERE model = ? GROUP BY model"
    doc = query(collector, sql, params=["gpt-4o"]).json()
    assert doc == {"columns": ["model", "n", "t"], "rows": [["gpt-4o", 5, 10 + 11 + 12 + 13 + 14]], "truncated": False}
    resp = query(collector, "SELECT span_id, ts FROM spans ORDER BY span_id", accept="application/vnd.apache.arrow.stream")
    assert resp.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(resp.body).read_all()
    assert table.num_rows == 5 and table.column_names == ["span_id", "ts"]
    # The public view with costs is there when analytics is installed.
    doc = query(collector, "SELECT count(*) FROM llm_calls").json()
    assert doc["rows"] == [[5]]


def test_query_row_limit(collector) -> None:
    http("POST", collector.http_url + "/v1/traces", make_request(20).SerializeToString(), PB)
    doc = query(collector, "SELECT span_id FROM spans", max_rows=7).json()
    assert len(doc["rows"]) == 7 and doc["truncated"] is True
    resp = query(collector, "SELECT span_id FROM spans", accept="application/vnd.apache.arrow.stream", max_rows=3)
    assert resp.headers["x-tokentrail-truncated"] == "true"
    assert pa.ipc.open_stream(resp.body).read_all().num_rows == 3


def test_query_time_limit(make_collector) -> None:
    collector = make_collector(query_timeout_s=0.5)
    resp = query(collector, "SELECT count(*) FROM range(100000000000) a")
    assert resp.status == 400 and "time limit" in resp.json()["error"]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM 'somefile.parquet'",
    "COPY spans TO '/tmp/tokentrail-leak.csv'",
    "ATTACH '/tmp/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "INSERT INTO spans (trace_id, span_id) VALUES ('a', 'b')",
    "DELETE FROM spans",
    "DROP TABLE spans",
    "CREATE TABLE x AS SELECT 1",
    "SET enable_external_access = true",
    "SELECT 1; DELETE FROM spans",
    "PRAGMA database_list",
    "CHECKPOINT",
    "EXPLAIN ANALYZE DELETE FROM spans",
    "EXPLAIN ANALYZE INSERT INTO spans (trace_id, span_id) VALUES ('a', 'b')",
    "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1",
    "/* EXPLAIN SELECT 1 */ EXPLAIN ANALYZE DELETE FROM spans",
])
def test_query_refuses_files_and_writes(collector, sql: str, tmp_path) -> None:
    http("POST", collector.http_url + "/v1/traces", make_request(2).SerializeToString(), PB)
    resp = query(collector, sql)
    assert resp.status == 400, resp.body
    assert resp.json()["error"]
    assert query(collector, "SELECT count(*) FROM spans").json()["rows"] == [[2]]
    assert query(collector, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'x'").json()["rows"] == [[0]]
    assert not (tmp_path / "tokentrail-leak.csv").exists()


def test_explain_of_a_select_is_allowed(collector) -> None:
    assert query(collector, "EXPLAIN ANALYZE SELECT count(*) FROM spans").status == 200


def test_query_bad_requests(collector) -> None:
    url = collector.http_url + "/v1/query"
    assert http("POST", url, b"not json", {"Content-Type": "application/json"}).status == 400
    assert http("POST", url, b'{"sql": 5}', {"Content-Type": "application/json"}).status == 400
    assert query(collector, "SELEC nonsense").status == 400
    assert query(collector, "SELECT 1", max_rows=-1).status == 400


def test_reader_queries_while_writer_ingests(collector) -> None:
    """Counts seen by a concurrent reader only grow, and end at exactly what was acknowledged."""
    batches, per_batch = 30, 50
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            resp = query(collector, "SELECT count(*) FROM spans")
            assert resp.status == 200
            seen.append(resp.json()["rows"][0][0])

    thread = threading.Thread(target=reader)
    thread.start()
    acked = 0
    for _ in range(batches):
        resp = http("POST", collector.http_url + "/v1/traces", make_request(per_batch).SerializeToString(), PB)
        assert resp.status == 200
        acked += per_batch
        # Read-your-writes: once acknowledged, a reader sees it.
        assert query(collector, "SELECT count(*) FROM spans").json()["rows"][0][0] >= acked
    stop.set()
    thread.join(30)
    assert len(seen) > 3
    assert seen == sorted(seen)
    assert all(n % per_batch == 0 for n in seen)  # each batch commits atomically
    assert query(collector, "SELECT count(*) FROM spans").json()["rows"] == [[batches * per_batch]]
