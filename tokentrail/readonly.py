"""Read-only SQL for users: one guard shared by the collector's query endpoint, `tokentrail sql`
and the dashboard's SQL console.

Two independent layers: a statement-type check (only one SELECT, WITH ... SELECT or EXPLAIN), and a
DuckDB connection that cannot touch the outside world (external access off, configuration locked,
the file attached READ_ONLY). Either alone would stop a write; together they also stop reading other
files (`read_csv('/etc/passwd')`), ATTACH, INSTALL and COPY.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tokentrail.fileguard import GuardTimeout, guarded

DEFAULT_MAX_ROWS = 100_000
DEFAULT_TIMEOUT_S = 30.0
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class UnsafeQueryError(ValueError):
    """The SQL is not a single read-only statement."""


class QueryTimeoutError(TimeoutError):
    """The query ran past its time limit and was interrupted."""


@dataclass(frozen=True)
class ReadResult:
    table: pa.Table
    truncated: bool


def _arrow_reader(relation: duckdb.DuckDBPyRelation, batch_size: int) -> pa.RecordBatchReader:
    # DuckDB 1.4 renamed fetch_record_batch to to_arrow_reader; 2.x keeps only the new name.
    method = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    return method(batch_size)


def check_read_only(sql: str) -> str:
    """Return the single read-only statement in `sql`, or raise UnsafeQueryError saying why."""
    if not sql or not sql.strip():
        raise UnsafeQueryError("empty query")
    statements = duckdb.extract_statements(sql)  # raises duckdb.ParserException on bad syntax
    if len(statements) != 1:
        raise UnsafeQueryError(f"expected exactly one statement, got {len(statements)}")
    statement = statements[0]
    if statement.type not in _ALLOWED:
        kind = statement.type.name
        raise UnsafeQueryError(f"only read-only queries (SELECT, WITH, EXPLAIN) are allowed, not {kind}")
    if statement.type == duckdb.StatementType.EXPLAIN:
        _check_explained(sql)
    return statement.query


_EXPLAIN_PREFIX = re.compile(r"\bEXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)


def _check_explained(sql: str) -> None:
    """EXPLAIN ANALYZE executes its statement (`EXPLAIN ANALYZE DELETE ...` deletes), so the
    explained statement must itself be a SELECT; anything this cannot parse is refused."""
    match = _EXPLAIN_PREFIX.search(sql)
    inner = sql[match.end():] if match else ""
    try:
        statements = duckdb.extract_statements(inner) if inner.strip() else []
    except duckdb.Error:
        statements = []
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise UnsafeQueryError("EXPLAIN is only allowed for a SELECT")


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Turn off external access and freeze settings; irreversible for this DuckDB instance."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


class DatabaseOpenError(RuntimeError):
    """The file is missing, not a DuckDB database, or locked by a writer for too long."""


@contextmanager
def open_file_reader(path: str | Path, lock_timeout: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """An isolated, read-only view of a tokentrail file, held only for the `with` block.

    DuckDB lets one process write a file and blocks other processes while it does, so readers
    open per query and retry briefly on the lock instead of holding the file and starving the
    embedded writer.
    """
    path = Path(path)
    if not path.exists():
        raise DatabaseOpenError(f"no tokentrail database at {path}")
    deadline = time.monotonic() + lock_timeout
    delay = 0.01
    while True:
        con = duckdb.connect(":memory:")
        try:
            # The guard keeps a writer from replacing the headers DuckDB reads before it locks.
            with guarded(path, shared=True, timeout=max(deadline - time.monotonic(), 0.0)):
                con.execute("ATTACH ? AS tokentrail_db (READ_ONLY)", [str(path)])
            break
        except (duckdb.Error, GuardTimeout) as exc:
            con.close()
            if isinstance(exc, duckdb.Error) and not _is_lock_error(exc):
                raise DatabaseOpenError(f"cannot open {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise DatabaseOpenError(
                    f"{exc} -- another process holds {path} for writing; read through the collector"
                    " (--collector URL) or stop the writer (see docs/troubleshooting.md)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
    try:
        con.execute("USE tokentrail_db")
        lock_down(con)
        yield con
    finally:
        con.close()


def run_read_only(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | None = None,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ReadResult:
    """Run one guarded statement with row and time limits; at most `max_rows` rows come back."""
    statement = check_read_only(sql)
    timed_out = threading.Event()

    def _interrupt() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, _interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = con.sql(statement, params=list(params) if params else None)
        reader = _arrow_reader(relation, min(max_rows + 1, 65_536))
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > max_rows:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException as exc:
        if timed_out.is_set():
            raise QueryTimeoutError(f"query exceeded the {timeout_s:g} s time limit") from exc
        raise
    finally:
        timer.cancel()
    truncated = table.num_rows > max_rows
    return ReadResult(table.slice(0, max_rows) if truncated else table, truncated)
