"""Costs: spend over time stacked by the dimension the user picks, a sortable breakdown, and a
drill-down from any bar or table row to the calls behind it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from tokentrail.analytics import analyses
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data, ui
from tokentrail.dashboards.screens import calls_table
from tokentrail.dashboards.sidebar import Extent, choice

STACK_BY = {"model": "Model", "feature": "Feature", "user": "User", "service": "Service", "provider": "Provider"}
COLUMN = {"model": "model", "feature": "feature", "user": "user_id", "service": "service", "provider": "provider"}
TOP = 10  # series drawn separately; the rest is summed as "other"
NONE_LABEL = "(none)"
OTHER_LABEL = "(other)"


def render(filters: Filters, ext: Extent) -> None:
    by = choice(st.segmented_control, "Stack by", STACK_BY, "by", "model")
    table = data.analysis(analyses.cost_by, filters, by=by)
    table[by] = table[by].fillna(NONE_LABEL).astype(str)
    top = list(table[by].head(TOP))

    daily = data.analysis(analyses.cost_by, filters, by=["day", by])
    daily[by] = daily[by].fillna(NONE_LABEL).astype(str)
    daily["series"] = daily[by].where(daily[by].isin(top), OTHER_LABEL)
    stacked = daily.groupby(["day", "series"], as_index=False, sort=False)[["cost_usd", "calls"]].sum()
    # ^ at most (days x TOP+1) already-aggregated rows: folding the tail into "other" is display work.

    unpriced = int(table["unpriced_calls"].sum())
    if unpriced:
        ui.unpriced_notice(unpriced, _unpriced_models(filters))

    st.subheader(f"Spend per day by {STACK_BY[by].lower()}")
    fig = go.Figure()
    series = [s for s in top if s in set(stacked["series"])] + (
        [OTHER_LABEL] if OTHER_LABEL in set(stacked["series"]) else [])
    for name in series:
        part = stacked[stacked["series"] == name]
        fig.add_bar(x=part["day"], y=part["cost_usd"], name=name, customdata=[[name]] * len(part),
                    hovertemplate=f"{name}<br>%{{x|%d %b %Y}}<br>$%{{y:,.4f}}<extra></extra>")
    fig.update_layout(barmode="stack")
    ui.style(fig, y_title="Spend (USD)", x_title="Day (UTC)", money_axis=True, legend_title=STACK_BY[by])
    event = ui.chart(fig, f"costs_chart_{by}", selectable=True)
    st.caption("Click a bar segment, or select a row in the table, to list the calls behind it.")

    st.subheader(f"Breakdown by {STACK_BY[by].lower()}")
    total = table["cost_usd"].sum()
    shown = pd.DataFrame({
        STACK_BY[by]: table[by],
        "Calls": table["calls"],
        "Spend (USD)": table["cost_usd"],
        "Share": table["cost_usd"] / total if total else None,
        "Input cost (USD)": table["input_cost_usd"],
        "Output cost (USD)": table["output_cost_usd"],
        "Input tokens": table["input_tokens"],
        "Output tokens": table["output_tokens"],
        "Unpriced calls": table["unpriced_calls"],
    })
    rows = st.dataframe(
        shown, key=f"costs_table_{by}", hide_index=True, on_select="rerun", selection_mode="single-row",
        column_config={
            "Spend (USD)": ui.money_column("Spend (USD)", "NULL-priced calls are left out, never counted as $0."),
            "Input cost (USD)": ui.money_column("Input cost (USD)"),
            "Output cost (USD)": ui.money_column("Output cost (USD)"),
            "Share": st.column_config.NumberColumn("Share", format="percent"),
        },
    )

    drill = _drill_target(event, rows, fig, shown, STACK_BY[by])
    if drill is not None:
        group, day = drill
        _drill_down(filters, by, group, day, top)


def _unpriced_models(filters: Filters) -> list[str]:
    where, params = filters.where()
    df = data.query(f"SELECT DISTINCT model FROM llm_calls {where} AND NOT price_known ORDER BY 1", params)
    return [str(m) for m in df["model"]]


def _drill_target(event: Any, rows: Any, fig: go.Figure, shown: pd.DataFrame,
                  label: str) -> tuple[str, date | None] | None:
    """(group, day) from a clicked bar, else (group, None) from a selected table row."""
    points = ui.selected_points(event)
    if points:
        p = points[0]
        curve = p.get("curve_number")
        name = fig.data[curve].name if isinstance(curve, int) and curve < len(fig.data) else None
        custom = p.get("customdata")
        if custom:
            name = custom[0] if isinstance(custom, (list, tuple)) else custom
        if name is not None and p.get("x") is not None:
            return str(name), pd.Timestamp(p["x"]).date()
    selected = ui.selected_rows(rows)
    if selected and selected[0] < len(shown):
        return str(shown.iloc[selected[0]][label]), None
    return None


def _drill_down(filters: Filters, by: str, group: str, day: date | None, top: list[str]) -> None:
    column = COLUMN[by]
    extra: list[tuple[str, list[Any]]] = list(filters.extra)
    if group == NONE_LABEL:
        extra.append((f"{column} IS NULL", []))
    elif group == OTHER_LABEL:
        extra.append((f"{column} IS NOT NULL AND {column} NOT IN ({', '.join('?' for _ in top)})", list(top)))
    else:
        extra.append((f"{column} = ?", [group]))
    start, end = (day, day) if day is not None else (filters.start, filters.end)
    if day is not None and (day < _as_date(filters.start) or day > _as_date(filters.end)):
        start, end = filters.start, filters.end
    drill = Filters(start, end, filters.service, filters.model, filters.feature, filters.user,
                    filters.provider, extra)
    when = f" on {day:%d %b %Y}" if day is not None else ""
    st.subheader(f"Calls behind {STACK_BY[by].lower()} {group}{when}")
    calls_table.render(drill, key=f"drill_{by}")


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date() if value is not None else date.min + timedelta(days=1)
