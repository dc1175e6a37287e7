"""The one DuckDB write path: decoded batches → `spans` + `llm_calls_raw`, deduplicated, committed.

Both the collector server and the embedded exporter write through `Store.write`, so a span lands
in the same rows either way.

Deduplication on (trace_id, span_id) is an anti-join against the rows already stored, bounded by
the batch's start times (in windows, cut at the widest gaps over a minute): a retried export
resends the same spans, start times included, so a duplicate can only sit in row groups whose `ts`
range overlaps the window, and DuckDB skips the others by their min/max statistics (spans arrive
roughly in time order, so that is the last row group or two). The tables carry no primary key:
DuckDB holds a key's ART index in memory and it grows with every span (~200 bytes per span for the
two tables), which made a collector with a 2 GB memory limit fail for good at ~9.5M spans, and
made each insert slower as the file grew (see schema v2 and docs/collector.md). A batch that
repeats a span inside itself (a retry that arrived while the first attempt was still queued) keeps
one row of it. Spans without a start time are matched among the stored spans without one.

Both tables get the same filter, so a GenAI span's `llm_calls_raw` row is stored exactly when its
`spans` row is. When every span of the batch was new (no retry in it, the usual case), the
`llm_calls_raw` rows are appended without the second anti-join: a batch's GenAI spans are among
its spans, so their rows are new too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokentrail.collector.decode import SPAN_COLUMNS

from tokentrail.columns import STORED_COLUMNS
from tokentrail.schema import ensure_schema


def _insert_new(table: str, columns: Sequence[str], source: str, *, null_ts: bool, repeats: bool) -> str:
    """INSERT of the rows of `source` in one start-time window ($lo..$hi, or no start time) whose
    (trace_id, span_id) `table` does not hold yet."""
    cols = ", ".join(columns)
    if null_ts:
        mine, theirs = "n.ts IS NULL", "o.ts IS NULL"
    else:
        mine, theirs = "n.ts BETWEEN $lo AND $hi", "o.ts BETWEEN $lo AND $hi AND o.ts = n.ts"
    distinct = "DISTINCT ON (n.trace_id, n.span_id) " if repeats else ""
    return (f"INSERT INTO {table} ({cols}) SELECT {distinct}{cols} FROM {source} n WHERE {mine} AND NOT EXISTS ("
            f"SELECT 1 FROM {table} o WHERE {theirs} AND o.trace_id = n.trace_id AND o.span_id = n.span_id)")


_LLM_COLUMNS = [c.name for c in STORED_COLUMNS]
_INSERTS = {
    (null_ts, repeats): (
        _insert_new("spans", SPAN_COLUMNS, "tt_spans", null_ts=null_ts, repeats=repeats),
        _insert_new("llm_calls_raw", _LLM_COLUMNS, "tt_llm", null_ts=null_ts, repeats=repeats),
    )
    for null_ts in (False, True) for repeats in (False, True)
}
_APPEND_LLM = "INSERT INTO llm_calls_raw ({cols}) SELECT {cols} FROM tt_llm".format(cols=", ".join(_LLM_COLUMNS))
_GAP_US = 60 * 1_000_000  # start times further apart than this may go to separate windows
_MAX_WINDOWS = 8
_EPOCH = datetime(1970, 1, 1)


def _windows(ts: pa.ChunkedArray) -> list[tuple[datetime, datetime]]:
    """The batch's start times as a few tight [lo, hi] windows, cut at the widest gaps over a
    minute (at most _MAX_WINDOWS - 1 cuts): a long span that started an hour ago, or a stray
    clock, then costs a look at the row groups of its own moment, not at every row group between
    it and now."""
    values = np.sort(pc.unique(pc.drop_null(ts)).cast(pa.int64()).to_numpy())
    if not len(values):
        return []
    gaps = np.diff(values)
    cuts = np.flatnonzero(gaps > _GAP_US)
    if len(cuts) >= _MAX_WINDOWS:
        cuts = np.sort(cuts[np.argsort(gaps[cuts])[-(_MAX_WINDOWS - 1):]])
    starts = np.concatenate(([0], cuts + 1))
    ends = np.concatenate((cuts, [len(values) - 1]))
    return [(_EPOCH + timedelta(microseconds=int(values[i])), _EPOCH + timedelta(microseconds=int(values[j])))
            for i, j in zip(starts, ends, strict=True)]


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
        ts = spans_tab.column("ts")
        keys = pc.binary_join_element_wise(spans_tab.column("trace_id"), spans_tab.column("span_id"), "")
        repeats = pc.count_distinct(keys).as_py() < len(keys)
        steps: list[tuple[bool, dict[str, Any] | None]] = [(False, {"lo": lo, "hi": hi}) for lo, hi in _windows(ts)]
        if ts.null_count:
            steps.append((True, None))
        spans = llm = 0
        con = self.con
        con.register("tt_spans", spans_tab)
        con.register("tt_llm", llm_tab)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                for null_ts, params in steps:
                    spans_sql, llm_sql = _INSERTS[null_ts, repeats]
                    added = con.execute(spans_sql, params).fetchall()[0][0]
                    spans += added
                    if not llm_tab.num_rows:
                        continue
                    if added == spans_tab.num_rows:  # one step, nothing stored before: no retry
                        llm += con.execute(_APPEND_LLM).fetchall()[0][0]
                    else:
                        llm += con.execute(llm_sql, params).fetchall()[0][0]
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
