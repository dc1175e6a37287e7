"""What-if: what the selected slice of traffic would have cost under other models or another price.

The slice is the sidebar filters (e.g. feature = search, model = gpt-4o); its actual token usage,
split the way prices apply, is re-priced at each target model's current catalogue (or override)
rates by the analytics what-if analysis."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics import analyses
from tokentrail.analytics.catalogue import Rates
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.sidebar import Extent

SUGGESTED = ("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o",
             "gpt-4o-mini", "o3", "o4-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash")
DEFAULT_TARGETS = ["gpt-4.1-mini", "gpt-5-mini"]


def render(filters: Filters, ext: Extent) -> None:
    st.caption("The slice is whatever the sidebar filters select, e.g. one feature. Its real token usage "
               "(uncached and cached input, output, reasoning) is priced again at each target's current rates.")
    targets = st.multiselect("Re-price under", list(SUGGESTED), default=DEFAULT_TARGETS, key="to",
                             bind="query-params", accept_new_options=True,
                             help="Any model name the price catalogue (or your prices file) knows.")
    with st.expander("…or a custom price (USD per 1M tokens)"):
        c = st.columns(3)
        rate_in = c[0].number_input("Input", min_value=0.0, value=0.0, step=0.05, key="rate_in")
        rate_cached = c[1].number_input("Cached input", min_value=0.0, value=0.0, step=0.01, key="rate_cached",
                                        help="0 = same as input.")
        rate_out = c[2].number_input("Output", min_value=0.0, value=0.0, step=0.1, key="rate_out")
    rates = {}
    if rate_in or rate_out:
        rates["custom price"] = Rates(input=rate_in, cache_read=rate_cached or None, output=rate_out)
    result = data.analysis(analyses.what_if, filters, models=tuple(targets), rates=rates)
    actual = result.iloc[0]
    if int(actual["unpriced_calls_in_actual"] or 0):
        st.warning(f"{int(actual['unpriced_calls_in_actual']):,} calls in this slice have no known price: the "
                   "actual cost leaves them out, while the scenarios price their tokens. Compare with care.",
                   icon=":material/price_change:")
    c = st.columns(3)
    c[0].metric("Calls in the slice", ui.count(actual["calls"]))
    c[1].metric("Actual cost", ui.money(actual["cost_usd"]))
    priced = result.iloc[1:].dropna(subset=["cost_usd"])
    if not priced.empty:
        best = priced.loc[priced["cost_usd"].idxmin()]
        c[2].metric(f"Cheapest: {best['scenario']}", ui.money(best["cost_usd"]),
                    delta=ui.money(best["delta_usd"]), delta_color="inverse")
    unknown = result[(result.index > 0) & ~result["price_known"].astype(bool)]
    if not unknown.empty:
        st.warning("No price known for: " + ", ".join(f"`{m}`" for m in unknown["scenario"]) + ".",
                   icon=":material/help:")

    fig = go.Figure()
    colours = ["#BAB0AC"] + ["#4C78A8"] * (len(result) - 1)
    fig.add_bar(x=result["scenario"], y=result["cost_usd"], marker_color=colours,
                hovertemplate="%{x}<br>$%{y:,.4f}<extra></extra>")
    ui.style(fig, y_title="Cost of the slice (USD)", x_title="Scenario", money_axis=True, height=340)
    ui.chart(fig, "whatif_chart")
    st.dataframe(
        result[["scenario", "cost_usd", "delta_usd", "ratio", "price_known"]], hide_index=True,
        column_config={
            "scenario": "Scenario", "cost_usd": ui.money_column("Cost (USD)"),
            "delta_usd": ui.money_column("Difference vs actual (USD)"),
            "ratio": st.column_config.NumberColumn("× actual", format="%.2f"),
            "price_known": "Price known",
        },
    )
    st.caption("Size-tiered prices use their base tier; the actual cost uses each call's own price at its time.")
