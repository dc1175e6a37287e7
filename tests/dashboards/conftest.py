"""Fixtures for the dashboard tests: real DuckDB files with synthetic traffic, the packaged app under
Streamlit's AppTest, and an independent SQL connection to check what the pages show."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dash_helpers import Direct

os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
SAMPLE_CALLS = 4000


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~4000 calls over 75 days up to now: six models (one unpriced), errors, retries, caches, spans."""
    from tokentrail.dashboards import sample

    path = tmp_path_factory.mktemp("dash") / "sample.duckdb"
    sample.generate(path, SAMPLE_CALLS)
    return path


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokentrail.dashboards import sample

    path = tmp_path_factory.mktemp("dash-empty") / "empty.duckdb"
    sample.create_empty(path)
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TOKENTRAIL_DB", "TOKENTRAIL_COLLECTOR", "TOKENTRAIL_BUDGETS", "TOKENTRAIL_PRICES",
                 "TOKENTRAIL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield
    import streamlit as st

    st.cache_data.clear()  # each test starts from the file, not from a previous test's cached figures


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """open_app(db, page, **query_params) -> a run AppTest of the packaged app on that file."""
    from streamlit.testing.v1 import AppTest

    def factory(db: Path | None, page: str, *, collector: str | None = None, **params: Any) -> AppTest:
        if db is not None:
            monkeypatch.setenv("TOKENTRAIL_DB", str(db))
        if collector is not None:
            monkeypatch.setenv("TOKENTRAIL_COLLECTOR", collector)
        at = AppTest.from_file(str(APP), default_timeout=90)
        at.query_params["page"] = page
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return factory


@pytest.fixture
def direct(sample_db: Path) -> Iterator[Direct]:
    d = Direct(sample_db)
    yield d
    d.close()
