"""`tokentrail demo`: the whole product in one command, with no API key (see issue: demo)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the simulator, a collector and a realistic workload end to end")
    p.add_argument("--no-dashboard", action="store_true", help="finish without opening the dashboard (CI)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from tokentrail.cli import CommandError

    raise CommandError("the demo is not built yet", code=1)
