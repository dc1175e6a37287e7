"""One demo run shared by the demo and docs tests: it takes a while, and both only read it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def demo(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTRAIL_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, "-m", "tokentrail", "demo", "--no-dashboard", "--db", "demo.duckdb", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("demo")
    out = demo(cwd, "--calls", "120")
    assert "Summary of demo.duckdb" in out
    (cwd / "first-run.txt").write_text(out)
    return cwd


def q(cwd: Path, sql: str, params: list | None = None) -> list[tuple]:
    from tokentrail.analytics import Source, load_overrides

    source = Source(db=cwd / "demo.duckdb", overrides=load_overrides(cwd / "tokentrail-prices.toml"))
    return [tuple(r) for r in source.query(sql, params).itertuples(index=False)]


