"""Overview: where the month stands against budget, and the headline health figures."""

from __future__ import annotations

from datetime import datetime, timezone

import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics import analyses
from tokentrail.analytics.filters import Filters
from tokentrail.analytics.forecast import linear_forecast, month_bounds
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.screens.budget import global_budget
from tokentrail.dashboards.sidebar import Extent


def render(filters: Filters, ext: Extent) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    kpi = data.analysis(analyses.overview, filters).iloc[0].to_dict()
    budget = global_budget()
    # Month-to-date ignores the date range (it is always this month) but keeps the other filters;
    # overview() already summed it, so only the budget's run-out date is worked out here.
    start, end = month_bounds(now)
    fc = linear_forecast(float(kpi["mtd_cost_usd"] or 0.0), start, end, now, budget)

    st.subheader(f"This month ({now:%B %Y})")
    c = st.columns(3)
    c[0].metric("Month-to-date spend", ui.money(fc.spend), help="Spend since the 1st of this month (UTC), "
                "with the service/model/feature/user filters applied.")
    forecast_delta = None
    if budget and fc.forecast is not None:
        forecast_delta = f"{(fc.forecast - budget) / budget * 100:+.0f}% vs budget"
    c[1].metric("Month-end forecast", ui.money(fc.forecast), delta=forecast_delta, delta_color="inverse",
                help="Linear: month-to-date spend per elapsed day, extended to the end of the month.")
    c[2].metric("Monthly budget", ui.money(budget) if budget else "not set",
                help="The global monthly budget from your budgets file (TOKENTRAIL_BUDGETS).")
    if budget and fc.run_out is not None and fc.forecast is not None and fc.forecast > budget:
        st.warning(f"At the current rate the budget of {ui.money(budget)} runs out on {fc.run_out:%d %B}.",
                   icon=":material/trending_up:")

    st.subheader("Selected period")
    c = st.columns(5)
    c[0].metric("Spend", ui.money(kpi["cost_usd"]))
    c[1].metric("Calls", ui.count(kpi["calls"]))
    c[2].metric("Error rate", ui.percent(kpi["error_rate"]), help="Calls that failed after the SDK's retries.")
    c[3].metric("p95 latency", ui.duration(kpi["p95_ms"]),
                help="95th percentile wall time of answered calls (cache hits and errors left out).")
    c[4].metric("Cache savings", ui.money(kpi["cache_savings_usd"]),
                help="Provider prompt-cache discount plus calls answered by tokentrail's response cache.")
    if kpi["unpriced_calls"]:
        unpriced = data.query(
            f"SELECT DISTINCT model FROM llm_calls {filters.where()[0]} AND NOT price_known ORDER BY 1",
            filters.where()[1])
        ui.unpriced_notice(int(kpi["unpriced_calls"]), [str(m) for m in unpriced["model"]])

    st.subheader("Daily trend")
    daily = data.analysis(analyses.daily_spend, filters)
    fig = go.Figure()
    fig.add_bar(x=daily["day"], y=daily["cost_usd"], name="Spend (USD)",
                hovertemplate="%{x|%d %b %Y}<br>$%{y:,.2f}<extra></extra>")
    fig.add_scatter(x=daily["day"], y=daily["calls"], name="Calls", yaxis="y2", mode="lines",
                    hovertemplate="%{x|%d %b %Y}<br>%{y:,} calls<extra></extra>")
    ui.style(fig, y_title="Spend (USD)", x_title="Day (UTC)", money_axis=True)
    fig.update_layout(yaxis2={"title": {"text": "Calls"}, "overlaying": "y", "side": "right",
                              "rangemode": "tozero", "showgrid": False,
                              "tickformat": ",d"})
    ui.chart(fig, "overview_daily")

