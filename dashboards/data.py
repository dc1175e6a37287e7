"""The dashboard's only door to data: SQL through the analytics `Source`, aggregated in DuckDB.

Every figure on every page is the result of a query over the `llm_calls` view (or `spans`) that
returns a handful of rows; nothing loads raw calls into pandas. One script run pins one read-only
connection (views installed once) so a page's five or six queries do not each re-open the file;
the connection is released when the run ends, so the collector or an embedded writer is never
starved. Results are cached for a few seconds so widget clicks feel instant.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
import streamlit as st
from tokentrail.analytics.filters import Filters
from tokentrail.analytics.source import QueryError, Source, connect

CACHE_TTL_S = 15


class DataUnavailable(Exception):
    """Data cannot be read at all (no file, collector down): shown as a plain explanation."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(f"{title}: {detail}")
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class Target:
    """Where the dashboard reads from, as given on the command line (via the environment)."""

    db: str | None
    collector: str | None

    @property
    def label(self) -> str:
        return f"collector {self.collector}" if self.collector else f"file {self.db}"

    @classmethod
    def from_env(cls) -> Target:
        from tokentrail.config import settings

        s = settings()
        if s.collector_url:
            return cls(db=None, collector=s.collector_url)
        return cls(db=str(s.db_path), collector=None)


_local = threading.local()  # Streamlit runs each browser session in its own thread


def _get() -> Source | None:
    return getattr(_local, "source", None)


def target() -> Target:
    return Target.from_env()


@contextmanager
def session(t: Target) -> Iterator[Source]:
    """Pin one connection for the duration of a script run (file mode); explain failures plainly."""
    if t.collector:
        _check_collector(t.collector)
    elif t.db and not os.path.exists(t.db):
        raise DataUnavailable(
            "No tokentrail database yet",
            f"There is no file at `{t.db}`. Point the dashboard at one with `tokentrail dashboard --db PATH`, "
            "or start recording: run a collector (`tokentrail collector`) or call `tokentrail.instrument()` "
            "in your app, then reload this page.",
        )
    source = connect(db=t.db, collector=t.collector)
    try:
        with source.pinned():
            _local.source = source
            yield source
    except (QueryError, duckdb.Error) as exc:
        if t.db and "lock" in str(exc).lower():
            raise DataUnavailable(
                "The database is busy",
                f"Another process holds `{t.db}` for writing. If a collector owns this file, start the dashboard "
                "with `--collector URL` so it reads through the collector's query API.",
            ) from exc
        raise
    finally:
        _local.source = None


def _check_collector(url: str) -> None:
    import httpx

    from tokentrail.config import settings

    token = settings().token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.get(url.rstrip("/") + "/healthz", headers=headers, timeout=3.0)
    except httpx.HTTPError as exc:
        raise DataUnavailable(
            "The collector is not answering",
            f"Nothing answered at `{url}` ({type(exc).__name__}). Start it with `tokentrail collector`, check "
            "the URL given to `--collector`, or read the file directly with `--db PATH`.",
        ) from exc
    if resp.status_code == 401:
        raise DataUnavailable(
            "The collector refused the dashboard",
            f"`{url}` wants a bearer token. Start the dashboard with `TOKENTRAIL_TOKEN` set to the collector's token."
            if not token else f"`{url}` did not accept the token in `TOKENTRAIL_TOKEN`.",
        )
    if resp.status_code >= 500:
        raise DataUnavailable("The collector is unhealthy", f"`{url}/healthz` answered HTTP {resp.status_code}.")


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _cached(label: str, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    source = _get()
    if source is None:
        raise RuntimeError("query() outside data.session()")
    return source.query(sql, list(params) or None)


def query(sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """Run one aggregate query for the current run; cached for CACHE_TTL_S seconds."""
    source = _get()
    if source is None:
        raise RuntimeError("query() outside data.session()")
    return _cached(repr(source), sql, tuple(params))


def scalar_row(sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
    """The single row of an aggregate query as a dict (NaN/NA become None)."""
    df = query(sql, params)
    if df.empty:
        return {}
    row = df.iloc[0].to_dict()
    return {k: (None if _is_missing(v) else v) for k, v in row.items()}


def _is_missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def current_source() -> Source:
    """The pinned Source of this run, for analytics functions that take one."""
    source = _get()
    if source is None:
        raise RuntimeError("current_source() outside data.session()")
    return source


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _cached_call(label: str, name: str, filters_key: str, kwargs_key: str, _fn: Callable[..., Any],
                 _filters: Filters | None, _kwargs: dict[str, Any]) -> Any:
    return _fn(current_source(), _filters, **_kwargs)


def analysis(fn: Callable[..., Any], filters: Filters | None, **kwargs: Any) -> Any:
    """Call an analytics function `fn(source, filters, **kwargs)` on this run's source, cached."""
    source = current_source()
    name = f"{fn.__module__}.{fn.__qualname__}"
    return _cached_call(repr(source), name, repr(filters), repr(sorted(kwargs.items())), fn, filters, kwargs)
