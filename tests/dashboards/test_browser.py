"""A real headless Chromium against a running `tokentrail dashboard`: every page loads from its URL,
finishes rendering without a Streamlit exception box, and is saved as a screenshot under
artifacts/screenshots/ (kept by CI as test artifacts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dash_browser import Browser, Dashboard, chromium_binary

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = pytest.mark.slow

if chromium_binary() is None:  # a missing browser is a broken setup, not a reason to skip
    raise RuntimeError("chromium is not installed: `make system-deps` (Debian package `chromium`)")


@pytest.fixture(scope="module")
def budgets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("budgets") / "budgets.toml"
    path.write_text('[[budget]]\nname = "total"\nmonthly_usd = 40\n\n[[budget]]\nfeature = "search"\n'
                    'monthly_usd = 5\n')
    return path


@pytest.fixture(scope="module")
def dashboard(sample_db: Path, budgets_file: Path) -> Iterator[Dashboard]:
    d = Dashboard("--db", str(sample_db), env={"TOKENTRAIL_BUDGETS": str(budgets_file)})
    yield d
    d.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _span_with_retries(db: Path) -> str:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT span_id FROM llm_calls_raw WHERE retry_count > 0 AND status = 'ok' "
                           "ORDER BY ts DESC LIMIT 1").fetchone()[0]


VIEWS = [
    ("overview", "page=overview", "Overview"),
    ("costs", "page=costs&by=feature", "Costs"),
    ("costs-filtered", "page=costs&by=user&model=gpt-4o&service=api", "Costs"),
    ("latency", "page=latency", "Latency"),
    ("errors", "page=errors", "Retries & errors"),
    ("cache", "page=cache", "Cache"),
    ("budget", "page=budget", "Budget"),
    ("whatif", "page=whatif&feature=search&to=gpt-4.1-mini&to=gpt-5-mini", "What-if"),
    ("sql", "page=sql", "SQL"),
    ("call-picker", "page=call", "Call detail"),
    ("call", "page=call&span={span}", "Call detail"),
]


@pytest.mark.parametrize(("name", "query", "title"), VIEWS, ids=[v[0] for v in VIEWS])
def test_page_renders_in_chromium(dashboard, browser, sample_db, name, query, title):
    url = dashboard.url + "?" + query.format(span=_span_with_retries(sample_db))
    state = browser.load(url)
    browser.screenshot(ARTIFACTS / f"{name}.png")
    assert state["exceptions"] == 0, state["text"]
    assert state["title"] == title
    assert "could not be drawn" not in state["text"] and "Traceback" not in state["text"]
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_bad_sql_in_chromium(dashboard, browser):
    state = browser.load(dashboard.url + "?page=sql&q=SELECT+nope+FROM+llm_calls")
    browser.screenshot(ARTIFACTS / "sql-error.png")
    assert state["exceptions"] == 0
    assert "The query failed" in state["text"] and "nope" in state["text"]


def test_empty_database_in_chromium(empty_db, browser):
    d = Dashboard("--db", str(empty_db))
    try:
        state = browser.load(d.url + "?page=costs")
        browser.screenshot(ARTIFACTS / "empty-database.png")
    finally:
        d.close()
    assert state["exceptions"] == 0
    assert "No LLM calls recorded yet" in state["text"]


def test_missing_collector_in_chromium(browser):
    from dash_browser import free_port

    d = Dashboard("--collector", f"http://127.0.0.1:{free_port()}")
    try:
        state = browser.load(d.url + "?page=overview")
        browser.screenshot(ARTIFACTS / "missing-collector.png")
    finally:
        d.close()
    assert state["exceptions"] == 0
    assert "The collector is not answering" in state["text"]


def test_through_a_live_collector_in_chromium(sample_db, browser, tmp_path):
    """The file a collector owns, read through its query API by `tokentrail dashboard --collector`."""
    import shutil

    from tokentrail.collector.server import Collector

    db = tmp_path / "owned.duckdb"
    shutil.copy(sample_db, db)
    collector = Collector(db, http_port=0, grpc_port=0).start()
    d = Dashboard("--collector", collector.http_url)
    try:
        state = browser.load(d.url + "?page=costs&by=feature")
        browser.screenshot(ARTIFACTS / "through-collector.png")
    finally:
        d.close()
        collector.stop()
    assert state["exceptions"] == 0, state["text"]
    assert state["title"] == "Costs" and "chat-assistant" in state["text"]
    assert f"collector {collector.http_url}" in state["sidebar"]
