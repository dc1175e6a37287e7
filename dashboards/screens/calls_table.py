"""A list of individual calls for a filter (drill-downs and the call picker), each openable in
Call detail. Only the first LIMIT rows cross over from DuckDB; the totals line is aggregated there."""

from __future__ import annotations

import streamlit as st
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui

LIMIT = 200
ORDERS = {"cost": "cost_usd DESC NULLS LAST, ts DESC", "recent": "ts DESC", "slow": "duration_ms DESC"}


def open_call(span_id: str) -> None:
    """Switch to Call detail for `span_id` (a widget callback: runs before the next script run)."""
    st.session_state["page"] = "call"
    st.session_state["span"] = span_id


def render(filters: Filters, key: str, order: str = "cost") -> None:
    where, params = filters.where()
    summary = data.scalar_row(
        f"SELECT count(*) AS calls, sum(cost_usd) AS cost, sum(CASE WHEN price_known THEN 0 ELSE 1 END) AS unpriced "
        f"FROM llm_calls {where}", params)
    calls = data.query(
        f"""SELECT ts, model, feature, user_id, service, status, error_type, retry_count,
                   input_tokens, output_tokens, cost_usd, duration_ms, span_id
            FROM llm_calls {where} ORDER BY {ORDERS[order]} LIMIT {LIMIT}""", params)
    n = int(summary.get("calls") or 0)
    st.caption(
        f"{n:,} calls, {ui.money(summary.get('cost'))} in total"
        + (f", {int(summary['unpriced']):,} unpriced" if summary.get("unpriced") else "")
        + (f"; showing the first {LIMIT}" if n > LIMIT else "")
        + ". Select a row to open the call.")
    event = st.dataframe(
        calls, key=key, hide_index=True, on_select="rerun", selection_mode="single-row",
        column_config={
            "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "user_id": "User", "model": "Model", "feature": "Feature", "service": "Service",
            "status": "Status", "error_type": "Error", "retry_count": "Retries",
            "input_tokens": "Input tokens", "output_tokens": "Output tokens",
            "cost_usd": ui.money_column("Cost (USD)"),
            "duration_ms": st.column_config.NumberColumn("Duration (ms)", format="%.0f"),
            "span_id": "Span id",
        },
    )
    rows = ui.selected_rows(event)
    if rows and rows[0] < len(calls):
        span_id = str(calls.iloc[rows[0]]["span_id"])
        st.button(f"Open call {span_id}", key=f"{key}_open", on_click=open_call, args=(span_id,),
                  type="primary", icon=":material/open_in_new:")
