"""Latency: percentiles by model over time, time to first token and output speed, the distribution."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics import analyses
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.sidebar import Extent, choice

PERCENTILES = {"p50": "p50", "p95": "p95", "p99": "p99"}
# Log-spaced buckets: 10 per decade, from 1 ms up.
BUCKETS_PER_DECADE = 10


def render(filters: Filters, ext: Extent) -> None:
    st.caption("Answered calls only: response-cache hits (instant) and failed calls (cut short) are left out.")
    where, params = filters.where()
    overall = data.scalar_row(
        f"""SELECT count(*) AS calls,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p50_ms,
                   sum(output_tokens) FILTER (WHERE output_tokens > 0)
                       / nullif(sum(duration_ms - coalesce(ttft_ms, 0)) FILTER (WHERE output_tokens > 0) / 1000.0, 0)
                       AS tok_s
            FROM llm_calls_raw {where} AND status = 'ok' AND NOT coalesce(cache_hit, FALSE)""", params)
    c = st.columns(5)
    c[0].metric("p50", ui.duration(overall.get("p50_ms")))
    c[1].metric("p95", ui.duration(overall.get("p95_ms")))
    c[2].metric("p99", ui.duration(overall.get("p99_ms")))
    c[3].metric("Time to first token (p50)", ui.duration(overall.get("ttft_p50_ms")),
                help="Streamed calls only: time until the first chunk arrived.")
    c[4].metric("Output speed", ui.rate(overall.get("tok_s"), "tok/s"),
                help="Output tokens over generation time (after the first token when streamed), for calls "
                "that produced output (embeddings left out).")

    pct = choice(st.segmented_control, "Percentile", PERCENTILES, "pct", "p95")
    over_time = data.analysis(analyses.latency_over_time, filters, grain="day")
    st.subheader(f"{pct} latency by model, per day")
    fig = go.Figure()
    for model, part in over_time.groupby("model", sort=True):
        fig.add_scatter(x=part["bucket"], y=part[f"{pct}_ms"], name=str(model), mode="lines+markers",
                        hovertemplate=f"{model}<br>%{{x|%d %b %Y}}<br>%{{y:,.0f}} ms<extra></extra>")
    ui.style(fig, y_title=f"{pct} wall time (ms)", x_title="Day (UTC)", legend_title="Model")
    ui.chart(fig, "latency_over_time")

    by_model = data.analysis(analyses.latency_by_model, filters)
    left, right = st.columns(2)
    with left:
        st.subheader("Time to first token")
        ttft = by_model.dropna(subset=["ttft_p50_ms"])
        fig = go.Figure()
        fig.add_bar(x=ttft["model"], y=ttft["ttft_p50_ms"], name="p50",
                    hovertemplate="%{x}<br>p50 %{y:,.0f} ms<extra></extra>")
        fig.add_bar(x=ttft["model"], y=ttft["ttft_p95_ms"], name="p95",
                    hovertemplate="%{x}<br>p95 %{y:,.0f} ms<extra></extra>")
        ui.style(fig, y_title="Time to first token (ms)", x_title="Model", height=320)
        ui.chart(fig, "latency_ttft")
    with right:
        st.subheader("Output speed")
        speed = by_model[by_model["output_tokens_per_s"].fillna(0) > 0]
        fig = go.Figure()
        fig.add_bar(x=speed["model"], y=speed["output_tokens_per_s"], name="tokens/s",
                    hovertemplate="%{x}<br>%{y:,.1f} tokens/s<extra></extra>")
        ui.style(fig, y_title="Output tokens per second", x_title="Model", height=320)
        ui.chart(fig, "latency_speed")

    st.subheader("Distribution")
    hist = data.query(
        f"""SELECT floor(log10(greatest(duration_ms, 1)) * {BUCKETS_PER_DECADE}) AS bucket, count(*) AS calls
            FROM llm_calls_raw {where} AND status = 'ok' AND NOT coalesce(cache_hit, FALSE)
            GROUP BY 1 ORDER BY 1""", params)
    lower = 10 ** (hist["bucket"] / BUCKETS_PER_DECADE)
    upper = 10 ** ((hist["bucket"] + 1) / BUCKETS_PER_DECADE)
    fig = go.Figure()
    fig.add_bar(x=(lower * upper) ** 0.5, y=hist["calls"], width=(upper - lower), name="calls",
                customdata=pd.DataFrame({"lo": lower, "hi": upper}),
                hovertemplate="%{customdata[0]:,.0f}–%{customdata[1]:,.0f} ms<br>%{y:,} calls<extra></extra>")
    ui.style(fig, y_title="Calls", x_title="Wall time (ms, log scale)", height=320)
    fig.update_xaxes(type="log")
    ui.chart(fig, "latency_hist")

    st.subheader("By model")
    st.dataframe(
        by_model, hide_index=True,
        column_config={
            "model": "Model", "calls": "Calls",
            **{column: st.column_config.NumberColumn(label, format="%.0f") for column, label in (
                ("p50_ms", "p50 (ms)"), ("p95_ms", "p95 (ms)"), ("p99_ms", "p99 (ms)"),
                ("ttft_p50_ms", "TTFT p50 (ms)"), ("ttft_p95_ms", "TTFT p95 (ms)"))},
            "output_tokens_per_s": st.column_config.NumberColumn("Output tokens/s", format="%.1f"),
        },
    )
