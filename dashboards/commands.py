"""`tokentrail dashboard`: run the packaged Streamlit app on a file or through a collector."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; heavy imports belong in the handlers."""
    p = sub.add_parser("dashboard", help="open the cost explorer (Streamlit) on a tokentrail file or collector")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--db", metavar="PATH", help="tokentrail DuckDB file to read (default: TOKENTRAIL_DB "
                        "or ./tokentrail.duckdb); opened read-only, per page view")
    source.add_argument("--collector", metavar="URL", help="read through a running collector's query API "
                        "instead (default: TOKENTRAIL_COLLECTOR); use this when a collector owns the file")
    p.add_argument("--port", type=int, default=None, help="port to serve on (default 8501; 0 picks a free one)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.set_defaults(handler=_run)


def streamlit_command(port: int, host: str) -> list[str]:
    """The `streamlit run` invocation: local only, headless, no usage statistics."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
    ]


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _run(args: argparse.Namespace) -> int:
    from tokentrail.config import DEFAULT_DASHBOARD_PORT, DEFAULT_HOST

    host = args.host or DEFAULT_HOST
    port = DEFAULT_DASHBOARD_PORT if args.port is None else args.port
    if port == 0:
        port = _free_port(host)
    env = dict(os.environ)
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    if args.collector:
        env["TOKENTRAIL_COLLECTOR"] = args.collector
        env.pop("TOKENTRAIL_DB", None)
    elif args.db:
        env["TOKENTRAIL_DB"] = str(Path(args.db).expanduser().resolve())
        env.pop("TOKENTRAIL_COLLECTOR", None)
    print(f"tokentrail dashboard on http://{host}:{port}/", file=sys.stderr, flush=True)
    command = streamlit_command(port, host)
    if os.name == "posix":
        # Become the Streamlit server: signals (Ctrl+C, SIGTERM from a supervisor) reach it directly
        # and no orphan is left behind.
        os.execve(command[0], command, env)
    return subprocess.call(command, env=env)  # pragma: no cover - non-POSIX
