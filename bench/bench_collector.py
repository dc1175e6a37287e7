"""Collector throughput: real OTLP/HTTP protobuf clients → `tokentrail collector` subprocess → DuckDB.

    python bench/bench_collector.py [--seconds 20] [--clients 3] [--batch 512]

Each client process runs the OTel Python exporter's own HTTP client (retries, Retry-After) and
sends GenAI-shaped batches of `--batch` spans. To keep the 2-core box measuring the collector and
not the client SDK, a client encodes one batch with the SDK's encoder once and then only rewrites
the trace/span ids in the bytes for each send (every span is unique, so dedupe never hides work).

Reported, in one run:
- sustained spans/s acknowledged (200) by the collector, verified against the row count after a
  graceful shutdown (every acknowledged span must be stored, exactly once);
- baseline: DuckDB's own Arrow insert rate for the same decoded batches into the same schema
  (INSERT OR IGNORE, one transaction per 512) and into a plain table without keys;
- dedupe strategies: INSERT OR IGNORE vs anti-join vs plain keyed INSERT (what Store.write tries
  first, falling back to INSERT OR IGNORE only on a duplicate) on the same data;
- overload: more clients than the collector can absorb with a small queue: 503s seen and the
  collector's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ATTRS = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.request.max_tokens": 512,
    "gen_ai.request.temperature": 0.7,
    "gen_ai.request.stream": True,
    "gen_ai.response.time_to_first_chunk": 0.21,
    "server.address": "api.openai.com",
    "server.port": 443,
    "http.response.status_code": 200,
    "openai.api.type": "chat_completions",
    "tokentrail.retry.count": 0,
    "tokentrail.usage.source": "api",
    "tokentrail.feature": "search",
    "tokentrail.tag.team": "core",
}


def build_template(batch: int) -> tuple[bytes, list[tuple[int, int]]]:
    """A serialized export of `batch` GenAI spans (via the SDK encoder) and the byte offsets of
    each span's trace id (16 bytes), span id (8 bytes) and response id (16 hex digits), which are
    rewritten per send so every span and every response id is new."""
    import random

    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tokentrail.bench")
    rng = random.Random(1)
    for i in range(batch):
        attrs = dict(ATTRS)
        attrs["gen_ai.response.id"] = f"chatcmpl-{i:016x}"
        attrs["gen_ai.usage.input_tokens"] = rng.randint(50, 4000)
        attrs["gen_ai.usage.output_tokens"] = rng.randint(1, 800)
        attrs["gen_ai.usage.cache_read.input_tokens"] = rng.choice((0, 0, 1024))
        attrs["user.id"] = f"user-{rng.randint(1, 50)}"
        tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attrs).end()
    spans = memory.get_finished_spans()
    data = encode_spans(spans).SerializeToString()
    offsets = []
    for s in spans:
        tid = s.context.trace_id.to_bytes(16, "big")
        sid = s.context.span_id.to_bytes(8, "big")
        t_at = data.index(tid)
        s_at = data.index(sid, t_at)
        r_at = data.index(s.attributes["gen_ai.response.id"].encode(), s_at) + len("chatcmpl-")
        offsets.append((t_at, s_at, r_at))
    return data, offsets


def fresh_ids(template: bytes, offsets: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(template)
    ids = os.urandom(32 * len(offsets))
    for i, (t_at, s_at, r_at) in enumerate(offsets):
        chunk = ids[32 * i:32 * i + 32]
        buf[t_at:t_at + 16] = chunk[:16]
        buf[s_at:s_at + 8] = chunk[16:24]
        buf[r_at:r_at + 16] = chunk[24:].hex().encode()
    return bytes(buf)


def client(url: str, seconds: float, batch: int, result: mp.Queue) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    template, offsets = build_template(batch)
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces", timeout=60)
    sent = ok = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = fresh_ids(template, offsets)
        sent += 1
        if exporter._client.export(data).success:  # the exporter's own HTTP path
            ok += 1
    result.put((ok * batch, sent * batch))


def start_collector(db: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokentrail", "collector", "--db", str(db), "--http-port", "0", "--grpc-port", "-1",
         "--log-level", "ERROR", *extra], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    url = line.split("OTLP/HTTP", 1)[1].split()[0]
    return proc, url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (all its threads, DuckDB's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_clients(url: str, n: int, seconds: float, batch: int) -> tuple[int, int, float]:
    ctx = mp.get_context("spawn")
    result: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=client, args=(url, seconds, batch, result)) for _ in range(n)]
    started = time.monotonic()
    for p in procs:
        p.start()
    totals = [result.get(timeout=seconds + 300) for _ in procs]
    elapsed = time.monotonic() - started
    for p in procs:
        p.join()
    return sum(t[0] for t in totals), sum(t[1] for t in totals), elapsed


def count_rows(db: Path) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return (con.execute("SELECT count(*) FROM spans").fetchall()[0][0],
                con.execute("SELECT count(*) FROM llm_calls_raw").fetchall()[0][0])
    finally:
        con.close()


def collector_run(tmp: Path, clients: int, seconds: float, batch: int) -> dict:
    db = tmp / "bench.duckdb"
    proc, url = start_collector(db)
    # Rate = acknowledged spans / the clients' sending window (their set-up is not counted).
    cpu_before = cpu_seconds(proc.pid)
    acked, sent, elapsed = run_clients(url, clients, seconds, batch)
    cpu_used = cpu_seconds(proc.pid) - cpu_before
    rss = peak_rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    spans, llm = count_rows(db)
    return {"clients": clients, "batch": batch, "acked_spans": acked, "sent_spans": sent,
            "seconds": round(elapsed, 2), "spans_per_s": round(acked / seconds), "rows_spans": spans,
            "rows_llm_calls": llm, "rows_match_acked": spans == acked == llm, "collector_peak_rss_mb": round(rss, 1),
            # Load-independent figure: collector CPU per span (on a shared box wall-clock rates
            # mostly measure the neighbours).
            "collector_cpu_us_per_span": round(cpu_used / max(acked, 1) * 1e6, 1),
            "load_average_1m": os.getloadavg()[0]}


def baseline(tmp: Path, batch: int, batches: int = 40) -> dict:
    """DuckDB's Arrow insert rate for the same decoded batches, measured in this process."""
    import duckdb
    import pyarrow as pa
    from tokentrail.collector.decode import decode_traces
    from tokentrail.collector.store import INSERT_LLM_DEDUPE, INSERT_SPANS_DEDUPE, Store, connect

    template, offsets = build_template(batch)
    tables = []
    decode_s = decode_cpu = 0.0
    for _ in range(batches):
        data = fresh_ids(template, offsets)
        t, c = time.perf_counter(), time.process_time()
        tables.append(decode_traces(data).tables())
        decode_s += time.perf_counter() - t
        decode_cpu += time.process_time() - c
    n = batch * batches
    out = {"decode_spans_per_s": round(n / decode_s), "decode_cpu_us_per_span": round(decode_cpu / n * 1e6, 1)}

    store = Store(connect(tmp / "baseline.duckdb", checkpoint_threshold="256MB"))
    t, c = time.perf_counter(), time.process_time()
    for pair in tables:
        store.write([pair])
    out["store_write_spans_per_s"] = round(n / (time.perf_counter() - t))
    out["store_write_cpu_us_per_span"] = round((time.process_time() - c) / n * 1e6, 1)
    store.close()

    con = duckdb.connect(str(tmp / "plain.duckdb"))
    spans_all = pa.concat_tables([p[0] for p in tables])
    con.register("tt", spans_all.slice(0, 0))
    con.execute("CREATE TABLE s AS SELECT * FROM tt")
    con.unregister("tt")
    t = time.perf_counter()
    for spans, _ in tables:
        con.register("tt", spans)
        con.execute("INSERT INTO s SELECT * FROM tt").fetchall()
        con.unregister("tt")
    out["duckdb_arrow_insert_no_keys_rows_per_s"] = round(n / (time.perf_counter() - t))
    con.close()

    # Dedupe strategies on a keyed table (the schema's primary keys).
    results = {}
    for name in ("insert_or_ignore", "anti_join_on_keyed_table", "plain_insert_keyed"):
        path = tmp / f"dedupe-{name}.duckdb"
        s = Store(connect(path))
        c = s.con
        t = time.perf_counter()
        for spans, llm in tables:
            c.register("tt_spans", spans)
            c.register("tt_llm", llm)
            if name == "insert_or_ignore":
                c.execute(INSERT_SPANS_DEDUPE).fetchall()
                c.execute(INSERT_LLM_DEDUPE).fetchall()
            elif name == "anti_join_on_keyed_table":
                c.execute("INSERT INTO spans SELECT DISTINCT ON (trace_id, span_id) * FROM tt_spans n WHERE NOT EXISTS "
                          "(SELECT 1 FROM spans o WHERE o.trace_id = n.trace_id AND o.span_id = n.span_id)").fetchall()
                c.execute("INSERT INTO llm_calls_raw SELECT DISTINCT ON (trace_id, span_id) * FROM tt_llm n WHERE NOT EXISTS "
                          "(SELECT 1 FROM llm_calls_raw o WHERE o.trace_id = n.trace_id AND o.span_id = n.span_id)").fetchall()
            else:
                c.execute("INSERT INTO spans SELECT * FROM tt_spans").fetchall()
                c.execute("INSERT INTO llm_calls_raw SELECT * FROM tt_llm").fetchall()
            c.unregister("tt_spans")
            c.unregister("tt_llm")
        results[name] = round(n / (time.perf_counter() - t))
        s.close()
    out["dedupe_spans_per_s"] = results
    return out


