"""The one DuckDB write path: decoded batches → `spans` + `llm_calls_raw`, deduplicated, committed.

Both the collector server and the embedded exporter write through `Store.write`, so a span lands
in the same rows either way.

Deduplication rests on the (trace_id, span_id) primary keys. A plain INSERT is tried first: the
keys are still checked, and duplicates are rare (only a client retrying after a lost ack), so this
is the common path. If any key already exists (or repeats inside the batch) DuckDB raises a
constraint error, the transaction is rolled back and redone with `INSERT OR IGNORE`, which skips
exactly the duplicates. bench/bench_collector.py measured the plain keyed INSERT at about twice the
rate of `INSERT OR IGNORE` and faster than an explicit anti-join, so the fallback costs only when
it is needed and dedupe stays exact within a batch, across batches and across restarts.

The plain INSERT goes through DuckDB's relation API (`from_arrow(table).insert_into(name)`)
when the table's columns are exactly the batch's, in order (checked once per connection): it
skips registering a view and parsing/binding an INSERT … SELECT with every column named, which
measured ~2.5 ms of CPU per transaction here — a per-transaction cost that group commit then
spreads over every span of the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from tokentrail.collector.decode import SPAN_COLUMNS

from tokentrail.columns import STORED_COLUMNS
from tokentrail.schema import ensure_schema

_SPAN_LIST = ", ".join(SPAN_COLUMNS)
_LLM_LIST = ", ".join(c.name for c in STORED_COLUMNS)
INSERT_SPANS = f"INSERT INTO spans ({_SPAN_LIST}) SELECT {_SPAN_LIST} FROM tt_spans"
INSERT_LLM = f"INSERT INTO llm_calls_raw ({_LLM_LIST}) SELECT {_LLM_LIST} FROM tt_llm"
INSERT_SPANS_DEDUPE = INSERT_SPANS.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
INSERT_LLM_DEDUPE = INSERT_LLM.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)


def connect(path: str | Path, *, memory_limit: str | None = None,
            checkpoint_threshold: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """Open the file as writer with external access off, so SQL run on this instance (the query
    endpoint) cannot read or write other files, ATTACH, INSTALL or COPY.

    A long-running writer passes a larger `checkpoint_threshold` (WAL size that triggers a
    checkpoint): fewer, larger checkpoints measured ~20% less CPU per span; the WAL is still
    synced on every commit, so durability does not change. `threads` caps DuckDB's worker
    threads (None: DuckDB's default, one per core).
    """
    config: dict[str, Any] = {"enable_external_access": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if checkpoint_threshold:
        config["checkpoint_threshold"] = checkpoint_threshold
    if threads:
        config["threads"] = threads
    con = duckdb.connect(str(path), config=config)
    try:
        ensure_schema(con)
    except BaseException:
        con.close()
        raise
    return con


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, ...]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]
    ).fetchall()
    return tuple(r[0] for r in rows)


class Store:
    """Writes batches on one connection; each `write` call is one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.fast_writes = 0  # transactions that needed no dedupe
        self.dedupe_writes = 0  # transactions redone with INSERT OR IGNORE
        # Positional inserts are only safe while the tables hold exactly our columns, in order.
        self.positional = (_columns(con, "spans") == SPAN_COLUMNS
                           and _columns(con, "llm_calls_raw") == tuple(c.name for c in STORED_COLUMNS))

    def write(self, batches: Sequence[tuple[pa.Table, pa.Table]]) -> tuple[int, int]:
        """Insert (spans, llm calls) table pairs in one transaction and commit; return how many
        new rows each table got.

        Rows whose (trace_id, span_id) is already stored are skipped, so a retried export is
        acknowledged again without duplicating anything.
        """
        batches = [b for b in batches if b[0].num_rows]
        if not batches:
            return 0, 0
        if len(batches) == 1:
            spans_tab, llm_tab = batches[0]
        else:
            spans_tab = pa.concat_tables([b[0] for b in batches])
            llm_tab = pa.concat_tables([b[1] for b in batches])
        if self.positional:
            try:
                self._append(spans_tab, llm_tab)
                self.fast_writes += 1
                return spans_tab.num_rows, llm_tab.num_rows
            except duckdb.ConstraintException:
                pass
        con = self.con
        con.register("tt_spans", spans_tab)
        con.register("tt_llm", llm_tab)
        try:
            if not self.positional:
                try:
                    spans, llm = self._transaction(INSERT_SPANS, INSERT_LLM, llm_tab.num_rows > 0)
                    self.fast_writes += 1
                    return int(spans), int(llm)
                except duckdb.ConstraintException:
                    pass
            spans, llm = self._transaction(INSERT_SPANS_DEDUPE, INSERT_LLM_DEDUPE, llm_tab.num_rows > 0)
            self.dedupe_writes += 1
        finally:
            con.unregister("tt_spans")
            con.unregister("tt_llm")
        return int(spans), int(llm)

    def _append(self, spans_tab: pa.Table, llm_tab: pa.Table) -> None:
        """Plain keyed inserts of every row, one transaction; ConstraintException on a duplicate."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.from_arrow(spans_tab).insert_into("spans")
            if llm_tab.num_rows:
                con.from_arrow(llm_tab).insert_into("llm_calls_raw")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _transaction(self, spans_sql: str, llm_sql: str, has_llm: bool) -> tuple[int, int]:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            spans = con.execute(spans_sql).fetchall()[0][0]
            llm = con.execute(llm_sql).fetchall()[0][0] if has_llm else 0
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return spans, llm

    def checkpoint(self) -> None:
        self.con.execute("CHECKPOINT")

    def close(self) -> None:
        self.con.close()
