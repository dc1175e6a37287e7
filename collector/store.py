"""The one DuckDB write path: decoded batches → `spans` + `llm_calls_raw`, deduplicated, committed.

Both the collector server and the embedded exporter write through `Store.write`, so a span lands
in the same rows either way. Deduplication is `INSERT OR IGNORE` against the (trace_id, span_id)
primary keys: it is correct within a batch, across batches and across client retries, and costs
less than an explicit anti-join here (bench/bench_collector.py measures both).
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
INSERT_SPANS = f"INSERT OR IGNORE INTO spans ({_SPAN_LIST}) SELECT {_SPAN_LIST} FROM tt_spans"
INSERT_LLM = f"INSERT OR IGNORE INTO llm_calls_raw ({_LLM_LIST}) SELECT {_LLM_LIST} FROM tt_llm"


def connect(path: str | Path, *, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the file as writer with external access off, so SQL run on this instance (the query
    endpoint) cannot read or write other files, ATTACH, INSTALL or COPY."""
    config: dict[str, Any] = {"enable_external_access": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(str(path), config=config)
    try:
        ensure_schema(con)
        # ensure_schema ends on a fetchone(); DuckDB 2 refuses register() while a result is
        # unfinished, so run a statement to retire it.
        con.execute("SELECT 1").fetchall()
    except BaseException:
        con.close()
        raise
    return con


class Store:
    """Writes batches on one connection; each `write` call is one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

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
        con = self.con
        con.register("tt_spans", spans_tab)
        con.register("tt_llm", llm_tab)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                spans = con.execute(INSERT_SPANS).fetchall()[0][0]
                llm = con.execute(INSERT_LLM).fetchall()[0][0] if llm_tab.num_rows else 0
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.unregister("tt_spans")
            con.unregister("tt_llm")
        return int(spans), int(llm)

    def checkpoint(self) -> None:
        self.con.execute("CHECKPOINT")

    def close(self) -> None:
        self.con.close()
