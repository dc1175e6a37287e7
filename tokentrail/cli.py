"""The `tokentrail` command.

Each stage contributes its subcommands through a `commands` module exposing
`register(subparsers)`. Those modules import nothing heavy at module level, so `tokentrail --help`
stays fast; the work happens in the handler each subcommand sets with `set_defaults(handler=...)`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from tokentrail._version import __version__

COMMAND_MODULES = (
    "tokentrail.simulator.commands",
    "tokentrail.instrumentation.commands",
    "tokentrail.collector.commands",
    "tokentrail.analytics.commands",
    "tokentrail.dashboards.commands",
    "tokentrail.demo",
)


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status `code`, no traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokentrail",
        description="LLM observability and cost analytics: traces, costs and budgets in your own DuckDB file.",
    )
    parser.add_argument("--version", action="version", version=f"tokentrail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except CommandError as exc:
        print(f"tokentrail {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `tokentrail sql ... | head`: the reader left. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again, and exit as the shell expects.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
