"""Every page under Streamlit's AppTest on a real DuckDB file: the figures shown equal independent
SQL on the same file, and changing a filter changes them (and still matches)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dash_helpers import metrics, number, plotly_figure, series, shown_close


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# -- overview ---------------------------------------------------------------------------------

def _overview_expected(direct, **eq):
    start, end = direct.default_range()
    where, params = direct.where(start, end, **eq)
    calls, cost, errors = direct.one(
        f"SELECT count(*), sum(cost_usd), count(*) FILTER (WHERE status = 'error') FROM llm_calls {where}", params)
    (p95,) = direct.one(
        f"SELECT quantile_cont(duration_ms, 0.95) FROM llm_calls_raw {where} AND status = 'ok' AND NOT cache_hit",
        params)
    (saved,) = direct.one(
        f"""SELECT coalesce(sum(saved_cost_usd), 0)
                   + coalesce(sum(CASE WHEN price_known AND NOT cache_hit
                                  THEN cached_input_tokens * (input_per_mtok - cache_read_per_mtok) / 1e6 END), 0)
            FROM llm_calls_priced {where}""", params)
    month_start = datetime.now(timezone.utc).replace(tzinfo=None, day=1, hour=0, minute=0, second=0, microsecond=0)
    mtd_where = " AND ".join(["ts >= ?"] + [f"{k} = ?" for k in eq])
    (mtd,) = direct.one(f"SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE {mtd_where}",
                        [month_start, *eq.values()])
    return {"Spend": cost, "Calls": calls, "Error rate": errors / calls * 100, "p95 latency": p95,
            "Cache savings": saved, "Month-to-date spend": mtd}


def _check_overview(m, expected):
    assert shown_close(m["Spend"], expected["Spend"])
    assert number(m["Calls"]) == expected["Calls"]
    assert shown_close(m["Error rate"], expected["Error rate"])
    scale = 1000 if m["p95 latency"].endswith(" s") else 1
    assert shown_close(m["p95 latency"], expected["p95 latency"], scale)
    assert shown_close(m["Cache savings"], expected["Cache savings"])
    assert shown_close(m["Month-to-date spend"], expected["Month-to-date spend"])


def test_overview_figures_match_sql_and_follow_filters(open_app, sample_db, direct):
    at = open_app(sample_db, "overview")
    _ok(at)
    before = metrics(at)
    _check_overview(before, _overview_expected(direct))
    assert at.warning and "no known price" in at.warning[0].value  # the unpriced model is called out
    assert "acme-llm-7b" in at.warning[0].value
    assert len(at.get("plotly_chart")) == 1

    at.multiselect(key="model").set_value(["gpt-4o"]).run()
    _ok(at)
    after = metrics(at)
    assert after["Spend"] != before["Spend"] and after["Calls"] != before["Calls"]
    _check_overview(after, _overview_expected(direct, model="gpt-4o"))
    assert not at.warning  # gpt-4o is priced


def test_overview_forecast_against_budget(open_app, sample_db, direct, tmp_path, monkeypatch):
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[[budget]]\nname = \"total\"\nmonthly_usd = 1.0\n")
    monkeypatch.setenv("TOKENTRAIL_BUDGETS", str(budgets))
    at = open_app(sample_db, "overview")
    m = metrics(at)
    assert m["Monthly budget"] == "$1.00"
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + timedelta(days=32)).replace(day=1)
    (mtd,) = direct.one("SELECT sum(cost_usd) FROM llm_calls WHERE ts >= ?", [start])
    forecast = mtd / ((now - start) / (nxt - start))
    assert shown_close(m["Month-end forecast"], forecast)
    assert any("runs out" in w.value for w in at.warning)


# -- costs ------------------------------------------------------------------------------------

def _cost_table(direct, column, **eq):
    start, end = direct.default_range()
    where, params = direct.where(start, end, **eq)
    rows = direct.all(
        f"""SELECT coalesce({column}, '(none)'), count(*), sum(cost_usd), count(*) FILTER (WHERE NOT price_known)
            FROM llm_calls {where} GROUP BY 1""", params)
    return {r[0]: r[1:] for r in rows}


def _check_cost_table(df, label, expected):
    shown = {row[label]: row for _, row in df.iterrows()}
    assert set(shown) == set(expected)
    for key, (calls, cost, unpriced) in expected.items():
        assert shown[key]["Calls"] == calls
        assert shown[key]["Unpriced calls"] == unpriced
        if cost is None:
            assert shown[key]["Spend (USD)"] != shown[key]["Spend (USD)"]  # NaN: unknown, never 0
        else:
            assert shown[key]["Spend (USD)"] == pytest.approx(cost, rel=1e-9)


def test_costs_breakdown_by_model_feature_and_filtered(open_app, sample_db, direct):
    at = open_app(sample_db, "costs")
    _ok(at)
    _check_cost_table(at.dataframe[0].value, "Model", _cost_table(direct, "model"))
    assert at.dataframe[0].value["Spend (USD)"].isna().any()  # acme-llm-7b has no price: NaN, not $0

    at.segmented_control(key="by").set_value("feature").run()
    _ok(at)
    _check_cost_table(at.dataframe[0].value, "Feature", _cost_table(direct, "feature"))
    assert at.query_params["by"] == "feature"

    at.multiselect(key="service").set_value(["worker"]).run()
    _ok(at)
    _check_cost_table(at.dataframe[0].value, "Feature", _cost_table(direct, "feature", service="worker"))


def test_costs_stack_from_url_and_chart_series(open_app, sample_db, direct):
    at = open_app(sample_db, "costs", by="user", service="api")
    _ok(at)
    _check_cost_table(at.dataframe[0].value, "User", _cost_table(direct, "user_id", service="api"))
    fig = plotly_figure(at.get("plotly_chart")[0])
    names = {t["name"] for t in fig["data"]}
    assert "(other)" in names and len(names) == 11  # top 10 users plus the rest folded together
    total = sum(sum(series(t["y"])) for t in fig["data"])
    start, end = direct.default_range()
    where, params = direct.where(start, end, service="api")
    (expected,) = direct.one(f"SELECT sum(cost_usd) FROM llm_calls {where}", params)
    assert total == pytest.approx(expected, rel=1e-9)


def test_costs_drill_down_from_row_and_from_bar(open_app, sample_db, direct):
    at = open_app(sample_db, "costs")
    top_model = at.dataframe[0].value.iloc[0]["Model"]
    at.session_state["costs_table_model"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    _ok(at)
    assert any(f"Calls behind model {top_model}" in h.value for h in at.subheader)
    start, end = direct.default_range()
    where, params = direct.where(start, end, model=top_model)
    calls, cost = direct.one(f"SELECT count(*), sum(cost_usd) FROM llm_calls {where}", params)
    caption = next(c.value for c in at.caption if "in total" in c.value)
    assert caption.startswith(f"{calls:,} calls")
    drill = at.dataframe[1].value
    assert len(drill) == min(calls, 200) and set(drill["model"]) == {top_model}
    (top_cost,) = direct.one(f"SELECT max(cost_usd) FROM llm_calls {where}", params)
    assert drill["cost_usd"].iloc[0] == pytest.approx(top_cost)

    # a click on one bar segment: that model on that day
    day = end - timedelta(days=3)
    at.session_state["costs_table_model"] = {"selection": {"rows": [], "columns": [], "cells": []}}
    at.session_state["costs_chart_model"] = {"selection": {"points": [
        {"x": day.isoformat(), "y": 0.1, "curve_number": 0, "point_number": 0, "customdata": [top_model]}],
        "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    _ok(at)
    assert any(f"Calls behind model {top_model} on {day:%d %b %Y}" in h.value for h in at.subheader)
    where, params = direct.where(day, day, model=top_model)
    (calls,) = direct.one(f"SELECT count(*) FROM llm_calls {where}", params)
    caption = next(c.value for c in at.caption if "in total" in c.value)
    assert caption.startswith(f"{calls:,} calls")

    # and from a listed call on to its detail page
    at.session_state["drill_model"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    span_id = at.dataframe[-1].value.iloc[0]["span_id"]
    next(b for b in at.button if b.label.startswith("Open call")).click().run()
    _ok(at)
    assert at.query_params["page"] == "call"
    assert at.text_input(key="span").value == span_id


# -- latency ----------------------------------------------------------------------------------

def _latency_expected(direct, **eq):
    start, end = direct.default_range()
    where, params = direct.where(start, end, **eq)
    return direct.one(
        f"""SELECT quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.95),
                   quantile_cont(duration_ms, 0.99), quantile_cont(ttft_ms, 0.5)
            FROM llm_calls_raw {where} AND status = 'ok' AND NOT cache_hit""", params)


def _check_latency(m, expected):
    for label, value in zip(("p50", "p95", "p99", "Time to first token (p50)"), expected, strict=True):
        scale = 1000 if m[label].endswith(" s") else 1
        assert shown_close(m[label], value, scale), (label, m[label], value)


def test_latency_percentiles_match_sql_and_follow_filters(open_app, sample_db, direct):
    at = open_app(sample_db, "latency")
    _ok(at)
    before = metrics(at)
    _check_latency(before, _latency_expected(direct))
    by_model = at.dataframe[0].value.set_index("model")
    start, end = direct.default_range()
    where, params = direct.where(start, end, model="gpt-4o-mini")
    (p95,) = direct.one(f"SELECT quantile_cont(duration_ms, 0.95) FROM llm_calls_raw {where} AND status = 'ok' "
                        "AND NOT cache_hit", params)
    assert by_model.loc["gpt-4o-mini", "p95_ms"] == pytest.approx(p95)
    assert len(at.get("plotly_chart")) == 4  # over time, TTFT, speed, distribution

    at.multiselect(key="model").set_value(["o3-mini"]).run()
    _ok(at)
    after = metrics(at)
    assert after["p50"] != before["p50"]
    _check_latency(after, _latency_expected(direct, model="o3-mini"))

    at.segmented_control(key="pct").set_value("p99").run()
    assert any("p99 latency by model" in h.value for h in at.subheader)


# -- retries and errors ---------------------------------------------------------------------

def _errors_expected(direct, **eq):
    start, end = direct.default_range()
    where, params = direct.where(start, end, **eq)
    return direct.one(
        f"""SELECT avg(CASE WHEN retry_count > 0 THEN 1.0 ELSE 0 END) * 100, sum(retry_count), sum(retry_wait_ms),
                   count(*) FILTER (WHERE status = 'error'),
                   coalesce(sum(cost_usd) FILTER (WHERE status = 'error'), 0)
            FROM llm_calls {where}""", params)


def _check_errors(m, expected):
    rate, retries, wait_ms, failed, failed_cost = expected
    assert shown_close(m["Retry rate"], rate)
    assert number(m["Retries"]) == retries
    scale = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}[m["Time backing off"].split()[-1]]
    assert shown_close(m["Time backing off"], wait_ms, scale)
    assert number(m["Failed calls"]) == failed
    assert shown_close(m["Cost of failed calls"], failed_cost)


def test_retries_and_errors_match_sql_and_follow_filters(open_app, sample_db, direct):
    at = open_app(sample_db, "errors")
    _ok(at)
    before = metrics(at)
    _check_errors(before, _errors_expected(direct))
    assert number(before["Cost of failed calls"]) > 0  # timed-out streams were billed
    charts = at.get("plotly_chart")
    assert len(charts) == 3

    by_type = plotly_figure(charts[2])["data"]
    start, end = direct.default_range()
    where, params = direct.where(start, end)
    expected = dict(direct.all(f"SELECT error_type, count(*) FROM llm_calls_raw {where} AND status = 'error' "
                               "GROUP BY 1", params))
    assert {t["name"]: sum(series(t["y"])) for t in by_type} == expected

    rate_limits = plotly_figure(charts[1])["data"]
    (retried_429,) = direct.one(
        f"""SELECT count(*) FROM llm_calls_raw r JOIN spans s USING (trace_id, span_id),
                   unnest(CAST(s.events AS JSON[])) AS e(ev)
            {where.replace('ts', 'r.ts')}
              AND json_extract(ev, '$.attributes."http.response.status_code"')::INTEGER = 429""", params)
    (final_429,) = direct.one(f"SELECT count(*) FROM llm_calls_raw {where} AND http_status = 429", params)
    assert sum(sum(series(t["y"])) for t in rate_limits) == retried_429 + final_429

    at.multiselect(key="service").set_value(["worker"]).run()
    _ok(at)
    after = metrics(at)
    assert after["Retries"] != before["Retries"]
    _check_errors(after, _errors_expected(direct, service="worker"))


# -- cache ------------------------------------------------------------------------------------

def _cache_expected(direct, **eq):
    start, end = direct.default_range()
    where, params = direct.where(start, end, **eq)
    prompt = direct.one(
        f"""SELECT avg(CASE WHEN cached_input_tokens > 0 THEN 1.0 ELSE 0 END) * 100, sum(cached_input_tokens),
                   sum(CASE WHEN price_known THEN cached_input_tokens * (input_per_mtok - cache_read_per_mtok) / 1e6 END)
            FROM llm_calls_priced {where} AND NOT cache_hit""", params)
    app = direct.one(
        f"SELECT count(*) FILTER (WHERE cache_hit), sum(saved_cost_usd), sum(saved_ms) FROM llm_calls {where}",
        params)
    return prompt, app


def _check_cache(at, expected):
    (hit_rate, cached, savings), (hits, saved, saved_ms) = expected
    labels = [m.label for m in at.metric]
    values = [m.value for m in at.metric]
    first = dict(zip(labels[:4], values[:4], strict=True))
    second = dict(zip(labels[4:], values[4:], strict=True))
    assert shown_close(first["Hit rate"], hit_rate)
    assert number(first["Cached input tokens"]) == cached
    assert shown_close(first["Prompt-cache savings"], savings)
    assert number(second["Hits"]) == hits
    assert shown_close(second["Cost saved"], saved)
    scale = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}[second["Time saved"].split()[-1]]
    assert shown_close(second["Time saved"], saved_ms, scale)


def test_cache_savings_match_sql_and_follow_filters(open_app, sample_db, direct):
    at = open_app(sample_db, "cache")
    _ok(at)
    _check_cache(at, _cache_expected(direct))
    before = [m.value for m in at.metric]
    at.multiselect(key="feature").set_value(["search"]).run()
    _ok(at)
    assert [m.value for m in at.metric] != before
    _check_cache(at, _cache_expected(direct, feature="search"))


# -- what-if ----------------------------------------------------------------------------------

# Published OpenAI prices, USD per 1M tokens: gpt-4.1-mini input 0.40, cached input 0.10, output 1.60.
GPT41_MINI = (0.40, 0.10, 1.60)


def test_what_if_reprices_the_slice(open_app, sample_db, direct):
    at = open_app(sample_db, "whatif", to=["gpt-4.1-mini"], feature="search")
    _ok(at)
    start, end = direct.default_range()
    where, params = direct.where(start, end, feature="search")
    calls, actual, uncached, cached, output = direct.one(
        f"""SELECT count(*), sum(cost_usd), sum(input_tokens - cached_input_tokens), sum(cached_input_tokens),
                   sum(output_tokens) FROM llm_calls {where}""", params)
    expected = (uncached * GPT41_MINI[0] + cached * GPT41_MINI[1] + output * GPT41_MINI[2]) / 1e6
    table = at.dataframe[0].value.set_index("scenario")
    assert table.loc["actual", "cost_usd"] == pytest.approx(actual)
    assert table.loc["gpt-4.1-mini", "cost_usd"] == pytest.approx(expected)
    m = metrics(at)
    assert number(m["Calls in the slice"]) == calls
    assert shown_close(m["Actual cost"], actual)

    at.multiselect(key="feature").set_value(["classify"]).run()
    _ok(at)
    where, params = direct.where(start, end, feature="classify")
    (actual2,) = direct.one(f"SELECT sum(cost_usd) FROM llm_calls {where}", params)
    assert actual2 != actual
    assert at.dataframe[0].value.set_index("scenario").loc["actual", "cost_usd"] == pytest.approx(actual2)

    # a custom price
    at.number_input(key="rate_in").set_value(1.0).run()
    at.number_input(key="rate_out").set_value(2.0).run()
    _ok(at)
    uncached, cached, output = direct.one(
        f"SELECT sum(input_tokens - cached_input_tokens), sum(cached_input_tokens), sum(output_tokens) "
        f"FROM llm_calls {where}", params)
    table = at.dataframe[0].value.set_index("scenario")
    assert table.loc["custom price", "cost_usd"] == pytest.approx(((uncached + cached) * 1.0 + output * 2.0) / 1e6)


# -- budget -----------------------------------------------------------------------------------

def test_budget_status_and_report(open_app, sample_db, direct, tmp_path, monkeypatch):
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('[[budget]]\nname = "total"\nmonthly_usd = 50\n\n'
                       '[[budget]]\nfeature = "search"\nmonthly_usd = 0.5\n')
    monkeypatch.setenv("TOKENTRAIL_BUDGETS", str(budgets))
    at = open_app(sample_db, "budget")
    _ok(at)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    table = at.dataframe[0].value.set_index("Budget")
    (total,) = direct.one("SELECT sum(cost_usd) FROM llm_calls WHERE ts >= ?", [month_start])
    (search,) = direct.one("SELECT sum(cost_usd) FROM llm_calls WHERE ts >= ? AND feature = 'search'",
                           [month_start])
    assert table.loc["total", "Spent (USD)"] == pytest.approx(total)
    assert table.loc["feature=search", "Spent (USD)"] == pytest.approx(search)
    assert table.loc["feature=search", "Spent"] == pytest.approx(search / 0.5)
    assert "over budget" in table.loc["feature=search", "Status"]
    assert any("feature=search" in w.value for w in at.warning)

    # the month selector is this page's filter: last month is complete, so spend = the whole month
    prev = (month_start - timedelta(days=1)).strftime("%Y-%m")
    at.selectbox(key="month").set_value(prev).run()
    _ok(at)
    prev_start = (month_start - timedelta(days=1)).replace(day=1)
    (prev_total,) = direct.one("SELECT sum(cost_usd) FROM llm_calls WHERE ts >= ? AND ts < ?",
                               [prev_start, month_start])
    table = at.dataframe[0].value.set_index("Budget")
    assert table.loc["total", "Spent (USD)"] == pytest.approx(prev_total)
    assert table.loc["total", "Forecast (USD)"] == pytest.approx(prev_total)

    # the monthly report, built by analytics and offered as a download
    at.radio(key="report_format").set_value("md").run()
    next(b for b in at.button if b.key == "report_build").click().run()
    _ok(at)
    assert at.get("download_button")
    text = st_report(at)
    assert f"${prev_total:,.2f}" in text


def st_report(at) -> str:
    return at.session_state["report"][1]


def test_budget_page_without_budgets_explains(open_app, sample_db):
    at = open_app(sample_db, "budget")
    _ok(at)
    assert any("No budgets configured" in i.value for i in at.info)


# -- SQL console ------------------------------------------------------------------------------

def test_sql_console_results_csv_and_errors(open_app, sample_db, direct):
    at = open_app(sample_db, "sql")
    _ok(at)
    shown = at.dataframe[0].value
    expected = direct.all("SELECT model, count(*), sum(cost_usd) FROM llm_calls GROUP BY model "
                          "ORDER BY 3 DESC NULLS LAST")
    assert [tuple(r) for r in shown[["model", "calls"]].itertuples(index=False)] == [(m, c) for m, c, _ in expected]
    assert at.get("download_button")

    query = "SELECT feature, count(*) AS n FROM llm_calls_raw WHERE service = 'worker' AND feature IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
    at.text_area(key="q").set_value(query).run()
    _ok(at)
    assert [tuple(r) for r in at.dataframe[0].value.itertuples(index=False)] == direct.all(query)

    at.text_area(key="q").set_value("SELECT nope FROM llm_calls").run()
    assert not at.exception
    assert "nope" in at.error[0].value and "failed" in at.error[0].value

    at.text_area(key="q").set_value("DELETE FROM llm_calls_raw").run()
    assert not at.exception
    assert "Not allowed" in at.error[0].value
    (n,) = direct.one("SELECT count(*) FROM llm_calls_raw")
    assert n > 0

    at.text_area(key="q").set_value("SELECT * FROM read_csv('/etc/passwd')").run()
    assert not at.exception and at.error  # external access is off

    at.text_area(key="q").set_value("SELEC 1").run()
    assert not at.exception and "parse" in at.error[0].value


def test_sql_console_query_from_url(open_app, sample_db, direct):
    at = open_app(sample_db, "sql", q="SELECT count(*) AS n FROM llm_calls WHERE NOT price_known")
    _ok(at)
    (n,) = direct.one("SELECT count(*) FROM llm_calls_raw WHERE model = 'acme-llm-7b'")
    assert at.dataframe[0].value["n"].iloc[0] == n


# -- call detail ------------------------------------------------------------------------------

def test_call_detail_shows_attributes_retries_and_trace(open_app, sample_db, direct):
    span_id, trace_id, model, retries, tin, tout = direct.one(
        "SELECT span_id, trace_id, model, retry_count, input_tokens, output_tokens FROM llm_calls_raw "
        "WHERE retry_count = 2 AND status = 'ok' AND model <> 'acme-llm-7b' ORDER BY ts DESC LIMIT 1")
    at = open_app(sample_db, "call", span=span_id)
    _ok(at)
    m = metrics(at)
    assert m["Model"] == model
    assert m["Tokens in / out"] == f"{tin:,} / {tout:,}"
    (cost,) = direct.one("SELECT cost_usd FROM llm_calls WHERE span_id = ?", [span_id])
    assert shown_close(m["Cost"], cost)
    columns = at.dataframe[0].value.set_index("column")["value"]
    assert columns["trace_id"] == trace_id and columns["retry_count"] == str(retries)
    attempts = at.dataframe[1].value
    assert list(attempts["attempt"]) == [1, 2]
    (n_spans,) = direct.one("SELECT count(*) FROM spans WHERE trace_id = ?", [trace_id])
    trace = plotly_figure(at.get("plotly_chart")[0])["data"][0]
    assert len(series(trace["x"])) == n_spans
    assert "#E45756" in trace["marker"]["color"]  # this call highlighted

    at.text_input(key="span").set_value("ffffffffffffffff").run()
    _ok(at)
    assert any("No LLM call with span id" in w.value for w in at.warning)


def test_call_detail_picker_follows_filters(open_app, sample_db, direct):
    at = open_app(sample_db, "call", model="o3-mini")
    _ok(at)
    listed = at.dataframe[0].value
    assert set(listed["model"]) == {"o3-mini"}
    start, end = direct.default_range()
    where, params = direct.where(start, end, model="o3-mini")
    (latest,) = direct.one(f"SELECT span_id FROM llm_calls_raw {where} ORDER BY ts DESC LIMIT 1", params)
    assert listed["span_id"].iloc[0] == latest


def test_unpriced_call_detail_says_unpriced(open_app, sample_db, direct):
    (span_id,) = direct.one("SELECT span_id FROM llm_calls_raw WHERE model = 'acme-llm-7b' LIMIT 1")
    at = open_app(sample_db, "call", span=span_id)
    _ok(at)
    assert metrics(at)["Cost"] == "unpriced"
