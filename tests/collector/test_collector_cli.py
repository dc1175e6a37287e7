"""`tokentrail collector` command line: help, flags reaching DuckDB, one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request


def test_help_lists_the_flags() -> None:
    out = subprocess.run([sys.executable, "-m", "tokentrail", "collector", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for flag in ("--db", "--host", "--http-port", "--grpc-port", "--memory-limit"):
        assert flag in out


def test_unusable_db_is_a_one_line_error(tmp_path) -> None:
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 100)
    proc = subprocess.run([sys.executable, "-m", "tokentrail", "collector", "--db", str(bad), "--http-port", "0",
                           "--grpc-port", "-1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("tokentrail collector: cannot open")
    assert "Traceback" not in proc.stderr


def test_memory_limit_reaches_duckdb(collector_process) -> None:
    proc = collector_process(args=("--memory-limit", "300MB"))
    req = urllib.request.Request(proc.url + "/v1/query", method="POST",
                                 data=json.dumps({"sql": "SELECT current_setting('memory_limit')"}).encode(),
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert json.loads(resp.read())["rows"] == [["286.1 MiB"]]  # 300 MB as DuckDB prints it


def test_bad_memory_limit_is_a_one_line_error(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tokentrail", "collector", "--db", str(tmp_path / "m.duckdb"),
                           "--http-port", "0", "--grpc-port", "-1", "--memory-limit", "lots"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("tokentrail collector: cannot open") and "memory" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
