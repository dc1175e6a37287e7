"""Where queries run: a tokentrail DuckDB file opened read-only, or a collector's query endpoint.

Both routes run the same SQL against the same views, so every analysis is written once. The file
route opens the file per query (readers must not starve the writer) unless a caller pins one
connection for a batch of queries with `Source.pinned()`, as the monthly report does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

from tokentrail.analytics.overrides import Overrides

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class QueryError(Exception):
    """A query failed: bad SQL, not read-only, timed out, or the collector refused it. The message is
    DuckDB's (or the collector's) own, meant to be shown as is."""


_VIEW_NAMES = re.compile(r"\b(llm_calls|llm_calls_priced|llm_calls_daily|llm_cost_daily|prices|pricing_info)\b",
                         re.IGNORECASE)


def uses_views(sql: str) -> bool:
    """Whether `sql` may read a view install_views creates. Queries over the raw tables alone skip
    installing them (~0.1 s a query); a false positive only costs that time."""
    return bool(_VIEW_NAMES.search(sql))


class Source:
    """A place to run read-only SQL over `llm_calls`: `db` file path or `collector` base URL."""

    def __init__(
        self,
        db: str | Path | None = None,
        collector: str | None = None,
        *,
        overrides: Overrides | None = None,
        token: str | None = None,
        timeout_s: float = 60.0,
        max_rows: int = 1_000_000,
    ) -> None:
        from tokentrail.config import settings

        s = settings()
        if db is not None and collector is not None:
            raise ValueError("give either db or collector, not both")
        self.collector = (collector or (None if db is not None else s.collector_url) or None)
        self.db = None if self.collector else Path(db or s.db_path)
        self.token = token or s.token
        self.overrides = overrides
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._pinned: duckdb.DuckDBPyConnection | None = None

    def __repr__(self) -> str:
        return f"Source(collector={self.collector!r})" if self.collector else f"Source(db={str(self.db)!r})"

    # -- file route -------------------------------------------------------------------------
    @contextmanager
    def _connection(self, views: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._pinned is not None:
            yield self._pinned
            return
        import duckdb
        from tokentrail.analytics.views import install_views

        from tokentrail.readonly import DatabaseOpenError, open_file_reader

        try:
            with open_file_reader(self.db) as con:
                try:
                    if views:
                        install_views(con, self.overrides)
                except duckdb.CatalogException as exc:
                    raise QueryError(f"{self.db} is not a tokentrail database (no llm_calls_raw table)") from exc
                yield con
        except DatabaseOpenError as exc:
            raise QueryError(str(exc)) from exc

    @contextmanager
    def pinned(self) -> Iterator[Source]:
        """Hold one read-only connection (views installed once) for a batch of queries.

        While pinned, the Source must be used from one thread only (a DuckDB connection is not
        safe for concurrent use); unpinned, every query opens its own connection.
        """
        if self.collector or self._pinned is not None:
            yield self
            return
        with self._connection() as con:
            self._pinned = con
            try:
                yield self
            finally:
                self._pinned = None

    # -- both routes -------------------------------------------------------------------------
    def arrow(self, sql: str, params: Sequence[Any] | None = None, *, max_rows: int | None = None) -> pa.Table:
        """Run one read-only statement; QueryError carries DuckDB's message on failure."""
        limit = max_rows or self.max_rows
        if self.collector:
            return self._remote(sql, params, limit)
        import duckdb

        from tokentrail.readonly import QueryTimeoutError, UnsafeQueryError, run_read_only

        try:
            with self._connection(views=uses_views(sql)) as con:
                result = run_read_only(con, sql, params, max_rows=limit, timeout_s=self.timeout_s)
        except (duckdb.Error, UnsafeQueryError, QueryTimeoutError) as exc:
            raise QueryError(str(exc)) from exc
        if result.truncated:
            import warnings

            warnings.warn(f"result truncated to {limit} rows", stacklevel=2)
        return result.table

    def query(self, sql: str, params: Sequence[Any] | None = None, *, max_rows: int | None = None) -> pd.DataFrame:
        return to_pandas(self.arrow(sql, params, max_rows=max_rows))

    def _remote(self, sql: str, params: Sequence[Any] | None, max_rows: int) -> pa.Table:
        import httpx
        import pyarrow as pa

        headers = {"Accept": ARROW_STREAM, "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {"sql": sql, "params": list(params) if params else [], "max_rows": max_rows}
        url = self.collector.rstrip("/") + "/v1/query"
        try:
            resp = httpx.post(url, content=json.dumps(body, default=str), headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise QueryError(f"cannot reach collector at {self.collector}: {exc}") from exc
        if resp.status_code != 200:
            try:
                message = resp.json().get("error") or resp.text
            except ValueError:
                message = resp.text
            raise QueryError(f"{message} (HTTP {resp.status_code})")
        with pa.ipc.open_stream(resp.content) as reader:
            return reader.read_all()


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """DataFrame with DuckDB's HUGEINT/DECIMAL sums as int64/float64, not Python Decimal objects."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        if pa.types.is_decimal(f.type):
            f = f.with_type(pa.int64() if f.type.scale == 0 and f.type.precision <= 38 else pa.float64())
        fields.append(f)
    schema = pa.schema(fields)
    if schema != table.schema:
        try:
            table = table.cast(schema)
        except (pa.ArrowInvalid, OverflowError):
            table = table.cast(pa.schema([f.with_type(pa.float64()) if pa.types.is_integer(f.type)
                                          and pa.types.is_decimal(o.type) else f
                                          for f, o in zip(schema, table.schema, strict=False)]))
    return table.to_pandas()


def connect(db: str | Path | None = None, collector: str | None = None, **kwargs: Any) -> Source:
    """A Source: the collector when `collector` (or TOKENTRAIL_COLLECTOR, unless `db` is given) is
    set, else the file `db` (default TOKENTRAIL_DB)."""
    return Source(db=db, collector=collector, **kwargs)


def query(
    sql: str,
    params: Sequence[Any] | None = None,
    *,
    db: str | Path | None = None,
    collector: str | None = None,
) -> pd.DataFrame:
    """Run read-only SQL over `llm_calls` (and the other views) and return a DataFrame."""
    return connect(db=db, collector=collector).query(sql, params)
