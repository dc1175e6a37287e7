"""Real DuckDB files built with the production schema, for the analytics tests."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def insert_calls(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Create (or extend) a tokentrail file at `path` with `rows` in llm_calls_raw."""
    import duckdb
    import pyarrow as pa

    from tokentrail.columns import STORED_COLUMNS
    from tokentrail.schema import ensure_schema

    con = duckdb.connect(str(path))
    try:
        ensure_schema(con)
        con.execute("SELECT 1").fetchall()  # finish ensure_schema's open result before register()
        if rows:
            full = []
            for r in rows:
                ids = uuid.uuid4().hex
                full.append({"trace_id": ids, "span_id": ids[:16], "status": "ok", "provider": "openai", **r})
            names = [c.name for c in STORED_COLUMNS if any(c.name in r for r in full)]
            table = pa.table({n: [r.get(n) for r in full] for n in names})
            con.register("new_rows", table)
            con.execute(f"INSERT INTO llm_calls_raw ({', '.join(names)}) SELECT {', '.join(names)} FROM new_rows")
    finally:
        con.close()
    return path


@pytest.fixture
def make_db(tmp_path: Path) -> Callable[[list[dict[str, Any]]], Path]:
    counter = itertools.count()

    def make(rows: list[dict[str, Any]], name: str | None = None) -> Path:
        return insert_calls(tmp_path / (name or f"calls{next(counter)}.duckdb"), rows)

    return make


@pytest.fixture(autouse=True)
def _no_user_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their overrides explicitly; a developer's TOKENTRAIL_* must not leak in."""
    for var in ("TOKENTRAIL_PRICES", "TOKENTRAIL_BUDGETS", "TOKENTRAIL_COLLECTOR", "TOKENTRAIL_DB", "TOKENTRAIL_TOKEN"):
        monkeypatch.delenv(var, raising=False)
