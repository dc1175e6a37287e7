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
