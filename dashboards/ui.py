"""Formatting and chart conventions shared by the pages: money in USD, durations in ms or s,
token counts with thousands separators, and Plotly figures with labelled axes and units."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
import streamlit as st

CURRENCY = "USD"
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
           "#9D755D", "#BAB0AC", "#79706E")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: Any) -> str:
    """`$1,234.56`, `-$3.10`; sub-cent amounts keep significant digits (`$0.0042`); unknown is `n/a`."""
    if _missing(value):
        return "n/a"
    v = float(value)
    sign = "-" if v < 0 else ""
    if v != 0 and abs(v) < 0.01:
        return f"{sign}${abs(v):.4f}"
    return f"{sign}${abs(v):,.2f}"


def count(value: Any) -> str:
    return "0" if _missing(value) else f"{int(value):,}"


def percent(value: Any, digits: int = 1) -> str:
    return "n/a" if _missing(value) else f"{float(value) * 100:.{digits}f}%"


def duration(ms: Any) -> str:
    """Milliseconds below 10 s, seconds up to 10 min, then minutes or hours."""
    if _missing(ms):
        return "n/a"
    v = float(ms)
    if v < 10_000:
        return f"{v:,.0f} ms"
    if v < 600_000:
        return f"{v / 1000:,.1f} s"
    if v < 36_000_000:
        return f"{v / 60_000:,.1f} min"
    return f"{v / 3_600_000:,.1f} h"


def rate(value: Any, unit: str) -> str:
    return "n/a" if _missing(value) else f"{float(value):,.1f} {unit}"


def style(fig: go.Figure, *, y_title: str, x_title: str = "", money_axis: bool = False,
          height: int = 360, legend_title: str | None = None) -> go.Figure:
    """Common layout: titled axes with units, hover in the axis format, legend on top."""
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0,
                "title": {"text": legend_title or ""}},
        hovermode="closest",
        colorway=list(PALETTE),
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    if money_axis:
        fig.update_yaxes(tickprefix="$", tickformat=",.2f")
    return fig


def chart(fig: go.Figure, key: str, *, selectable: bool = False) -> Any:
    """Render a figure; with `selectable`, clicking a bar reruns the script with the selection."""
    if selectable:
        return st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points",
                               config={"displaylogo": False})
    return st.plotly_chart(fig, key=key, config={"displaylogo": False})


def selected_points(event: Any) -> list[dict[str, Any]]:
    """Points of a plotly selection event, whatever mapping type Streamlit returns."""
    if not event:
        return []
    try:
        selection = event["selection"]
        return list(selection["points"] or [])
    except (KeyError, TypeError):
        return []


def selected_rows(event: Any) -> list[int]:
    """Row positions of a dataframe selection event."""
    if not event:
        return []
    try:
        return list(event["selection"]["rows"] or [])
    except (KeyError, TypeError):
        return []


def money_column(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="$%.4f", help=help)


def unpriced_notice(calls: int, models: list[str]) -> None:
    """Unpriced calls are never counted as $0; say so wherever totals are shown."""
    if calls:
        names = ", ".join(f"`{m}`" for m in models[:6]) + (" ..." if len(models) > 6 else "")
        st.warning(
            f"{calls:,} calls have no known price ({names}). Their cost is unknown and left out of the "
            "totals rather than counted as $0. Add the model to your prices file (`TOKENTRAIL_PRICES`) to "
            "price them.",
            icon=":material/price_change:",
        )
