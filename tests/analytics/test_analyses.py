"""The analysis API: every figure recomputed in plain Python from the rows the test inserted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from tokentrail.analytics.analyses import DIMENSIONS
from tokentrail.analytics.overrides import Overrides

from tokentrail import analytics as a

T0 = datetime(2026, 11, 2, 9)


def pct_cont(values: list[float], q: float) -> float:
    """percentile_cont: linear interpolation between closest ranks."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _rows() -> list[dict]:
    rows = []
    for i in range(20):  # gpt-4o: durations 100..2000 ms, every other call streamed
        rows.append({"ts": T0 + timedelta(minutes=i), "model": "gpt-4o", "feature": "chat", "user_id": f"u{i % 3}",
                     "service": "api", "input_tokens": 10_000, "output_tokens": 500, "duration_ms": 100.0 * (i + 1),
                     "ttft_ms": 20.0 * (i + 1) if i % 2 == 0 else None, "stream": i % 2 == 0,
                     "retry_count": 1 if i < 3 else 0, "retry_wait_ms": 500.0 if i < 3 else 0.0,
                     "finish_reason": "length" if i in (4, 5, 6) else "stop", "context_utilization": 0.9 if i in (0, 1) else 0.1})
    for i in range(2):  # failed after two retries; the last answer was a 429
        rows.append({"ts": T0 + timedelta(hours=1, minutes=i), "model": "gpt-4o", "feature": "chat", "user_id": "u0",
                     "service": "api", "status": "error", "error_type": "RateLimitError", "http_status": 429,
                     "retry_count": 2, "retry_wait_ms": 1000.0, "duration_ms": 3000.0,
                     "input_tokens": None, "output_tokens": None})
    for i in range(10):  # gpt-4o-mini with prompt caching, and two response-cache hits
        hit = i >= 8
        rows.append({"ts": T0 + timedelta(days=1, minutes=i), "model": "gpt-4o-mini", "feature": "search",
                     "user_id": "u9", "service": "worker", "input_tokens": 0 if hit else 100_000,
                     "cached_input_tokens": 0 if hit else (60_000 if i < 5 else 0), "output_tokens": 0 if hit else 1_000,
                     "duration_ms": 5.0 if hit else 400.0, "cache_hit": hit,
                     "saved_input_tokens": 100_000 if hit else None, "saved_output_tokens": 1_000 if hit else None,
                     "saved_ms": 400.0 if hit else None})
    rows.append({"ts": T0 + timedelta(days=1), "model": "house-model", "feature": "search", "user_id": "u9",
                 "service": "worker", "input_tokens": 5_000, "output_tokens": 50, "duration_ms": 50.0,
                 "status": "error", "error_type": "APIConnectionError"})
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    from tests.analytics.conftest import insert_calls

    path = insert_calls(tmp_path_factory.mktemp("an") / "a.duckdb", ROWS)
    return a.connect(db=path, overrides=Overrides())


def cost(r: dict) -> float | None:
    rates = {"gpt-4o": (2.5, 1.25, 10.0), "gpt-4o-mini": (0.15, 0.075, 0.6)}.get(r["model"])
    if rates is None:
        return None
    i, c, o = r.get("input_tokens") or 0, r.get("cached_input_tokens") or 0, r.get("output_tokens") or 0
    return ((i - c) * rates[0] + c * rates[1] + o * rates[2]) / 1e6


def test_cost_by_each_dimension(src):
    for dim, col in (("model", "model"), ("feature", "feature"), ("user", "user_id"), ("service", "service"),
                     ("provider", "provider")):
        got = a.cost_by(src, None, dim).set_index(dim)
        for key in {r.get(col, "openai") for r in ROWS}:
            mine = [r for r in ROWS if r.get(col, "openai") == key]
            priced = [cost(r) for r in mine if cost(r) is not None]
            assert got.loc[key, "calls"] == len(mine)
            assert got.loc[key, "unpriced_calls"] == len(mine) - len(priced)
            if priced:
                assert got.loc[key, "cost_usd"] == pytest.approx(sum(priced))
    by_day = a.cost_by(src, None, ("day", "model"))
    assert len(by_day) == 3  # 2 Nov gpt-4o, 3 Nov gpt-4o-mini and house-model
    assert by_day["cost_usd"].sum() == pytest.approx(sum(c for r in ROWS if (c := cost(r)) is not None))


