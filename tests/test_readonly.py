"""The read-only guard on a real DuckDB file: reads work, everything else is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tokentrail.readonly import (
    DatabaseOpenError,
    QueryTimeoutError,
    UnsafeQueryError,
    check_read_only,
    open_file_reader,
    run_read_only,
)
from tokentrail.schema import ensure_schema


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        con.execute("INSERT INTO spans (trace_id, span_id, name) SELECT 't' || i, 's', 'n' FROM range(5) r(i)")
    return path


def test_select_with_params_and_row_limit(db: Path) -> None:
    with open_file_reader(db) as con:
        result = run_read_only(con, "SELECT trace_id FROM spans WHERE trace_id <> ? ORDER BY 1", ["t0"], max_rows=2)
    assert result.table.column("trace_id").to_pylist() == ["t1", "t2"]
    assert result.truncated
    with open_file_reader(db) as con:
        assert not run_read_only(con, "WITH x AS (SELECT count(*) n FROM spans) SELECT n FROM x").truncated


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM spans",
        "INSERT INTO spans (trace_id, span_id) VALUES ('a', 'b')",
        "CREATE TABLE x AS SELECT 1",
        "COPY spans TO 'out.csv'",
        "ATTACH 'other.duckdb' AS o",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "PRAGMA enable_profiling",
        "SELECT 1; SELECT 2",
        "",
    ],
)
def test_non_reads_are_refused_before_running(sql: str) -> None:
    with pytest.raises(UnsafeQueryError):
        check_read_only(sql)


def test_reading_other_files_is_refused(db: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with open_file_reader(db) as con:
        for sql in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'"):
            with pytest.raises(duckdb.Error):
                run_read_only(con, sql)


def test_the_file_itself_is_read_only(db: Path) -> None:
    with open_file_reader(db) as con, pytest.raises(duckdb.Error):
        con.execute("DELETE FROM spans")  # even bypassing the statement check


def test_long_query_is_interrupted(db: Path) -> None:
    with open_file_reader(db) as con, pytest.raises(QueryTimeoutError):
        run_read_only(con, "SELECT count(*) FROM range(1000000000000)", timeout_s=0.3)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseOpenError, match="no tokentrail database"), open_file_reader(tmp_path / "nope.duckdb"):
        pass


def test_file_held_by_a_writer_is_a_clear_error(db: Path) -> None:
    """Another process holding the write lock: a message naming the way out, not a traceback."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; con = duckdb.connect({str(db)!r}); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (pytest.raises(DatabaseOpenError, match="another process holds .*--collector URL"),
              open_file_reader(db, lock_timeout=0.3)):
            pass
    finally:
        holder.communicate("", timeout=30)
    with open_file_reader(db) as con:  # released: readable again
        assert con.execute("SELECT count(*) FROM spans").fetchall() == [(5,)]
