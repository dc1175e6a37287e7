"""Prometheus text exposition for `GET /metrics`.

Ingest figures come from in-process counters. LLM aggregates (requests, tokens, cost, latency
histogram per model) are computed from the stored rows at scrape time: they survive restarts,
stay monotonic, and cost comes from the same `llm_calls` view users query (NULL-priced calls add
nothing to the cost counter and are counted in `tokentrail_llm_unpriced_requests_total`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

import duckdb
from tokentrail.collector import compiled
from tokentrail.collector.ingest import IngestQueue
from tokentrail.collector.query import install_views_if_available

log = logging.getLogger("tokentrail.collector")

LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class RequestCounters:
    """HTTP/gRPC outcomes and span counts, keyed by (transport, code)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.spans_received = 0
        self.spans_rejected = 0
        self.overloaded = 0
        self.unauthorized = 0

    def request(self, transport: str, code: int | str) -> None:
        with self._lock:
            self.requests[(transport, str(code))] += 1

    def spans(self, received: int, rejected: int) -> None:
        with self._lock:
            self.spans_received += received
            self.spans_rejected += rejected


def _label(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:.17g}" if isinstance(value, float) else f"{name}{labels} {value}"
              for labels, value in samples]
    return lines


def _llm_families(con: duckdb.DuckDBPyConnection) -> list[str]:
    cursor = con.cursor()
    try:
        has_view = True
        try:
            install_views_if_available(cursor)
            cursor.execute("SELECT 1 FROM llm_calls LIMIT 0").fetchall()
        except (duckdb.Error, ImportError):
            has_view = False
        source = "llm_calls" if has_view else "llm_calls_raw"
        cost = "sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL)" if has_view else "NULL, count(*)"
        buckets = ", ".join(f"count(*) FILTER (WHERE duration_ms <= {b * 1000.0})" for b in LATENCY_BUCKETS_S)
        rows = cursor.execute(
            f"SELECT coalesce(model, ''), coalesce(provider, ''), count(*), sum(input_tokens), "
            f"sum(output_tokens), sum(cached_input_tokens), {cost}, sum(duration_ms) / 1000.0, "
            f"count(duration_ms), {buckets} FROM {source} GROUP BY ALL ORDER BY 1, 2"
        ).fetchall()
    finally:
        cursor.close()
    req, tok, cost_s, unpriced, hist = [], [], [], [], []
    for model, provider, n, tin, tout, tcached, usd, no_price, dur_sum, dur_n, *counts in rows:
        base = f'model="{_label(model)}",provider="{_label(provider)}"'
        req.append((f"{{{base}}}", n))
        tok.append((f'{{{base},type="input"}}', int(tin or 0)))
        tok.append((f'{{{base},type="output"}}', int(tout or 0)))
        tok.append((f'{{{base},type="cached_input"}}', int(tcached or 0)))
        cost_s.append((f"{{{base}}}", float(usd or 0.0)))
        unpriced.append((f"{{{base}}}", int(no_price or 0)))
        for bound, count in zip(LATENCY_BUCKETS_S, counts, strict=True):
            hist.append((f'_bucket{{{base},le="{bound:g}"}}', count))
        hist.append((f'_bucket{{{base},le="+Inf"}}', dur_n))
        hist.append((f"_sum{{{base}}}", float(dur_sum or 0.0)))
        hist.append((f"_count{{{base}}}", dur_n))
    lines = _family("tokentrail_llm_requests_total", "counter", "LLM calls stored, by model.", req)
    lines += _family("tokentrail_llm_tokens_total", "counter", "Tokens of stored LLM calls, by model and type.", tok)
    lines += _family("tokentrail_llm_cost_usd_total", "counter", "Cost of stored LLM calls in USD (priced calls only).", cost_s)
    lines += _family("tokentrail_llm_unpriced_requests_total", "counter", "LLM calls whose model has no known price.", unpriced)
    hist_lines = ["# HELP tokentrail_llm_duration_seconds Duration of stored LLM calls.",
                  "# TYPE tokentrail_llm_duration_seconds histogram"]
    hist_lines += [f"tokentrail_llm_duration_seconds{suffix} {value}" for suffix, value in hist]
    return lines + hist_lines


def render(con: duckdb.DuckDBPyConnection, queue: IngestQueue, counters: RequestCounters) -> str:
    stats = queue.stats
    lines: list[str] = []
    lines += _family("tokentrail_collector_requests_total", "counter", "Export requests by transport and response code.",
                     [(f'{{transport="{t}",code="{c}"}}', n) for (t, c), n in sorted(counters.requests.items())])
    lines += _family("tokentrail_collector_spans_received_total", "counter", "Spans decoded from export requests.",
                     [("", counters.spans_received)])
    lines += _family("tokentrail_collector_spans_rejected_total", "counter", "Spans rejected as invalid (partial success).",
                     [("", counters.spans_rejected)])
    lines += _family("tokentrail_collector_spans_committed_total", "counter", "Spans committed to DuckDB (duplicates included).",
                     [("", stats.spans_committed)])
    lines += _family("tokentrail_collector_spans_stored_total", "counter", "New span rows (duplicates skipped).",
                     [("", stats.spans_new)])
    lines += _family("tokentrail_collector_llm_calls_stored_total", "counter", "New llm_calls_raw rows.",
                     [("", stats.llm_new)])
    lines += _family("tokentrail_collector_transactions_total", "counter", "DuckDB write transactions.",
                     [("", stats.transactions)])
    lines += _family("tokentrail_collector_write_errors_total", "counter", "Failed write transactions.",
                     [("", stats.write_errors)])
    lines += _family("tokentrail_collector_write_seconds_total", "counter", "Time spent in write transactions.",
                     [("", float(stats.write_seconds))])
    lines += _family("tokentrail_collector_queue_spans", "gauge", "Spans accepted and waiting to be committed.",
                     [("", queue.depth)])
    lines += _family("tokentrail_collector_queue_capacity_spans", "gauge", "Capacity of the write queue in spans.",
                     [("", queue.max_queued_spans)])
    lines += _family("tokentrail_collector_decoder_compiled", "gauge",
                     "1 when the span decoder runs compiled, 0 when it runs as plain Python.",
                     [("", int(compiled.all_compiled()))])
    lines += _family("tokentrail_collector_rejections_total", "counter", "Requests refused, by reason.",
                     [('{reason="overloaded"}', counters.overloaded), ('{reason="unauthorized"}', counters.unauthorized)])
    try:
        lines += _llm_families(con)
    except duckdb.Error:
        log.exception("computing LLM metrics failed")
    return "\n".join(lines) + "\n"
