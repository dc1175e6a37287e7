"""`tokentrail collector` command line: help, and a clean one-line error for an unusable file."""

from __future__ import annotations

import subprocess
import sys


def test_help_lists_the_flags() -> None:
    out = subprocess.run([sys.executable, "-m", "tokentrail", "collector", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for flag in ("--db", "--host", "--http-port", "--grpc-port"):
        assert flag in out


def test_unusable_db_is_a_one_line_error(tmp_path) -> None:
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 100)
    proc = subprocess.run([sys.executable, "-m", "tokentrail", "collector", "--db", str(bad), "--http-port", "0",
                           "--grpc-port", "-1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("tokentrail collector: cannot open")
    assert "Traceback" not in proc.stderr