def overload_run(tmp: Path, clients: int, seconds: float, batch: int) -> dict:
    db = tmp / "overload.duckdb"
    proc, url = start_collector(db, "--max-queued-spans", str(batch * 2))
    acked, sent, _ = run_clients(url, clients, seconds, batch)
    rss = peak_rss_mb(proc.pid)
    import urllib.request

    metrics = urllib.request.urlopen(url + "/metrics", timeout=60).read().decode()
    refused = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith('tokentrail_collector_requests_total{transport="http",code="503"}'))
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    spans, _ = count_rows(db)
    return {"clients": clients, "queue_spans": batch * 2, "acked_spans": acked, "responses_503": int(refused),
            "rows_spans": spans, "every_acked_stored": spans >= acked, "collector_peak_rss_mb": round(rss, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--overload-clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = baseline(tmp, args.batch)
        run = collector_run(tmp, args.clients, args.seconds, args.batch)
        over = overload_run(tmp, args.overload_clients, max(args.seconds / 2, 5), args.batch)
    figures = {"collector": run, "baseline": base, "overload": over,
               "ratio_collector_vs_store_write": round(run["spans_per_s"] / base["store_write_spans_per_s"], 3),
               "ratio_collector_vs_raw_arrow_insert": round(run["spans_per_s"] / base["duckdb_arrow_insert_no_keys_rows_per_s"], 3),
               "target_spans_per_s": 50_000}
    rows = [
        ("collector, end to end (spans/s acked)", run["spans_per_s"]),
        ("  collector CPU per span (µs, all threads)", run["collector_cpu_us_per_span"]),
        ("  1-minute load average at the end", round(run["load_average_1m"], 2)),
        ("  rows stored == acked", run["rows_match_acked"]),
        ("decode only, one core (spans/s)", base["decode_spans_per_s"]),
        ("  decode CPU per span (µs)", base["decode_cpu_us_per_span"]),
        ("Store.write only (spans/s)", base["store_write_spans_per_s"]),
        ("  Store.write CPU per span (µs)", base["store_write_cpu_us_per_span"]),
        ("DuckDB Arrow insert, no keys (rows/s)", base["duckdb_arrow_insert_no_keys_rows_per_s"]),
        *((f"dedupe: {k} (spans/s)", v) for k, v in base["dedupe_spans_per_s"].items()),
        ("overload: 503 responses", over["responses_503"]),
        ("overload: collector peak RSS (MB)", over["collector_peak_rss_mb"]),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
