"""tokentrail cost explorer: the Streamlit entry point (`tokentrail dashboard` runs this file).

One script with a page selector rather than Streamlit's multipage folders, so the page is just
another query parameter (`?page=costs&model=gpt-4o`) next to the filters, and one place handles
what can go wrong: no file, a collector that does not answer, an empty database or a failing
query each become a plain explanation on the page, never a traceback.
"""

from __future__ import annotations

import importlib

import streamlit as st
from tokentrail.analytics.source import QueryError
from tokentrail.dashboards import data, sidebar

st.set_page_config(page_title="tokentrail", page_icon=":material/query_stats:", layout="wide")

# Pages that stay useful on an empty database.
WORKS_WHEN_EMPTY = {"sql"}
# Pages whose figures do not follow the sidebar's date range (so they do not claim to).
OWN_PERIOD = {"sql", "budget"}


def _render_empty(target: data.Target) -> None:
    st.info(
        f"**No LLM calls recorded yet** in {target.label}.\n\n"
        "Once your app sends traces, this page fills in. To record calls, add "
        "`import tokentrail; tokentrail.instrument()` at the start of your app (or run it under "
        "`tokentrail run`), or try `tokentrail demo` for a realistic sample workload.",
        icon=":material/hourglass_empty:",
    )


def main() -> None:
    st.sidebar.title("tokentrail")
    page = sidebar.page_selector()
    target = data.target()
    st.sidebar.caption(f"Reading {target.label}")
    try:
        with data.session(target):
            ext = sidebar.extent()
            filters = sidebar.filters(ext)
            module = importlib.import_module(f"tokentrail.dashboards.screens.{page}")
            st.title(sidebar.PAGES[page])
            if page not in OWN_PERIOD:
                st.caption(sidebar.describe(filters))
            if ext.empty and page not in WORKS_WHEN_EMPTY:
                _render_empty(target)
                return
            module.render(filters, ext)
    except data.DataUnavailable as exc:
        st.error(f"**{exc.title}.** {exc.detail}", icon=":material/cloud_off:")
    except QueryError as exc:
        st.error(f"**A query behind this page failed.** {exc}", icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - the last line of defence: explain, never show a traceback
        st.error(
            f"**This page could not be drawn** ({type(exc).__name__}: {exc}). The other pages may still work; "
            "please report this with the page's link.",
            icon=":material/error:",
        )


main()
