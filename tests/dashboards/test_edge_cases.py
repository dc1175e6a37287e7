"""What can go wrong gets a plain explanation on the page, never a traceback: an empty database, no
file at all, a collector that does not answer, a bad query. Also: reading through a live collector,
and the page and filters living in the URL."""

from __future__ import annotations

import shutil

import pytest
from dash_helpers import Direct, metrics, number, shown_close

PAGES = ("overview", "costs", "latency", "errors", "cache", "budget", "whatif", "sql", "call")


@pytest.mark.parametrize("page", PAGES)
def test_empty_database_explains_itself(open_app, empty_db, page):
    at = open_app(empty_db, page)
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    if page == "sql":
        assert at.dataframe[0].value.empty  # the console still works, on no rows
    else:
        assert any("No LLM calls recorded yet" in i.value for i in at.info)


def test_missing_file_explains_itself(open_app, tmp_path):
    at = open_app(tmp_path / "nowhere.duckdb", "overview")
    assert not at.exception
    assert "No tokentrail database yet" in at.error[0].value
    assert "nowhere.duckdb" in at.error[0].value
    assert at.sidebar.radio  # the page selector still works


def test_unreachable_collector_explains_itself(open_app):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    at = open_app(None, "costs", collector=f"http://127.0.0.1:{port}")
    assert not at.exception
    assert "The collector is not answering" in at.error[0].value
    assert f"127.0.0.1:{port}" in at.error[0].value


def test_reads_through_a_live_collector(open_app, sample_db, tmp_path):
    """With a collector owning the file, the dashboard queries its read-only API and shows the same."""
    from tokentrail.collector.server import Collector

    db = tmp_path / "owned.duckdb"
    shutil.copy(sample_db, db)
    direct = Direct(db)
    start, end = direct.default_range()
    where, params = direct.where(start, end, model="gpt-4o-mini")
    calls, cost = direct.one(f"SELECT count(*), sum(cost_usd) FROM llm_calls {where}", params)
    direct.close()
    collector = Collector(db, http_port=0, grpc_port=0).start()
    try:
        at = open_app(None, "overview", collector=collector.http_url, model="gpt-4o-mini")
        assert not at.exception and not at.error, [e.value for e in at.error]
        m = metrics(at)
        assert number(m["Calls"]) == calls
        assert shown_close(m["Spend"], cost)
        at.sidebar.radio[0].set_value("sql").run()
        at.text_area(key="q").set_value("DROP TABLE spans").run()
        assert not at.exception and "Not allowed" in at.error[0].value
    finally:
        collector.stop()


def test_file_held_by_another_writer_explains_itself(open_app, sample_db, tmp_path):
    """A collector (another process) holding the file for writing: say so and point at --collector."""
    import subprocess
    import sys

    db = tmp_path / "held.duckdb"
    shutil.copy(sample_db, db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "time.sleep(120)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        at = open_app(db, "overview")
        assert not at.exception
        assert "The database is busy" in at.error[0].value and "--collector" in at.error[0].value
    finally:
        holder.kill()
        holder.wait()


def test_collector_with_a_token(open_app, sample_db, tmp_path, monkeypatch):
    """Without the collector's token the page says so; with it, the figures come through."""
    from tokentrail.collector.server import Collector

    db = tmp_path / "guarded.duckdb"
    shutil.copy(sample_db, db)
    direct = Direct(db)
    start, end = direct.default_range()
    where, params = direct.where(start, end)
    (calls,) = direct.one(f"SELECT count(*) FROM llm_calls {where}", params)
    direct.close()
    collector = Collector(db, http_port=0, grpc_port=0, token="s3cret").start()
    try:
        at = open_app(None, "overview", collector=collector.http_url)
        assert not at.exception
        assert "wants a bearer token" in at.error[0].value
        monkeypatch.setenv("TOKENTRAIL_TOKEN", "s3cret")
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert number(metrics(at)["Calls"]) == calls
    finally:
        collector.stop()


def test_page_and_filters_come_from_the_url(open_app, sample_db, direct):
    at = open_app(sample_db, "latency", model=["gpt-4o", "gpt-4.1"], service="api",
                  dates=["2026-01-01", "2030-12-31"])
    assert at.title[0].value == "Latency"
    assert at.multiselect(key="model").value == ["gpt-4o", "gpt-4.1"]
    assert at.multiselect(key="service").value == ["api"]
    (p50,) = direct.one("SELECT quantile_cont(duration_ms, 0.5) FROM llm_calls_raw WHERE model IN ('gpt-4o', "
                        "'gpt-4.1') AND service = 'api' AND status = 'ok' AND NOT cache_hit")
    shown = metrics(at)["p50"]
    assert shown_close(shown, p50, 1000 if shown.endswith(" s") else 1)


def test_changing_page_updates_the_url(open_app, sample_db):
    at = open_app(sample_db, "overview")
    assert at.query_params["page"] == "overview"
    at.sidebar.radio[0].set_value("cache").run()
    assert at.title[0].value == "Cache"
    assert at.query_params["page"] == "cache"


def test_unknown_page_in_url_falls_back_to_overview(open_app, sample_db):
    at = open_app(sample_db, "no-such-page")
    assert at.title[0].value == "Overview"
