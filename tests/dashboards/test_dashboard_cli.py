"""`tokentrail dashboard`: arguments, and the Streamlit invocation (local only, no usage statistics).
The browser tests run the real command end to end."""

from __future__ import annotations

import subprocess
import sys

from tokentrail.dashboards.commands import APP, streamlit_command

from tokentrail.cli import build_parser


def test_parser_takes_db_or_collector_and_port():
    args = build_parser().parse_args(["dashboard", "--db", "x.duckdb", "--port", "9000"])
    assert (args.db, args.collector, args.port) == ("x.duckdb", None, 9000)
    args = build_parser().parse_args(["dashboard", "--collector", "http://127.0.0.1:4318"])
    assert args.collector == "http://127.0.0.1:4318" and args.db is None


def test_db_and_collector_are_exclusive():
    proc = subprocess.run([sys.executable, "-m", "tokentrail", "dashboard", "--db", "a", "--collector", "b"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


def test_streamlit_runs_the_packaged_app_locally_and_quietly():
    cmd = streamlit_command(8600, "127.0.0.1")
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP) and APP.is_file()
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8600"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
