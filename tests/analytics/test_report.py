"""The monthly report: every figure checked against a direct SQL query over llm_calls."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from tokentrail.analytics import Filters, connect, query
from tokentrail.analytics.overrides import Overrides
from tokentrail.analytics.report import build_report, render_html, render_markdown

from tokentrail.cli import main

AS_OF = datetime(2026, 11, 21)


def _rows() -> list[dict]:
    rows = []
    for d in range(1, 32):  # October: chat on gpt-4o, $2.50 a day
        rows.append({"ts": datetime(2026, 10, d, 9), "model": "gpt-4o", "feature": "chat", "user_id": "u1",
                     "input_tokens": 1_000_000, "output_tokens": 0})
    for d in range(1, 24):  # November, also after the cut (21st) so the cut is exercised
        rows.append({"ts": datetime(2026, 11, d, 9), "model": "gpt-4o", "feature": "chat", "user_id": "u1",
                     "input_tokens": 1_000_000, "output_tokens": 0, "cached_input_tokens": 200_000})
        rows.append({"ts": datetime(2026, 11, d, 10), "model": "gpt-4o-mini", "feature": "search",
                     "user_id": "u2", "input_tokens": 1_000_000, "output_tokens": 100_000})
    for i in range(10):  # a spike on 12 November
        rows.append({"ts": datetime(2026, 11, 12, 11, i), "model": "gpt-4o", "feature": "batch-job",
                     "user_id": "u3", "input_tokens": 1_000_000, "output_tokens": 50_000})
    for i in range(5):  # an unpriced model
        rows.append({"ts": datetime(2026, 11, 5, 12, i), "model": "house-model-v2", "feature": "chat",
                     "user_id": "u1", "input_tokens": 10_000, "output_tokens": 1_000})
    for i in range(2):  # failed after retries, usage counted locally
        rows.append({"ts": datetime(2026, 11, 7, 13, i), "model": "gpt-4o", "feature": "chat", "user_id": "u1",
                     "status": "error", "error_type": "APITimeoutError", "retry_count": 2,
                     "retry_wait_ms": 1500.0, "input_tokens": 100_000, "output_tokens": 5_000,
                     "usage_source": "tiktoken"})
    rows.append({"ts": datetime(2026, 11, 8, 9), "model": "gpt-4o", "feature": "chat", "user_id": "u1",
                 "cache_hit": True, "input_tokens": 0, "output_tokens": 0, "saved_input_tokens": 400_000,
                 "saved_output_tokens": 10_000, "saved_ms": 2500.0})
    return rows


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from tests.analytics.conftest import insert_calls

    return insert_calls(tmp_path_factory.mktemp("report") / "r.duckdb", _rows())


@pytest.fixture(scope="module")
def report(db):
    return build_report(connect(db=db, overrides=Overrides()), "2026-11", budget=100.0, as_of=AS_OF)


def sql1(db, sql, params=()):
    return query(sql, list(params), db=db).iloc[0, 0]


NOV = [datetime(2026, 11, 1), AS_OF]
OCT_SAME = [datetime(2026, 10, 1), datetime(2026, 10, 21)]


def test_spend_and_forecast_match_sql(db, report):
    spend = sql1(db, "SELECT sum(cost_usd) FROM llm_calls WHERE ts >= ? AND ts < ?", NOV)
    assert report.totals["cost_usd"] == pytest.approx(spend)
    assert report.totals["calls"] == sql1(db, "SELECT count(*) FROM llm_calls WHERE ts >= ? AND ts < ?", NOV)
    assert report.forecast.forecast == pytest.approx(spend / 20 * 30)
    assert report.forecast.run_out == datetime(2026, 11, 1) + timedelta(days=100.0 / (spend / 20))
    prev = sql1(db, "SELECT sum(cost_usd) FROM llm_calls WHERE ts >= ? AND ts < ?", OCT_SAME)
    assert report.prev_totals["cost_usd"] == pytest.approx(prev) == pytest.approx(20 * 2.5)


@pytest.mark.parametrize(("name", "column"), [("model", "model"), ("feature", "feature"), ("user", "user_id")])
def test_breakdowns_match_sql(db, report, name, column):
    cur = query(f"SELECT {column} AS k, sum(cost_usd) AS c, count(*) AS n FROM llm_calls "
                "WHERE ts >= ? AND ts < ? GROUP BY 1", NOV, db=db)
    prev = query(f"SELECT {column} AS k, sum(cost_usd) AS c FROM llm_calls WHERE ts >= ? AND ts < ? GROUP BY 1",
                 OCT_SAME, db=db)
    got = report.breakdowns[name].set_index(name)
    for k, c, n in cur.itertuples(index=False):
        assert got.loc[k, "calls"] == n
        if c == c:
            assert got.loc[k, "cost_usd"] == pytest.approx(c)
        else:
            assert got.loc[k, "cost_usd"] != got.loc[k, "cost_usd"]  # unpriced stays NULL, not $0
    for k, c in prev.itertuples(index=False):
        assert got.loc[k, "prev_cost_usd"] == pytest.approx(c)
    if name == "model":
        row = got.loc["gpt-4o"]
        assert row["change_pct"] == pytest.approx((row["cost_usd"] - row["prev_cost_usd"]) / row["prev_cost_usd"] * 100)


def test_drivers_losses_cache_and_unpriced_match_sql(db, report):
    top = report.drivers.iloc[0]
    best = query("SELECT model, feature, sum(cost_usd) AS c FROM llm_calls WHERE ts >= ? AND ts < ? "
                 "AND price_known GROUP BY 1, 2 ORDER BY c DESC LIMIT 1", NOV, db=db).iloc[0]
    assert (top["model"], top["feature"]) == (best["model"], best["feature"])
    assert top["cost_usd"] == pytest.approx(best["c"])
    t = report.totals
    assert t["error_cost_usd"] == pytest.approx(
        sql1(db, "SELECT sum(cost_usd) FROM llm_calls WHERE status = 'error' AND ts >= ? AND ts < ?", NOV))
    assert t["error_cost_usd"] == pytest.approx(2 * (100_000 * 2.5 + 5_000 * 10) / 1e6)
    assert t["retry_wait_ms"] == 3000.0 and t["retries"] == 4
    assert t["response_cache_saved_usd"] == pytest.approx((400_000 * 2.5 + 10_000 * 10) / 1e6)
    # prompt cache: 200k cached tokens a day at ($2.50 - $1.25) for 20 days
    assert t["prompt_cache_saved_usd"] == pytest.approx(20 * 200_000 * 1.25 / 1e6)
    assert t["unpriced_calls"] == 5
    assert list(report.unpriced_models["model"]) == ["house-model-v2"]


def test_anomalous_days(report):
    assert list(report.anomalies["day"]) == [date(2026, 11, 12)]
    row = report.anomalies.iloc[0]
    # baseline = median of the 7 previous days = $2.50 (chat, 20% cached -> $2.25) + $0.21 (search)
    assert row["baseline_usd"] == pytest.approx(2.25 + 0.15 + 0.06)


def test_markdown_and_self_contained_html(report):
    md = render_markdown(report)
    assert f"${report.totals['cost_usd']:,.2f}" in md
    assert "house-model-v2" in md and "2026-11-12" in md
    html = render_html(report)
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 3
    # self-contained: nothing to fetch (the only URL is the SVG namespace identifier)
    urls = set(re.findall(r"https?://[^\"' )]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "<script" not in html and "<link" not in html


def test_report_command_writes_files_and_filters(db, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--month", "2026-11", "--budget", "100", "--db", str(db), "--as-of", "2026-11-21",
                 "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert main(["report", "--month", "2026-11", "--db", str(db), "--as-of", "2026-11-21",
                 "--feature", "search"]) == 0
    md = capsys.readouterr().out
    assert "Filtered: feature=search" in md and f"${20 * 0.21:,.2f}" in md
    assert main(["report", "--month", "Nov", "--db", str(db)]) == 2


def test_report_with_filters_matches_sql(db):
    r = build_report(connect(db=db, overrides=Overrides()), "2026-11", as_of=AS_OF, filters=Filters(user="u3"))
    assert r.totals["cost_usd"] == pytest.approx(10 * (2.5 + 0.5))


def test_empty_month_and_not_a_tokentrail_file(make_db, tmp_path, capsys):
    empty = make_db([])
    assert main(["report", "--month", "2026-11", "--db", str(empty), "--budget", "10", "--as-of", "2026-11-15"]) == 0
    out = capsys.readouterr().out
    assert "| Spend | $0.00 |" in out and "not this month" in out
    cfg = tmp_path / "b.toml"
    cfg.write_text("[[budget]]\nmonthly_usd = 10\n")
    assert main(["budget", "check", "--config", str(cfg), "--db", str(empty), "--as-of", "2026-11-15"]) == 0
    import duckdb

    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (a INTEGER)").close()
    assert main(["sql", "SELECT count(*) FROM llm_calls", "--db", str(other)]) == 1
    assert "not a tokentrail database" in capsys.readouterr().err


def test_budget_already_exceeded_reports_the_day_it_was_crossed(db):
    # Spend: $2.46 a day (chat $2.25 + search $0.21) plus $30 on the 12th -> crosses $40 on 12 November.
    r = build_report(connect(db=db, overrides=Overrides()), "2026-11", budget=40.0, as_of=AS_OF)
    daily = r.daily.set_index("day")["cost_usd"]
    crossing = next(d for d, c in daily.cumsum().items() if c >= 40.0)
    assert crossing == date(2026, 11, 12)
    assert r.forecast.run_out == datetime(2026, 11, 12)
    assert "| Budget ran out | 2026-11-12 (the day spend crossed it) |" in render_markdown(r)
