"""The read-only query endpoint: `POST /v1/query` → Arrow IPC stream or JSON.

Queries run on their own cursor of the collector's DuckDB instance, so they see every committed
batch (MVCC) without blocking the writer. That instance was opened with external access off, and
`tokentrail.readonly.run_read_only` allows one SELECT/WITH/EXPLAIN only, with row and time
limits: user SQL can neither write nor reach files, ATTACH, INSTALL or COPY.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from tokentrail.readonly import DEFAULT_MAX_ROWS, QueryTimeoutError, UnsafeQueryError, run_read_only

log = logging.getLogger("tokentrail.collector")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_ROWS_CAP = 1_000_000


class QueryError(ValueError):
    """A bad request: the message goes back to the client with HTTP 400."""


@dataclass(frozen=True)
class QueryRequest:
    sql: str
    params: list[Any]
    max_rows: int


def parse_request(body: bytes, default_max_rows: int = DEFAULT_MAX_ROWS) -> QueryRequest:
    try:
        doc = json.loads(body or b"{}")
    except ValueError as exc:
        raise QueryError(f"body must be JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sql"), str):
        raise QueryError('body must be a JSON object with a "sql" string')
    params = doc.get("params") or []
    if not isinstance(params, list):
        raise QueryError('"params" must be an array')
    max_rows = doc.get("max_rows", default_max_rows)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise QueryError('"max_rows" must be a non-negative integer')
    return QueryRequest(doc["sql"], params, min(max_rows, MAX_ROWS_CAP))


def install_views_if_available(cursor: duckdb.DuckDBPyConnection) -> None:
    """Give queries the public `llm_calls` view (costs included) when analytics is installed."""
    try:
        from tokentrail.analytics.views import install_views
    except ImportError:
        return
    try:
        install_views(cursor)
    except Exception:  # a broken price file must not take the raw tables down with it
        log.exception("installing the analytics views failed; queries see the raw tables only")


def run_query(con: duckdb.DuckDBPyConnection, request: QueryRequest, timeout_s: float) -> tuple[pa.Table, bool]:
    """Run on a fresh cursor; raise QueryError for anything the client got wrong."""
    cursor = con.cursor()
    try:
        install_views_if_available(cursor)
        result = run_read_only(cursor, request.sql, request.params, max_rows=request.max_rows, timeout_s=timeout_s)
    except (UnsafeQueryError, QueryTimeoutError) as exc:
        raise QueryError(str(exc)) from None
    except duckdb.Error as exc:
        raise QueryError(f"{type(exc).__name__}: {exc}") from None
    finally:
        cursor.close()
    return result.table, result.truncated


def to_arrow_stream(table: pa.Table, truncated: bool) -> bytes:
    """Arrow IPC stream; truncation is flagged in the schema metadata and a response header."""
    schema = table.schema.with_metadata({b"tokentrail.truncated": b"true" if truncated else b"false"})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table.replace_schema_metadata(schema.metadata))
    return sink.getvalue().to_pybytes()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(table: pa.Table, truncated: bool) -> bytes:
    """`{"columns": [...], "rows": [[...]], "truncated": bool}`; timestamps as ISO 8601 text."""
    columns = [c.to_pylist() for c in table.columns]
    rows = [[_jsonable(v) for v in row] for row in zip(*columns, strict=True)] if columns else []
    doc = {"columns": table.column_names, "rows": rows, "truncated": truncated}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, default=str).encode()
