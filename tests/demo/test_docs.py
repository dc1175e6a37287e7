"""Every `tokentrail` command and SQL query in README.md and docs/ works, run against the demo's database.

Long-running commands (servers, the dashboard, the demo itself) are only parsed here: their own
tests start them for real.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from tokentrail.analytics.budgets import EXIT_FORECAST, EXIT_SPEND

from tokentrail.cli import build_parser

from .conftest import q

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LONG_RUNNING = {"collector", "dashboard", "simulate", "demo", "run"}
# `budget check` exits 3 or 4 by design: the demo's budgets are overrun. 1 (a config error) is a failure.
BUDGET_ALERT_EXITS = {EXIT_FORECAST, EXIT_SPEND}


def blocks(lang: str) -> list[tuple[str, str]]:
    found = []
    for path in DOC_FILES:
        for match in re.finditer(rf"```{lang}\n(.*?)```", path.read_text(), re.S):
            found.append((path.name, match.group(1)))
    return found


def documented_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for name, text in blocks("sh"):
        for line in text.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split(" #")[0], posix=True) if line.strip() else []
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)  # leading VAR=value assignments
            if words and words[0] == "tokentrail":
                commands.append((name, [w for w in words[1:] if w != "&"]))
    return commands


COMMANDS = documented_commands()
SQL = blocks("sql")


def test_docs_document_commands_and_queries() -> None:
    assert len(COMMANDS) >= 10 and len(SQL) >= 5


@pytest.mark.parametrize(("doc", "argv"), COMMANDS, ids=[f"{d}:{' '.join(a)[:50]}" for d, a in COMMANDS])
def test_documented_command_parses(doc: str, argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert getattr(args, "handler", None) is not None or argv in (["--help"], ["--version"])


QUICK = [(d, a) for d, a in COMMANDS if a and a[0] not in LONG_RUNNING and not {"--collector"} & set(a)]


@pytest.mark.parametrize(("doc", "argv"), QUICK, ids=[f"{d}:{' '.join(a)[:50]}" for d, a in QUICK])
def test_documented_command_runs(demo_dir: Path, doc: str, argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTRAIL_", "OTEL_"))}
    env["TOKENTRAIL_DB"] = str(demo_dir / "demo.duckdb")
    result = subprocess.run([sys.executable, "-m", "tokentrail", *argv], cwd=demo_dir, env=env,
                            capture_output=True, text=True, timeout=300)
    allowed = {0, *BUDGET_ALERT_EXITS} if argv[:2] == ["budget", "check"] else {0}
    assert result.returncode in allowed, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("doc", "sql"), SQL, ids=[f"{d}:{i}" for i, (d, _) in enumerate(SQL)])
def test_documented_query_returns_rows(demo_dir: Path, doc: str, sql: str) -> None:
    assert q(demo_dir, sql), f"no rows from the query in {doc}"
