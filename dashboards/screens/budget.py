"""Budget: each budget scope's month-to-date spend against its limit with the linear month-end
forecast, and the monthly report (Markdown or self-contained HTML) to download.

Budgets come from the TOML file analytics reads (TOKENTRAIL_BUDGETS); the figures are the same
`check_budgets` and `build_report` that `tokentrail budget check` and `tokentrail report` print.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics import budgets as budget_api
from tokentrail.analytics import report as report_api
from tokentrail.analytics import report_render
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.sidebar import Extent, choice

EXAMPLE = """thresholds = [0.8, 1.0]

[[budget]]
name = "total"
monthly_usd = 500

[[budget]]
feature = "search"
monthly_usd = 120"""
LEVEL_TEXT = {"OVER": "over budget", "ALERT": "past an alert threshold", "FORECAST": "forecast past a threshold",
              "ok": "on track"}


def load() -> tuple[list[budget_api.Budget], str | None]:
    """Configured budgets, or none and why (not configured / malformed file)."""
    from tokentrail.config import settings

    if settings().budgets_file is None:
        return [], None
    try:
        return budget_api.load_budgets(), None
    except budget_api.BudgetConfigError as exc:
        return [], str(exc)


def global_budget() -> float | None:
    """The unscoped monthly budget (the one covering all traffic), if configured."""
    budgets, _ = load()
    unscoped = [b.monthly_usd for b in budgets if b.scope is None]
    return unscoped[0] if unscoped else None


def _months(ext: Extent) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    first = ext.first or now.date()
    months: dict[str, str] = {}
    y, m = now.year, now.month
    while (y, m) >= (first.year, first.month) and len(months) < 36:
        months[f"{y:04d}-{m:02d}"] = datetime(y, m, 1).strftime("%B %Y")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return months


def render(filters: Filters, ext: Extent) -> None:
    months = _months(ext)
    month = choice(st.selectbox, "Month", months, "month", next(iter(months)))
    budgets, problem = load()
    if problem:
        st.error(f"**The budgets file could not be read.** {problem}", icon=":material/error:")
    elif not budgets:
        st.info("**No budgets configured.** Write a TOML file like the one below and point "
                "`TOKENTRAIL_BUDGETS` at it (then restart the dashboard). `tokentrail budget check` reads the "
                "same file, so cron or CI can alert on it too.", icon=":material/savings:")
        st.code(EXAMPLE, language="toml")
    else:
        _status(budgets, month)
    st.divider()
    _report(filters, month)


def _status(budgets: list[budget_api.Budget], month: str) -> None:
    statuses = data.analysis(_check, None, budgets=tuple(budgets), month=month)
    worst = max(statuses, key=lambda s: ("ok", "FORECAST", "ALERT", "OVER").index(s.level))
    if worst.level != "ok":
        st.warning(f"Budget **{worst.budget.name}**: {LEVEL_TEXT[worst.level]} "
                   f"({ui.money(worst.spend)} spent of {ui.money(worst.budget.monthly_usd)}, "
                   f"forecast {ui.money(worst.forecast)}).", icon=":material/warning:")
    table = pd.DataFrame([{
        "Budget": s.budget.name,
        "Scope": f"{s.budget.scope} = {s.budget.value}" if s.budget.scope else "all traffic",
        "Monthly (USD)": s.budget.monthly_usd,
        "Spent (USD)": s.spend,
        "Spent": s.spend_ratio,
        "Forecast (USD)": s.forecast,
        "Forecast": s.forecast_ratio,
        "Status": LEVEL_TEXT[s.level],
        "Runs out": s.run_out.strftime("%d %b") if s.run_out else "",
        "Unpriced calls": s.unpriced_calls,
    } for s in statuses])
    st.dataframe(table, hide_index=True, column_config={
        "Monthly (USD)": st.column_config.NumberColumn(format="$%.2f"),
        "Spent (USD)": st.column_config.NumberColumn(format="$%.2f"),
        "Forecast (USD)": st.column_config.NumberColumn(format="$%.2f"),
        "Spent": st.column_config.ProgressColumn("Spent / budget", format="percent", min_value=0, max_value=1),
        "Forecast": st.column_config.NumberColumn("Forecast / budget", format="percent"),
    })
    fig = go.Figure()
    fig.add_bar(y=table["Budget"], x=table["Spent (USD)"], name="spent", orientation="h",
                hovertemplate="%{y}<br>spent $%{x:,.2f}<extra></extra>")
    fig.add_bar(y=table["Budget"], x=(table["Forecast (USD)"] - table["Spent (USD)"]).clip(lower=0),
                name="forecast to month end", orientation="h", marker_color="#BAB0AC",
                hovertemplate="%{y}<br>+ $%{x:,.2f} by month end<extra></extra>")
    fig.add_scatter(y=table["Budget"], x=table["Monthly (USD)"], mode="markers", name="budget",
                    marker={"symbol": "line-ns-open", "size": 28, "line": {"width": 3}, "color": "#E45756"},
                    hovertemplate="%{y}<br>budget $%{x:,.2f}<extra></extra>")
    fig.update_layout(barmode="stack")
    ui.style(fig, y_title="", x_title="USD this month", height=120 + 45 * len(table))
    fig.update_xaxes(tickprefix="$", tickformat=",.0f")
    ui.chart(fig, "budget_chart")


def _check(source, _filters, *, budgets: tuple[budget_api.Budget, ...], month: str) -> list:
    return budget_api.check_budgets(list(budgets), source, month=month)


def _report(filters: Filters, month: str) -> None:
    st.subheader("Monthly report")
    st.caption("Spend against budget, forecast and run-out date, breakdowns by model, feature and user with the "
               "change on the previous month, top cost drivers, cache savings, money lost to retries and errors, "
               "the unpriced share and anomalous days. The service/model/feature/user filters apply; the "
               "date range does not (the report covers the month).")
    c = st.columns([1, 1, 2])
    fmt = c[0].radio("Format", ["html", "md"], format_func={"html": "HTML", "md": "Markdown"}.__getitem__,
                     horizontal=True, key="report_format")
    budget = c[1].number_input("Budget (USD)", min_value=0.0, value=float(global_budget() or 0.0), step=50.0,
                               key="report_budget", help="0 = no budget line in the report.")
    scope = filters.with_range(None, None)
    wanted = (month, fmt, budget, repr(scope))
    if c[2].button("Prepare report", icon=":material/description:", key="report_build"):
        rep = report_api.build_report(data.current_source(), month, budget=budget or None, filters=scope)
        text = report_render.render_html(rep) if fmt == "html" else report_render.render_markdown(rep)
        st.session_state["report"] = (wanted, text, report_render.render_markdown(rep))
    ready = st.session_state.get("report")
    if ready and ready[0] == wanted:
        _, text, markdown = ready
        st.download_button(
            f"Download {month} report ({'HTML' if fmt == 'html' else 'Markdown'})", text.encode("utf-8"),
            file_name=f"tokentrail-report-{month}.{fmt}", mime="text/html" if fmt == "html" else "text/markdown",
            icon=":material/download:", type="primary", key="report_download")
        with st.expander("Preview", expanded=False):
            st.markdown(markdown)
