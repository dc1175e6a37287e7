"""CLI subcommands of this stage (see tokentrail.cli): `tokentrail run -- python app.py`."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; heavy imports belong in the handlers."""
    p = sub.add_parser(
        "run",
        help="run a program with the openai SDK traced, no code changes",
        description="Run a command with tokentrail instrumentation loaded at Python startup: every openai "
                    "SDK call in it (and in Python subprocesses it starts) becomes a span. With no endpoint "
                    "spans go to the DuckDB file (--db, TOKENTRAIL_DB, ./tokentrail.duckdb).",
        epilog="example: tokentrail run --service-name api -- python app.py",
    )
    p.add_argument("--endpoint", help="OTLP endpoint (default: TOKENTRAIL_ENDPOINT / OTEL_EXPORTER_OTLP_*)")
    p.add_argument("--protocol", choices=("http/protobuf", "grpc"), help="OTLP protocol (default http/protobuf)")
    p.add_argument("--db", help="embedded DuckDB store when no endpoint is set (default ./tokentrail.duckdb)")
    p.add_argument("--service-name", help="service.name of the spans (default OTEL_SERVICE_NAME or script name)")
    p.add_argument("--capture-content", action="store_true", help="record message content (off by default)")
    p.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command to run")
    p.set_defaults(handler=_run)


def child_environment(args: argparse.Namespace, base: dict[str, str]) -> dict[str, str]:
    """The environment that makes the child's interpreter instrument itself at startup."""
    env = dict(base)
    autostart = str(Path(__file__).resolve().parent / "autostart")
    env["PYTHONPATH"] = os.pathsep.join([autostart, *filter(None, [base.get("PYTHONPATH")])])
    env["TOKENTRAIL_AUTO_INSTRUMENT"] = "1"
    if args.endpoint:
        env["TOKENTRAIL_ENDPOINT"] = args.endpoint
    if args.protocol:
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = args.protocol
    if args.db:
        env["TOKENTRAIL_DB"] = str(Path(args.db).expanduser().resolve())
    if args.service_name:
        env["OTEL_SERVICE_NAME"] = args.service_name
    if args.capture_content:
        env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    return env


def _run(args: argparse.Namespace) -> int:
    from tokentrail.cli import CommandError

    command = list(args.program)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise CommandError("nothing to run; usage: tokentrail run [options] -- python app.py")
    executable = shutil.which(command[0])
    if executable is None:
        raise CommandError(f"command not found: {command[0]}", 127)
    env = child_environment(args, dict(os.environ))
    os.execve(executable, command, env)  # replaces this process: signals and exit status are the app's
    return 0  # pragma: no cover - execve does not return
