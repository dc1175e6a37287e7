"""SQL: a console over `llm_calls` (and `spans`, the roll-up views) behind the same read-only guard as
the collector's query endpoint, with a results table and a CSV download."""

from __future__ import annotations

import streamlit as st
from tokentrail.analytics.filters import Filters
from tokentrail.analytics.source import QueryError
from tokentrail.dashboards import data
from tokentrail.dashboards.sidebar import Extent

from tokentrail.readonly import UnsafeQueryError, check_read_only

EXAMPLE = """SELECT model, count(*) AS calls, sum(cost_usd) AS cost_usd
FROM llm_calls
GROUP BY model
ORDER BY cost_usd DESC NULLS LAST"""
MAX_ROWS = 10_000


def render(filters: Filters, ext: Extent) -> None:
    st.caption(
        "Read-only SQL (one SELECT, WITH or EXPLAIN) over `llm_calls`, `llm_calls_daily`, `llm_cost_daily`, "
        "`prices` and `spans`. The sidebar filters do not apply here. At most "
        f"{MAX_ROWS:,} rows come back."
    )
    sql = st.text_area("Query", value=EXAMPLE, key="q", bind="query-params", height=160)
    st.button("Run", type="primary", icon=":material/play_arrow:", help="Or press Ctrl+Enter in the editor.")
    run_query(sql)


def run_query(sql: str) -> None:
    """Check, run and show one query; a bad or unsafe query gets DuckDB's message, no traceback."""
    try:
        check_read_only(sql)
    except UnsafeQueryError as exc:
        st.error(f"**Not allowed:** {exc}. This console only reads.", icon=":material/block:")
        return
    except Exception as exc:  # noqa: BLE001 - DuckDB's parser error, shown as is
        st.error(f"**The query does not parse:** {exc}", icon=":material/error:")
        return
    try:
        result = data.current_source().query(sql, max_rows=MAX_ROWS)
    except QueryError as exc:
        st.error(f"**The query failed:** {exc}", icon=":material/error:")
        return
    st.caption(f"{len(result):,} rows" + (" (limit reached)" if len(result) >= MAX_ROWS else ""))
    st.dataframe(result, hide_index=True, key="sql_table")
    st.download_button("Download CSV", result.to_csv(index=False).encode(), file_name="tokentrail-query.csv",
                       mime="text/csv", icon=":material/download:")

