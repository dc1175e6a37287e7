"""The month-end forecast: a straight line through month-to-date spend, and the budget run-out date."""

from __future__ import annotations

from datetime import datetime

import pytest
from tokentrail.analytics import Filters, connect, month_forecast
from tokentrail.analytics.analyses import overview
from tokentrail.analytics.forecast import linear_forecast, month_bounds
from tokentrail.analytics.overrides import Overrides


def test_month_bounds_including_december_and_leap_february():
    assert month_bounds("2026-11") == (datetime(2026, 11, 1), datetime(2026, 12, 1))
    assert month_bounds("2026-12") == (datetime(2026, 12, 1), datetime(2027, 1, 1))
    start, end = month_bounds(datetime(2028, 2, 17, 5))
    assert (end - start).days == 29
    with pytest.raises(ValueError, match="2026-11"):
        month_bounds("November")


def test_linear_forecast_and_run_out():
    start, end = month_bounds("2026-11")  # 30 days
    f = linear_forecast(300.0, start, end, datetime(2026, 11, 11), budget=600.0)  # 10 days elapsed
    assert f.elapsed_days == 10
    assert f.daily_rate == pytest.approx(30.0)
    assert f.forecast == pytest.approx(900.0)
    assert f.run_out == datetime(2026, 11, 21)  # 600 / 30 = day 20 after the 1st
    assert f.spend_ratio == pytest.approx(0.5)
    assert f.forecast_ratio == pytest.approx(1.5)


def test_forecast_partial_days_and_no_run_out_within_month():
    start, end = month_bounds("2026-11")
    f = linear_forecast(36.0, start, end, datetime(2026, 11, 2, 12), budget=1000.0)  # 1.5 days
    assert f.forecast == pytest.approx(36.0 / 1.5 * 30)
    assert f.run_out is None
    # A budget millions of times the spend rate is simply never reached (no date overflow).
    assert linear_forecast(0.0001, start, end, datetime(2026, 11, 2), budget=1e9).run_out is None


def test_forecast_edges():
    start, end = month_bounds("2026-11")
    assert linear_forecast(0.0, start, end, start).forecast is None  # nothing elapsed: no rate yet
    done = linear_forecast(123.0, start, end, datetime(2027, 1, 5), budget=100.0)
    assert done.forecast == 123.0  # a finished month forecasts its actual spend
    assert done.run_out is not None and done.run_out < end  # over budget: when it ran out


def test_month_forecast_from_data(make_db):
    # $2.50 per day (1M gpt-4o input tokens) on each of 1..10 November.
    rows = [{"ts": datetime(2026, 11, d, 12), "model": "gpt-4o", "input_tokens": 1_000_000, "output_tokens": 0}
            for d in range(1, 11)]
    src = connect(db=make_db(rows), overrides=Overrides())
    f = month_forecast(src, Filters(), as_of=datetime(2026, 11, 11), budget=50.0)
    assert f.spend == pytest.approx(25.0)
    assert f.forecast == pytest.approx(75.0)
    assert f.run_out == datetime(2026, 11, 21)
    kpis = overview(src, Filters(), as_of=datetime(2026, 11, 11)).iloc[0]
    assert kpis["mtd_cost_usd"] == pytest.approx(25.0)
    assert kpis["calls"] == 10
