"""The monthly budget report: figures gathered in a handful of SQL scans, rendered to Markdown or HTML.

Comparisons are like for like: the previous month is cut at the same elapsed time as this one
(a report on 20 November compares 1-20 November with 1-20 October; a finished month compares
with the whole previous month). Anomalous days are days whose spend exceeds k times the median
of the seven calendar days before them (days without calls count as $0).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from statistics import median
from typing import TYPE_CHECKING, Any

from tokentrail.analytics.filters import Filters
from tokentrail.analytics.forecast import Forecast, linear_forecast, month_bounds, utc_now
from tokentrail.analytics.report_render import render_html, render_markdown

__all__ = ["Report", "build_report", "render_html", "render_markdown"]

if TYPE_CHECKING:
    import pandas as pd
    from tokentrail.analytics.source import Source

BREAKDOWNS = {"model": "model", "feature": "feature", "user": "user_id"}
BASELINE_DAYS = 7


@dataclass
class Report:
    month: str
    start: datetime
    end: datetime
    cut: datetime  # figures cover [start, cut)
    prev_start: datetime
    prev_cut: datetime
    budget: float | None
    forecast: Forecast
    totals: dict[str, Any]
    prev_totals: dict[str, Any]
    breakdowns: dict[str, pd.DataFrame]
    drivers: pd.DataFrame
    unpriced_models: pd.DataFrame
    daily: pd.DataFrame
    anomaly_k: float
    filters: Filters = field(default_factory=Filters)

    @property
    def anomalies(self) -> pd.DataFrame:
        return self.daily[self.daily["anomalous"]]

    @property
    def complete(self) -> bool:
        return self.cut >= self.end


def _previous_period(start: datetime, cut: datetime) -> tuple[datetime, datetime]:
    prev_start, prev_end = month_bounds(start - timedelta(days=1))
    return prev_start, min(prev_start + (cut - start), prev_end)


def _base_where(filters: Filters) -> tuple[str, list]:
    sql, params = filters.with_range(None, None).where()
    return sql, params


def build_report(
    source: Source | None,
    month: str,
    *,
    budget: float | None = None,
    as_of: datetime | None = None,
    filters: Filters | None = None,
    anomaly_k: float = 2.0,
    top: int = 10,
) -> Report:
    from tokentrail.analytics.analyses import _src

    src = _src(source)
    filters = filters or Filters()
    start, end = month_bounds(month)
    as_of = as_of or utc_now()
    cut = min(max(as_of, start), end)
    prev_start, prev_cut = _previous_period(start, cut)
    where, wparams = _base_where(filters)
    # Two scans: one for the breakdowns (this month and the comparison period), one per day for the
    # totals and the anomaly baseline; the totals are the sum of this month's days.
    with src.pinned():
        grouped = src.query(
            f"""
            SELECT period, GROUPING(model) AS g_model, GROUPING(feature) AS g_feature,
                   GROUPING(user_id) AS g_user, model, feature, user_id,
                   count(*) AS calls, sum(cost_usd) AS cost_usd,
                   count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls,
                   sum(CASE WHEN NOT price_known THEN tokens END) AS unpriced_tokens
            FROM (
                SELECT CASE WHEN ts >= ? THEN 'cur' ELSE 'prev' END AS period, model, feature, user_id, cost_usd,
                       price_known, coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS tokens
                FROM llm_calls {where}
                  AND ((ts >= ? AND ts < ?) OR (ts >= ? AND ts < ?))
            ) q
            GROUP BY GROUPING SETS ((period, model, feature), (period, user_id))
            """,
            [start, *wparams, start, cut, prev_start, prev_cut],
        )
        grouped = _roll_up(grouped)
        days = src.query(
            f"""
            SELECT CAST(ts AS DATE) AS day,
                   count(*) AS calls,
                   coalesce(sum(cost_usd), 0) AS cost_usd,
                   count(CASE WHEN status = 'error' THEN 1 END) AS failed_calls,
                   coalesce(sum(CASE WHEN status = 'error' THEN cost_usd END), 0) AS error_cost_usd,
                   count(CASE WHEN coalesce(retry_count, 0) > 0 THEN 1 END) AS retried_calls,
                   coalesce(sum(retry_count), 0) AS retries,
                   coalesce(sum(retry_wait_ms), 0) AS retry_wait_ms,
                   count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls,
                   coalesce(sum(CASE WHEN NOT price_known
                                     THEN coalesce(input_tokens, 0) + coalesce(output_tokens, 0) END), 0)
                       AS unpriced_tokens,
                   coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)), 0) AS tokens,
                   count(CASE WHEN cache_hit THEN 1 END) AS response_cache_hits,
                   coalesce(sum(saved_cost_usd), 0) AS response_cache_saved_usd,
                   coalesce(sum(CASE WHEN cache_hit THEN saved_ms END), 0) AS response_cache_saved_ms,
                   coalesce(sum(CASE WHEN price_known AND cache_hit IS NOT TRUE
                                     THEN coalesce(cached_input_tokens, 0)
                                          * (input_per_mtok - cache_read_per_mtok) / 1e6 END), 0)
                       AS prompt_cache_saved_usd,
                   coalesce(sum(cached_input_tokens), 0) AS cached_input_tokens,
                   coalesce(sum(input_tokens), 0) AS input_tokens
            FROM llm_calls_priced {where} AND ts >= ? AND ts < ?
            GROUP BY 1 ORDER BY 1
            """,
            [*wparams, start - timedelta(days=BASELINE_DAYS), cut],
        )
    month_days = days[days["day"].map(lambda d: _as_date(d) >= start.date()).astype(bool)]
    totals = {c: _plain(month_days[c].sum()) for c in days.columns if c != "day"}
    breakdowns, prev_total = _breakdowns(grouped)
    g = grouped
    unpriced = g[(g.period == "cur") & (g.g_model == 0) & (g.g_feature == 1) & (g.g_user == 1)
                 & (g.unpriced_calls > 0)]
    unpriced = (unpriced[["model", "unpriced_calls", "unpriced_tokens"]]
                .rename(columns={"unpriced_calls": "calls", "unpriced_tokens": "tokens"})
                .sort_values("tokens", ascending=False).reset_index(drop=True))
    daily = _daily(days, start, cut, anomaly_k)
    forecast = linear_forecast(totals["cost_usd"], start, end, cut, budget)
    if budget is not None and forecast.spend >= budget:
        # Already over: report the day spend actually crossed the budget, not the average-rate estimate.
        cumulative = daily["cost_usd"].cumsum()
        crossed = daily["day"][cumulative >= budget]
        if len(crossed):
            day = crossed.iloc[0]
            forecast = replace(forecast, run_out=datetime(day.year, day.month, day.day))
    return Report(
        month=start.strftime("%Y-%m"), start=start, end=end, cut=cut, prev_start=prev_start, prev_cut=prev_cut,
        budget=budget, forecast=forecast, totals=totals,
        prev_totals={"cost_usd": prev_total}, breakdowns=breakdowns,
        drivers=_drivers(grouped, totals["cost_usd"], top), unpriced_models=unpriced,
        daily=daily, anomaly_k=anomaly_k, filters=filters,
    )


def _as_date(d: date | datetime) -> date:
    return d.date() if isinstance(d, datetime) else d


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _roll_up(g: pd.DataFrame) -> pd.DataFrame:
    """Add the (period, model), (period, feature) and (period) rows by summing the few hundred
    (period, model, feature) rows, instead of three more hash aggregations over every call."""
    import pandas as pd

    base = g[(g.g_model == 0) & (g.g_feature == 0)]
    sums = {"calls": ("calls", "sum"), "cost_usd": ("cost_usd", lambda x: x.sum(min_count=1)),
            "unpriced_calls": ("unpriced_calls", "sum"),
            "unpriced_tokens": ("unpriced_tokens", lambda x: x.sum(min_count=1))}
    parts = [g]
    for keys, flags in ((["period", "model"], (0, 1)), (["period", "feature"], (1, 0)), (["period"], (1, 1))):
        rolled = base.groupby(keys, dropna=False).agg(**sums).reset_index()
        rolled["g_model"], rolled["g_feature"], rolled["g_user"] = flags[0], flags[1], 1
        parts.append(rolled)
    return pd.concat(parts, ignore_index=True)


def _breakdowns(grouped: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], float]:

    g = grouped
    total_rows = g[(g.g_model == 1) & (g.g_feature == 1) & (g.g_user == 1)]
    prev_total = float(total_rows[total_rows.period == "prev"].cost_usd.fillna(0).sum())
    cur_total = float(total_rows[total_rows.period == "cur"].cost_usd.fillna(0).sum())
    out: dict[str, pd.DataFrame] = {}
    for name, col in BREAKDOWNS.items():
        flags = {"model": (0, 1, 1), "feature": (1, 0, 1), "user": (1, 1, 0)}[name]
        part = g[(g.g_model == flags[0]) & (g.g_feature == flags[1]) & (g.g_user == flags[2])]
        cur = part[part.period == "cur"][[col, "calls", "cost_usd", "unpriced_calls"]]
        prev = part[part.period == "prev"][[col, "cost_usd"]].rename(columns={"cost_usd": "prev_cost_usd"})
        df = cur.merge(prev, on=col, how="outer")
        df[col] = df[col].astype(object).where(df[col].notna(), "(none)")
        # cost_usd stays NaN for a group with no priced call: unpriced is shown as such, never as $0.
        df = df.fillna({"calls": 0, "unpriced_calls": 0}).rename(columns={col: name})
        df["change_usd"] = df["cost_usd"] - df["prev_cost_usd"].fillna(0.0)
        df["change_pct"] = [
            (c - p) / p * 100.0 if p and p == p and c == c else None
            for c, p in zip(df["cost_usd"], df["prev_cost_usd"], strict=True)
        ]
        df["share"] = df["cost_usd"] / cur_total if cur_total else None
        df["calls"] = df["calls"].astype("int64")
        df["unpriced_calls"] = df["unpriced_calls"].astype("int64")
        out[name] = df.sort_values(["cost_usd", "prev_cost_usd"], ascending=False,
                                   na_position="last").reset_index(drop=True)
    return out, prev_total


def _drivers(grouped: pd.DataFrame, total: float, top: int) -> pd.DataFrame:
    g = grouped
    part = g[(g.g_model == 0) & (g.g_feature == 0) & (g.g_user == 1) & (g.period == "cur")]
    df = part[part.cost_usd.notna()][["model", "feature", "calls", "cost_usd"]].copy()
    df["feature"] = df["feature"].astype(object).where(df["feature"].notna(), "(none)")
    df["share"] = df["cost_usd"] / total if total else None
    return df.sort_values("cost_usd", ascending=False).head(top).reset_index(drop=True)


def _daily(days: pd.DataFrame, start: datetime, cut: datetime, k: float) -> pd.DataFrame:
    """Fill calendar gaps with $0, then flag days above k x the trailing 7-day median."""
    import pandas as pd

    by_day = {(d.date() if isinstance(d, datetime) else d): (c, n)
              for d, c, n in zip(days["day"], days["cost_usd"], days["calls"], strict=True)}
    first = (start - timedelta(days=BASELINE_DAYS)).date()
    last = (cut - timedelta(microseconds=1)).date() if cut > start else start.date() - timedelta(days=1)
    calendar = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    spend = [float(by_day.get(d, (0.0, 0))[0]) for d in calendar]
    rows = []
    for i, d in enumerate(calendar):
        if d < start.date():
            continue
        window = spend[max(0, i - BASELINE_DAYS):i]
        baseline = median(window) if window else None
        cost = spend[i]
        rows.append({
            "day": d, "calls": int(by_day.get(d, (0.0, 0))[1]), "cost_usd": cost, "baseline_usd": baseline,
            "anomalous": bool(baseline and cost > k * baseline),
        })
    return pd.DataFrame(rows, columns=["day", "calls", "cost_usd", "baseline_usd", "anomalous"])

