"""Cache: the provider's prompt cache (discounted input tokens) and tokentrail's response cache
(calls never sent), each with what it saved."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics import analyses
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.sidebar import Extent


def render(filters: Filters, ext: Extent) -> None:
    prompt = data.analysis(analyses.prompt_cache, filters)
    app = data.analysis(analyses.response_cache, filters, by="model")

    st.subheader("Provider prompt cache")
    calls = int(prompt["calls"].sum())
    input_tokens = prompt["input_tokens"].sum()
    hit_calls = (prompt["hit_rate"] * prompt["calls"]).sum()
    c = st.columns(4)
    c[0].metric("Hit rate", ui.percent(hit_calls / calls if calls else None),
                help="Share of calls (sent to the provider) that read part of their prompt from its cache.")
    c[1].metric("Cached share of input", ui.percent(prompt["cached_input_tokens"].sum() / input_tokens
                                                    if input_tokens else None))
    c[2].metric("Cached input tokens", ui.count(prompt["cached_input_tokens"].sum()))
    c[3].metric("Prompt-cache savings", ui.money(prompt["savings_usd"].sum()),
                help="Cached tokens times (uncached input rate - cache read rate), at the price in force.")
    fig = go.Figure()
    fig.add_bar(x=prompt["model"], y=prompt["savings_usd"], name="savings",
                customdata=prompt[["cached_share"]],
                hovertemplate="%{x}<br>$%{y:,.4f} saved<br>%{customdata[0]:.1%} of input cached<extra></extra>")
    ui.style(fig, y_title="Saved (USD)", x_title="Model", money_axis=True, height=300)
    ui.chart(fig, "cache_prompt")

    st.subheader("tokentrail response cache")
    app_calls = int(app["calls"].sum())
    hits = int(app["hits"].sum())
    c = st.columns(4)
    c[0].metric("Hits", ui.count(hits))
    c[1].metric("Hit rate", ui.percent(hits / app_calls if app_calls else None),
                help="Share of all calls answered from the response cache without calling the provider.")
    c[2].metric("Cost saved", ui.money(app["saved_cost_usd"].sum()),
                help="What the original calls would cost again at today's price.")
    c[3].metric("Time saved", ui.duration(app["saved_ms"].sum()),
                help="Sum of the original calls' durations that nobody had to wait again.")

    where, params = filters.where()
    daily = data.query(
        f"""SELECT CAST(ts AS DATE) AS day,
                   avg(CASE WHEN cache_hit THEN 1.0 ELSE 0.0 END) AS app_hit_rate,
                   avg(CASE WHEN coalesce(cached_input_tokens, 0) > 0 THEN 1.0 ELSE 0.0 END)
                       FILTER (WHERE NOT coalesce(cache_hit, FALSE)) AS prompt_hit_rate
            FROM llm_calls_raw {where} GROUP BY 1 ORDER BY 1""", params)
    fig = go.Figure()
    fig.add_scatter(x=daily["day"], y=daily["prompt_hit_rate"], name="prompt cache", mode="lines",
                    hovertemplate="%{x|%d %b %Y}<br>%{y:.1%}<extra>prompt cache</extra>")
    fig.add_scatter(x=daily["day"], y=daily["app_hit_rate"], name="response cache", mode="lines",
                    hovertemplate="%{x|%d %b %Y}<br>%{y:.1%}<extra>response cache</extra>")
    ui.style(fig, y_title="Hit rate", x_title="Day (UTC)", height=300)
    fig.update_yaxes(tickformat=".0%")
    st.markdown("**Hit rates per day**")
    ui.chart(fig, "cache_daily")

    st.markdown("**By model**")
    table = prompt.merge(app[["model", "hits", "saved_cost_usd", "saved_ms"]], on="model", how="outer")
    st.dataframe(
        table, hide_index=True,
        column_config={
            "model": "Model", "calls": "Calls sent",
            "hit_rate": st.column_config.NumberColumn("Prompt hit rate", format="percent"),
            "input_tokens": "Input tokens", "cached_input_tokens": "Cached input tokens",
            "cached_share": st.column_config.NumberColumn("Cached share", format="percent"),
            "savings_usd": ui.money_column("Prompt-cache savings (USD)"),
            "write_premium_usd": ui.money_column("Cache-write premium (USD)"),
            "hits": "Response-cache hits",
            "saved_cost_usd": ui.money_column("Response-cache savings (USD)"),
            "saved_ms": st.column_config.NumberColumn("Time saved (ms)", format="%.0f"),
        },
    )
