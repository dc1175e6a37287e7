"""`tokentrail sql` output formats and errors, and query() through both routes (file and collector)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from tokentrail.analytics import QueryError, query

from tokentrail.cli import main

ROWS = [
    {"ts": datetime(2026, 11, 2, 10), "model": "gpt-4o", "input_tokens": 1_000_000, "output_tokens": 0},
    {"ts": datetime(2026, 11, 3, 10), "model": "gpt-4o-mini", "input_tokens": 1_000_000, "output_tokens": 0},
]
SQL = "SELECT model, cost_usd FROM llm_calls ORDER BY model"


@pytest.fixture
def db(make_db):
    return make_db(ROWS)


def test_table_format(db, capsys):
    assert main(["sql", SQL, "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["model", "cost_usd"]
    assert out[2].split() == ["gpt-4o", "2.5"]
    assert out[3].split() == ["gpt-4o-mini", "0.15"]
    assert out[-1] == "(2 rows)"


def test_csv_format(db, capsys):
    assert main(["sql", SQL, "--db", str(db), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["model"], float(r["cost_usd"])) for r in rows] == [("gpt-4o", 2.5), ("gpt-4o-mini", 0.15)]


def test_json_format_to_file(db, tmp_path):
    out = tmp_path / "out.json"
    assert main(["sql", "SELECT model, ts, price_known FROM llm_calls ORDER BY ts", "--db", str(db),
                 "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc[0] == {"model": "gpt-4o", "ts": "2026-11-02T10:00:00", "price_known": True}


def test_parquet_format_needs_a_file_and_round_trips(db, tmp_path, capsys):
    assert main(["sql", SQL, "--db", str(db), "--format", "parquet"]) == 2
    assert "needs -o" in capsys.readouterr().err
    out = tmp_path / "out.parquet"
    assert main(["sql", SQL, "--db", str(db), "--format", "parquet", "-o", str(out)]) == 0
    table = pq.read_table(out)
    assert table.column("model").to_pylist() == ["gpt-4o", "gpt-4o-mini"]
    assert table.column("cost_usd").to_pylist() == pytest.approx([2.5, 0.15])


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT nope FROM llm_calls", 'Referenced column "nope" not found'),
        ("SELEC 1", "syntax error"),
        ("DELETE FROM llm_calls_raw", "only read-only queries"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
    ],
)
def test_bad_queries_print_duckdbs_message(db, sql, message, capsys):
    assert main(["sql", sql, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tokentrail sql: ")
    assert message.lower() in err.lower()


def test_bad_query_from_the_real_command_has_no_traceback(db):
    proc = subprocess.run([sys.executable, "-m", "tokentrail", "sql", "SELECT nope FROM llm_calls", "--db", str(db)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith('tokentrail sql: Binder Error: Referenced column "nope" not found')


def test_missing_database_is_a_clear_error(tmp_path, capsys):
    assert main(["sql", "SELECT 1", "--db", str(tmp_path / "absent.duckdb")]) == 1
    assert "no tokentrail database" in capsys.readouterr().err


def test_query_returns_dataframe_and_raises_query_error(db):
    df = query("SELECT model, cost_usd FROM llm_calls WHERE model = ?", ["gpt-4o"], db=db)
    assert df.to_dict("records") == [{"model": "gpt-4o", "cost_usd": pytest.approx(2.5)}]
    with pytest.raises(QueryError, match="nope"):
        query("SELECT nope FROM llm_calls", db=db)


def test_query_through_the_collector_endpoint(make_db, monkeypatch):
    """The same SQL over the collector's /v1/query (Arrow), with bearer auth."""
    from tokentrail.collector.server import Collector

    path = make_db(ROWS)
    collector = Collector(path, http_port=0, grpc_port=None, token="s3cret").start()
    try:
        from tokentrail.analytics import connect

        remote = connect(collector=collector.http_url, token="s3cret").query(SQL)
        assert remote.to_dict("records") == [{"model": "gpt-4o", "cost_usd": pytest.approx(2.5)},
                                             {"model": "gpt-4o-mini", "cost_usd": pytest.approx(0.15)}]
        with pytest.raises(QueryError, match="401|unauthori|token"):
            connect(collector=collector.http_url, token="wrong").query(SQL)
        with pytest.raises(QueryError, match="nope"):
            connect(collector=collector.http_url, token="s3cret").query("SELECT nope FROM llm_calls")
        monkeypatch.setenv("TOKENTRAIL_COLLECTOR", collector.http_url)
        monkeypatch.setenv("TOKENTRAIL_TOKEN", "s3cret")
        assert len(query(SQL)) == 2  # TOKENTRAIL_COLLECTOR routes query() to the collector
    finally:
        collector.stop()


def test_schema_doc_is_generated_and_documents_every_column(make_db):
    from pathlib import Path

    from tokentrail.analytics.schema_doc import render

    from tokentrail.columns import COLUMNS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text()
    assert doc == render(), "docs/schema.md is stale: python -m tokentrail.analytics.schema_doc > docs/schema.md"
    for c in COLUMNS:
        assert f"| `{c.name}` | {c.sql_type} |" in doc
    # and every column the views expose is in the reference
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "gpt-4o"}])
    for view in ("llm_calls", "llm_calls_priced", "llm_calls_daily", "llm_cost_daily", "prices", "pricing_info"):
        for col in query(f"SELECT * FROM {view} LIMIT 0", db=path).columns:
            assert f"`{col}`" in doc or f"{col}," in doc or f", {col}`" in doc or f" {col}," in doc, (view, col)