def test_filters(src):
    f = a.Filters(start="2026-11-03", end="2026-11-03", feature=["search"], model="gpt-4o-mini")
    got = a.totals(src, f)
    assert got["calls"] == 10
    sql, params = f.where()
    assert sql.count("?") == len(params) == 4
    assert a.totals(src, a.Filters(user=[]))["calls"] == 0  # an empty list selects nothing


def test_latency_by_model(src):
    ok = [r for r in ROWS if r["model"] == "gpt-4o" and r.get("status", "ok") == "ok"]
    row = a.latency_by_model(src).set_index("model").loc["gpt-4o"]
    durations = [r["duration_ms"] for r in ok]
    assert row["calls"] == 20
    for q, col in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        assert row[col] == pytest.approx(pct_cont(durations, q))
    ttfts = [r["ttft_ms"] for r in ok if r["ttft_ms"] is not None]
    assert row["ttft_p95_ms"] == pytest.approx(pct_cont(ttfts, 0.95))
    gen_s = sum(r["duration_ms"] - (r["ttft_ms"] or 0) for r in ok) / 1000
    assert row["output_tokens_per_s"] == pytest.approx(sum(r["output_tokens"] for r in ok) / gen_s)
    mini = a.latency_by_model(src).set_index("model").loc["gpt-4o-mini"]
    assert mini["calls"] == 8  # response-cache hits excluded
    assert len(a.latency_over_time(src, grain="day")) == 2


def test_retries(src):
    s = a.retry_summary(src).set_index("model").loc["gpt-4o"]
    assert s["calls"] == 22 and s["retried_calls"] == 5 and s["retries"] == 3 + 4
    assert s["retry_rate"] == pytest.approx(5 / 22)
    assert s["backoff_ms"] == 3 * 500 + 2 * 1000
    assert s["failed_calls"] == 2 and s["failed_after_retry"] == 2 and s["failed_cost_usd"] == 0
    dist = a.attempt_distribution(src).set_index("attempts")
    assert dist.loc[1, "calls"] == 17 + 10 + 1 and dist.loc[2, "calls"] == 3 and dist.loc[3, "failed"] == 2


def test_rate_limit_pressure_counts_retry_events_and_final_429s(tmp_path):
    import duckdb

    from tests.analytics.conftest import insert_calls

    path = insert_calls(tmp_path / "r.duckdb", [
        {"ts": T0, "model": "gpt-4o", "trace_id": "a" * 32, "span_id": "1" * 16, "retry_count": 2},
        {"ts": T0 + timedelta(minutes=5), "model": "gpt-4o", "trace_id": "b" * 32, "span_id": "2" * 16,
         "status": "error", "http_status": 429, "retry_count": 0},
    ])
    events = [{"name": "tokentrail.retry", "time_unix_nano": 1,
               "attributes": {"tokentrail.retry.attempt": n, "http.response.status_code": code,
                              "error.type": "RateLimitError", "tokentrail.retry.backoff_ms": 250.0}}
              for n, code in ((1, 429), (2, 503))]
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO spans (trace_id, span_id, name, ts, events) VALUES (?, ?, 'chat gpt-4o', ?, ?)",
                ["a" * 32, "1" * 16, T0, json.dumps(events)])
    con.close()
    got = a.rate_limit_pressure(a.connect(db=path, overrides=Overrides())).iloc[0]
    assert (got["model"], got["hour"], got["calls"]) == ("gpt-4o", T0, 2)
    assert (got["retried_429"], got["final_429"], got["total_429"]) == (1, 1, 2)


def test_errors_over_time(src):
    got = a.errors_over_time(src, grain="day")
    assert list(got["error_type"]) == ["RateLimitError", "APIConnectionError"]
    assert list(got["errors"]) == [2, 1]
    assert got.iloc[0]["error_rate"] == pytest.approx(2 / 22)
    assert got.iloc[1]["error_rate"] == pytest.approx(1 / 11)


