"""DuckDB schema of a tokentrail file, with forward migrations.

Both writers (the collector and the embedded exporter) call `ensure_schema` before writing, so a
file written by an older release is upgraded in place by a newer one. Migrations never drop data.
Timestamps are stored as UTC `TIMESTAMP` so date grouping does not depend on a session time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from tokentrail.columns import STORED_COLUMNS

SPANS_DDL = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR,
    kind VARCHAR,
    ts TIMESTAMP,
    end_ts TIMESTAMP,
    duration_ms DOUBLE,
    status_code VARCHAR,
    status_message VARCHAR,
    service VARCHAR,
    scope_name VARCHAR,
    scope_version VARCHAR,
    attributes JSON,
    resource JSON,
    events JSON,
    links JSON,
    PRIMARY KEY (trace_id, span_id)
)
"""


def llm_calls_raw_ddl() -> str:
    cols = ",\n    ".join(f"{c.name} {c.sql_type}" for c in STORED_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS llm_calls_raw (\n    {cols},\n    PRIMARY KEY (trace_id, span_id)\n)"


Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SPANS_DDL)
    con.execute(llm_calls_raw_ddl())


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild `spans` and `llm_calls_raw` without their (trace_id, span_id) primary keys.

    DuckDB keeps a key's ART index in memory, and it grows with every span stored: ~200 bytes per
    span for the two, so at ~9.5M spans a collector with its default 2 GB memory limit hit a fatal
    out-of-memory error in a checkpoint and could not write to the file again. Deduplication is a
    ts-bounded anti-join in `Store.write` instead (collector/store.py). The copies take the tables'
    own columns (not today's DDL), so this migration means the same whatever later ones add."""
    for table in ("spans", "llm_calls_raw"):
        con.execute(f"CREATE TABLE {table}_v2 AS SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_v2 RENAME TO {table}")
        for column in ("trace_id", "span_id"):
            con.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild `spans` with its `attributes` column stored zstd-compressed.

    DuckDB chooses each column's compression when it checkpoints. For the JSON attribute objects
    (about 1 KB a span) its default choice, an FSST dictionary, was the larger half of the
    collector's checkpoint work: 3.3 µs of CPU per span, against 1.4 µs with zstd, and the file came
    out smaller (7.9 against 20.5 MB for 65,536 of the collector bench's spans). The checkpoint runs
    on the writer, the collector's serial stage, so the two microseconds count several times
    over (docs/collector.md). Like v2, the copy takes the table's own columns."""
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
        "WHERE table_name = 'spans' AND database_name = current_database() AND schema_name = current_schema() "
        "ORDER BY column_index"
    ).fetchall()
    defs = ", ".join(
        f'"{name}" {data_type}{" USING COMPRESSION zstd" if name == "attributes" else ""}{"" if nullable else " NOT NULL"}'
        for name, data_type, nullable in columns
    )
    con.execute(f"CREATE TABLE spans_v3 ({defs})")
    con.execute("INSERT INTO spans_v3 SELECT * FROM spans")
    con.execute("DROP TABLE spans")
    con.execute("ALTER TABLE spans_v3 RENAME TO spans")


# Append new migrations here; never edit a released one. Version N is MIGRATIONS[N - 1].
MIGRATIONS: Sequence[Migration] = (_v1, _v2, _v3)
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """Schema version of the open file; 0 for an empty one."""
    # fetchall, not fetchone: an unfinished result makes DuckDB 2 refuse register() afterwards.
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(rows[0][0] or 0)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration the file lacks, each in its own transaction; return the version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"this file has schema version {version}, newer than this tokentrail ({SCHEMA_VERSION}): upgrade tokentrail"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            MIGRATIONS[number - 1](con)
            con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [number])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
