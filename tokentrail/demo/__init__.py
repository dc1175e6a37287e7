"""`tokentrail demo`: the whole product in one command, with no API key.

It starts the simulator and a collector, runs a realistic instrumented workload through the real
`openai` SDK, backfills 60 days of clearly labelled synthetic history, prints a summary and opens
the dashboard.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the simulator, a collector and a realistic workload end to end",
        description="Start the OpenAI-compatible simulator and a collector, run an instrumented workload "
        "(several models, features and users; streaming, retries, errors, timeouts, prompt- and "
        "response-cache hits), backfill 60 days of synthetic history, print a summary and open the "
        "dashboard. Writes the database plus tokentrail-prices.toml and tokentrail-budgets.toml.",
    )
    p.add_argument("--db", help="DuckDB file (default: $TOKENTRAIL_DB or ./tokentrail.duckdb)")
    p.add_argument("--reset", action="store_true", help="start from an empty database instead of adding to it")
    p.add_argument("--calls", type=int, default=240, help="live calls through the SDK (default: %(default)s)")
    p.add_argument("--days", type=int, default=60, help="days of synthetic history (default: %(default)s)")
    p.add_argument("--no-dashboard", action="store_true", help="finish without opening the dashboard (CI)")
    p.add_argument("--port", type=int, default=8501, help="dashboard port (default: %(default)s)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from tokentrail.demo.runner import run_demo

    return run_demo(args)
