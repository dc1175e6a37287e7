"""Schema versions and forward migrations on real DuckDB files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tokentrail import schema
from tokentrail.columns import COLUMNS, STORED_COLUMNS


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def test_new_file_gets_every_stored_column(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        assert schema.ensure_schema(con) == schema.SCHEMA_VERSION
        assert _columns(con, "llm_calls_raw") == [c.name for c in STORED_COLUMNS]
        assert {"trace_id", "span_id", "attributes", "resource", "events"} <= set(_columns(con, "spans"))


def test_cost_columns_are_not_stored() -> None:
    computed = {c.name for c in COLUMNS if not c.stored}
    assert {"cost_usd", "input_cost_usd", "output_cost_usd", "price_known"} <= computed
    assert not computed & {c.name for c in STORED_COLUMNS}


@pytest.mark.parametrize("released", range(1, schema.SCHEMA_VERSION + 1))
def test_file_from_an_older_release_upgrades_in_place(tmp_path: Path, released: int) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # what release `released` wrote
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
        for number, migration in enumerate(schema.MIGRATIONS[:released], start=1):
            migration(con)
            con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [number])
        con.execute("INSERT INTO spans (trace_id, span_id, name) VALUES ('t1', 's1', 'chat gpt-4o')")
    with duckdb.connect(str(path)) as con:
        assert schema.current_version(con) == released
        assert schema.ensure_schema(con) == schema.SCHEMA_VERSION
        assert schema.current_version(con) == schema.SCHEMA_VERSION
        assert con.execute("SELECT name FROM spans").fetchall() == [("chat gpt-4o",)]
        assert schema.ensure_schema(con) == schema.SCHEMA_VERSION  # idempotent
        # v2: no primary keys (their indexes live in memory), the ids still required
        constraints = con.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name IN ('spans', 'llm_calls_raw') ORDER BY ALL"
        ).fetchall()
        assert constraints == [(t, "NOT NULL", [c]) for t in ("llm_calls_raw", "spans") for c in ("span_id", "trace_id")]
        assert _columns(con, "llm_calls_raw") == [c.name for c in STORED_COLUMNS]
        # v3: span attributes stored with zstd, every other column as before
        ddl = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'spans'").fetchall()[0][0]
        assert ddl.count("USING COMPRESSION") == 1 and "attributes JSON USING COMPRESSION ZSTD," in ddl


def test_span_attributes_are_checkpointed_with_zstd(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        schema.ensure_schema(con)
        con.execute("INSERT INTO spans (trace_id, span_id, attributes) SELECT 't' || i, 's', "
                    "json_object('gen_ai.request.model', 'gpt-4o-mini', 'n', i) FROM range(5000) r(i)")
        con.execute("CHECKPOINT")
        used = con.execute("SELECT DISTINCT column_name, compression FROM pragma_storage_info('spans') "
                           "WHERE column_name = 'attributes' AND segment_type = 'JSON'").fetchall()
        assert used == [("attributes", "ZSTD")]


def test_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "new.duckdb")) as con:
        schema.ensure_schema(con)
        con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [schema.SCHEMA_VERSION + 1])
        with pytest.raises(RuntimeError, match="upgrade tokentrail"):
            schema.ensure_schema(con)