def test_prompt_and_response_cache(src):
    p = a.prompt_cache(src).set_index("model").loc["gpt-4o-mini"]
    assert p["calls"] == 8 and p["hit_rate"] == pytest.approx(5 / 8)
    assert p["cached_share"] == pytest.approx(5 * 60_000 / (8 * 100_000))
    assert p["savings_usd"] == pytest.approx(5 * 60_000 * (0.15 - 0.075) / 1e6)
    r = a.response_cache(src).set_index("model").loc["gpt-4o-mini"]
    assert r["hits"] == 2 and r["hit_rate"] == pytest.approx(2 / 10)
    assert r["saved_cost_usd"] == pytest.approx(2 * (100_000 * 0.15 + 1_000 * 0.6) / 1e6)
    assert r["saved_ms"] == 800.0 and r["saved_input_tokens"] == 200_000


def test_context_pressure(src):
    c = a.context_pressure(src).set_index("model").loc["gpt-4o"]
    assert c["calls_over_threshold"] == 2 and c["share_over_threshold"] == pytest.approx(2 / 22)
    assert c["length_stops"] == 3 and c["length_share"] == pytest.approx(3 / 22)
    assert c["context_window"] == 128_000


def test_what_if_reprices_a_feature_under_other_models(src):
    from tokentrail.analytics import Rates

    got = a.what_if(src, a.Filters(feature="chat"), models=["gpt-4o-mini", "no-such-model"],
                    rates={"half": Rates(input=1.25, output=5.0)}, at=datetime(2026, 11, 2)).set_index("scenario")
    chat = [r for r in ROWS if r["feature"] == "chat"]
    inp = sum(r["input_tokens"] or 0 for r in chat)
    out = sum(r["output_tokens"] or 0 for r in chat)
    assert got.loc["actual", "cost_usd"] == pytest.approx(sum(cost(r) for r in chat))
    assert got.loc["gpt-4o-mini", "cost_usd"] == pytest.approx((inp * 0.15 + out * 0.6) / 1e6)
    assert got.loc["half", "cost_usd"] == pytest.approx(got.loc["actual", "cost_usd"] / 2)
    assert not got.loc["no-such-model", "price_known"]


def test_overview(src):
    k = a.overview(src, None, as_of=datetime(2026, 11, 4)).iloc[0]
    assert k["calls"] == len(ROWS)
    assert k["error_rate"] == pytest.approx(3 / len(ROWS))
    assert k["unpriced_calls"] == 1
    assert k["cache_savings_usd"] == pytest.approx(5 * 60_000 * 0.075 / 1e6 + 2 * (15_000 + 600) / 1e6)


@pytest.mark.parametrize("aligned", [True, False])
def test_cost_by_equals_summing_the_view(make_db, aligned):
    """cost_by prices token sums when prices only change at midnight; either way it must equal SUM(cost_usd)."""
    rows = [{"ts": T0 + timedelta(hours=7 * i), "model": m, "service_tier": tier, "feature": f"f{i % 3}",
             "input_tokens": 1000 * (i + 1), "cached_input_tokens": 100 * i, "output_tokens": 50 * i,
             "reasoning_tokens": 10 * i if m == "o3" else None}
            for i in range(40) for m, tier in (("gpt-4o", None), ("gpt-4o", "batch"), ("o3", None), ("nope", None))]
    if not aligned:  # DeepSeek's off-peak window makes prices change within a day
        rows.append({"ts": T0, "provider": "deepseek", "model": "deepseek-chat", "input_tokens": 5000,
                     "output_tokens": 100})
    src = a.connect(db=make_db(rows), overrides=Overrides())
    assert bool(src.query("SELECT day_aligned FROM pricing_info").iloc[0, 0]) is aligned
    for by in (("day", "model"), ("feature",), ("hour", "service_tier"), ("model",)):
        got = a.cost_by(src, a.Filters(start=T0 + timedelta(hours=5)), by)
        cols = ", ".join(DIMENSIONS[n] for n in by)
        want = src.query(f"SELECT {cols}, count(*) AS n, sum(cost_usd) AS c, count(CASE WHEN NOT price_known "
                         f"THEN 1 END) AS u FROM llm_calls WHERE ts >= ? GROUP BY ALL", [T0 + timedelta(hours=5)])
        assert len(got) == len(want)
        merged = got.merge(want, left_on=list(by), right_on=list(want.columns[: len(by)]))
        assert len(merged) == len(want)
        assert (merged["calls"] == merged["n"]).all() and (merged["unpriced_calls"] == merged["u"]).all()
        assert merged["cost_usd"].fillna(-1).to_numpy() == pytest.approx(merged["c"].fillna(-1).to_numpy())
