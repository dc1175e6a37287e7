"""Page selector and global filters, every one bound to a URL query parameter.

Widgets use Streamlit's `bind="query-params"`: the URL is the state, so a view (page, date range,
service, model, feature, user and page-specific choices) is shared by copying the link, and a
link opened cold renders the same view. Parameter names: `page`, `dates` (two ISO dates),
`service`, `model`, `feature`, `user` (repeated for several values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import streamlit as st
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards import data

PAGES: dict[str, str] = {
    "overview": "Overview",
    "costs": "Costs",
    "latency": "Latency",
    "errors": "Retries & errors",
    "cache": "Cache",
    "budget": "Budget",
    "whatif": "What-if",
    "sql": "SQL",
    "call": "Call detail",
}
DEFAULT_DAYS = 30
FILTER_DIMENSIONS = (("service", "service", "Service"), ("model", "model", "Model"),
                     ("feature", "feature", "Feature"), ("user", "user_id", "User"))


@dataclass(frozen=True)
class Extent:
    """How much data there is: drives the default date range and the empty-database explanation."""

    calls: int
    first: date | None
    last: date | None

    @property
    def empty(self) -> bool:
        return self.calls == 0


def today() -> date:
    return datetime.now(timezone.utc).date()


def choice(widget: Callable[..., Any], label: str, options: dict[str, str], key: str, default: str,
           **kwargs: Any) -> str:
    """A radio/segmented control whose value lives in the URL as a short slug (`?page=costs`).

    Streamlit's own binding stores the displayed label ("Retries & errors") in the URL; slugs make
    links readable and stable if a label is reworded, so these few choices are bound by hand: the
    URL seeds the widget the first time it renders, and the widget writes its slug back.
    """
    if key not in st.session_state:
        wanted = st.query_params.get(key, default)
        st.session_state[key] = wanted if wanted in options else default
    value = widget(label, list(options), format_func=options.__getitem__, key=key, **kwargs) or default
    if value == default:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = value
    return value


def page_selector() -> str:
    """The page radio; needs no data, so it still works when the database cannot be read."""
    value = choice(st.sidebar.radio, "Page", PAGES, "page", "overview", label_visibility="collapsed")
    st.query_params["page"] = value  # always explicit, so a shared link names its page
    return value


def extent() -> Extent:
    row = data.scalar_row("SELECT count(*) AS calls, min(ts) AS first, max(ts) AS last FROM llm_calls_raw")
    calls = int(row.get("calls") or 0)
    first, last = row.get("first"), row.get("last")
    return Extent(calls, first.date() if first is not None else None, last.date() if last is not None else None)


def _options() -> dict[str, list[str]]:
    """Values each filter can take, alphabetically (one scan of the table, NULLs left out)."""
    lists = ", ".join(f"list_sort(list(DISTINCT {column})) AS {name}" for name, column, _ in FILTER_DIMENSIONS)
    row = data.scalar_row(f"SELECT {lists} FROM llm_calls_raw")
    return {name: [str(v) for v in (row[name] if row.get(name) is not None else [])]
            for name, _, _ in FILTER_DIMENSIONS}


def default_range(ext: Extent) -> tuple[date, date]:
    """The last DEFAULT_DAYS days up to the latest call (not today: an idle file still shows data)."""
    end = ext.last or today()
    start = end - timedelta(days=DEFAULT_DAYS - 1)
    if ext.first is not None:
        start = max(start, ext.first)
    return start, end


def filters(ext: Extent) -> Filters:
    """Render the global filters and return them as analytics Filters (empty selection = all)."""
    side = st.sidebar
    side.markdown("**Filters**")
    start_default, end_default = default_range(ext)
    picked: Any = side.date_input("Date range (UTC)", value=(start_default, end_default), key="dates",
                                  bind="query-params", help="Both ends included. Times are UTC.")
    start, end = _range(picked, start_default, end_default)
    options = _options() if not ext.empty else {name: [] for name, _, _ in FILTER_DIMENSIONS}
    chosen: dict[str, list[str] | None] = {}
    for name, _, label in FILTER_DIMENSIONS:
        values = side.multiselect(label, options[name], key=name, bind="query-params",
                                  placeholder=f"All {label.lower()}s")
        chosen[name] = list(values) or None
    return Filters(start=start, end=end, service=chosen["service"], model=chosen["model"],
                   feature=chosen["feature"], user=chosen["user"])


def _range(picked: Any, start: date, end: date) -> tuple[date, date]:
    """While a range is half-picked Streamlit returns one date; treat it as a one-day range."""
    if isinstance(picked, (tuple, list)):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
        return start, end
    if isinstance(picked, date):
        return picked, picked
    return start, end


def describe(f: Filters) -> str:
    """One line saying what the figures cover, shown under each page title."""
    parts = [f"{f.start:%d %b %Y} – {f.end:%d %b %Y} (UTC)"]
    for name, _, label in FILTER_DIMENSIONS:
        values = getattr(f, name)
        if values:
            parts.append(f"{label.lower()}: {', '.join(values)}")
    return " · ".join(parts)
