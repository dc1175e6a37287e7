"""The `tokentrail` console script as users run it."""

from __future__ import annotations

import subprocess
import sys

import tokentrail
from tokentrail.cli import build_parser


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentrail", *args], capture_output=True, text=True, timeout=60)


def test_version_matches_package() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tokentrail {tokentrail.__version__}"


def test_help_lists_every_stage_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    registered = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for command in registered:
        assert command in result.stdout
    assert {"simulate", "collector", "sql", "report", "dashboard", "demo", "run"} <= registered


def test_unknown_command_fails_cleanly() -> None:
    result = _run("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_is_light() -> None:
    code = "import sys, tokentrail, tokentrail.cli; tokentrail.cli.build_parser(); print(sorted(m for m in ('pandas', 'duckdb', 'openai', 'streamlit') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_output_piped_into_a_reader_that_leaves_early(tmp_path) -> None:
    """`tokentrail sql ... | head -1`: no traceback when the pipe closes, exit 141 like other tools."""
    import duckdb

    from tokentrail.schema import ensure_schema

    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        ensure_schema(con)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokentrail", "sql", "--db", str(db), "--format", "csv",
         "SELECT i FROM range(1000) t(i)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first byte is written
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode == 141
