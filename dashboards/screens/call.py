"""Call detail: one call's columns and span attributes, its retry attempts, and where it sits in its
trace (the spans around it, drawn as a waterfall)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.screens import calls_table
from tokentrail.dashboards.sidebar import Extent

MAX_TRACE_SPANS = 300


def render(filters: Filters, ext: Extent) -> None:
    span_id = st.text_input("Span id", key="span", bind="query-params",
                            placeholder="16 hex characters, e.g. from a drill-down or the SQL console").strip()
    if not span_id:
        st.caption("Pick a call: the most recent calls matching the filters are listed below.")
        calls_table.render(filters, key="call_picker", order="recent")
        return
    call = data.query("SELECT * FROM llm_calls WHERE span_id = ? ORDER BY ts DESC LIMIT 1", [span_id])
    if call.empty:
        st.warning(f"No LLM call with span id `{span_id}` in this database. Check the id, or clear it to pick "
                   "a call from the list.", icon=":material/search_off:")
        return
    row = call.iloc[0].to_dict()
    _headline(row)
    span = data.query(
        "SELECT name, kind, status_code, status_message, attributes, resource, events FROM spans "
        "WHERE trace_id = ? AND span_id = ?", [row["trace_id"], span_id])
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Columns")
        st.dataframe(_columns_table(row), hide_index=True, height=420)
    with right:
        st.subheader("Span attributes")
        if span.empty:
            st.caption("The raw span is not stored in this file (only its `llm_calls` row).")
        else:
            st.json(_loads(span.iloc[0]["attributes"]) or {}, expanded=True)
    st.subheader("Retry attempts")
    _retries(row, None if span.empty else _loads(span.iloc[0]["events"]))
    st.subheader("Place in the trace")
    _trace(row)


def _headline(row: dict[str, Any]) -> None:
    c = st.columns(5)
    c[0].metric("Model", str(row.get("model")))
    c[1].metric("Cost", ui.money(row.get("cost_usd")) if row.get("price_known") else "unpriced",
                help=None if row.get("price_known") else "No price is known for this model: the cost is "
                "unknown, not $0.")
    c[2].metric("Tokens in / out", f"{ui.count(row.get('input_tokens'))} / {ui.count(row.get('output_tokens'))}")
    c[3].metric("Duration", ui.duration(row.get("duration_ms")))
    status = str(row.get("status"))
    if status == "error" and row.get("error_type"):
        status = f"error: {row['error_type']}"
    c[4].metric("Outcome", status)
    if row.get("cache_hit"):
        st.info(f"Answered by tokentrail's response cache: saved {ui.money(row.get('saved_cost_usd'))} and "
                f"{ui.duration(row.get('saved_ms'))}.", icon=":material/bolt:")


def _columns_table(row: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"column": list(row), "value": [_show(v) for v in row.values()]})


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "NULL"
    return str(value)


def _loads(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _retries(row: dict[str, Any], events: Any) -> None:
    attempts = [e for e in (events or []) if isinstance(e, dict) and e.get("name") == "tokentrail.retry"]
    count = int(row.get("retry_count") or 0)
    if not attempts:
        st.caption("No retries: the first attempt answered." if count == 0 else
                   f"{count} retries recorded, but their events are not stored in this file.")
        return
    table = pd.DataFrame([
        {
            "attempt": a.get("attributes", {}).get("tokentrail.retry.attempt"),
            "time (UTC)": _event_time(a),
            "HTTP status": a.get("attributes", {}).get("http.response.status_code"),
            "error type": a.get("attributes", {}).get("error.type"),
            "backoff (ms)": a.get("attributes", {}).get("tokentrail.retry.backoff_ms"),
        }
        for a in attempts
    ])
    st.caption(f"{len(attempts)} failed attempt(s) before the final one; "
               f"{ui.duration(row.get('retry_wait_ms'))} spent backing off in total.")
    st.dataframe(table, hide_index=True)


def _event_time(event: dict[str, Any]) -> str | None:
    ns = event.get("time_unix_nano")
    if not ns:
        return None
    return datetime.fromtimestamp(int(ns) / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _trace(row: dict[str, Any]) -> None:
    spans = data.query(
        f"""SELECT span_id, parent_span_id, name, kind, service, ts, duration_ms, status_code
            FROM spans WHERE trace_id = ? ORDER BY ts LIMIT {MAX_TRACE_SPANS}""", [row["trace_id"]])
    st.caption(f"Trace `{row['trace_id']}`, {len(spans)} span(s)"
               + (f" (first {MAX_TRACE_SPANS} shown)" if len(spans) >= MAX_TRACE_SPANS else "") + ".")
    if spans.empty:
        st.caption("No spans of this trace are stored in this file.")
        return
    ordered = _tree_order(spans)
    start = spans["ts"].min()
    offsets = [(r["ts"] - start).total_seconds() * 1000 for r in ordered]
    # Tick labels are right-aligned, so depth is shown with arrows rather than indentation.
    labels = [("↳ " * r["depth"]) + str(r["name"]) for r in ordered]
    colours = ["#E45756" if r["span_id"] == row["span_id"] else "#4C78A8" for r in ordered]
    fig = go.Figure()
    fig.add_bar(
        y=list(range(len(ordered))), x=[r["duration_ms"] or 0 for r in ordered], base=offsets, orientation="h",
        marker_color=colours, text=[ui.duration(r["duration_ms"]) for r in ordered], textposition="auto",
        customdata=[[r["name"], r["service"], r["status_code"]] for r in ordered],
        hovertemplate="%{customdata[0]}<br>service %{customdata[1]}, status %{customdata[2]}"
                      "<br>starts at +%{base:,.0f} ms, lasts %{x:,.0f} ms<extra></extra>",
    )
    ui.style(fig, y_title="", x_title="Time since the trace started (ms)", height=max(160, 40 * len(ordered) + 80))
    fig.update_yaxes(tickvals=list(range(len(ordered))), ticktext=labels, autorange="reversed", rangemode=None)
    fig.update_layout(showlegend=False)
    ui.chart(fig, "call_trace")
    st.caption("The highlighted bar is this call.")


def _tree_order(spans: pd.DataFrame) -> list[dict[str, Any]]:
    """Depth-first order (parents before children, siblings by start time) with each span's depth."""
    records = spans.to_dict("records")
    ids = {r["span_id"] for r in records}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        parent = r["parent_span_id"] if r["parent_span_id"] in ids else None
        children[parent].append(r)
    out: list[dict[str, Any]] = []
    stack = [(r, 0) for r in reversed(children[None])]
    while stack:
        node, depth = stack.pop()
        out.append({**node, "depth": depth})
        stack.extend((c, depth + 1) for c in reversed(children[node["span_id"]]))
    return out
