"""Budget: each budget scope's month-to-date spend and forecast, and the monthly report download."""

from __future__ import annotations

import streamlit as st
from tokentrail.analytics.filters import Filters
from tokentrail.dashboards.sidebar import Extent


def global_budget() -> float | None:
    """The global monthly budget from the budgets file, if one is configured."""
    return None


def render(filters: Filters, ext: Extent) -> None:
    st.info("Budgets are not available yet.")
