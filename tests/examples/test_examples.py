"""Every example in examples/ runs as users would run it, against the simulator, and leaves the
traces it promises in the embedded DuckDB store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import tiktoken

REPO = Path(__file__).resolve().parents[2]


def run_example(name: str, simulator, tmp_path: Path, **env: str) -> str:
    full_env = {
        **os.environ,
        "OPENAI_BASE_URL": simulator.base_url,
        "OPENAI_API_KEY": "sk-example-secret",
        "TOKENTRAIL_DB": str(tmp_path / "traces.duckdb"),
        **env,
    }
    for var in ("TOKENTRAIL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        full_env.pop(var, None)
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / f"{name}.py")],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "traces.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_retry_with_backoff(simulator, tmp_path: Path) -> None:
    out = run_example("retry_with_backoff", simulator, tmp_path)
    assert "gave up after the SDK's retries: HTTP 500" in out
    assert rows(tmp_path, "SELECT status, retry_count, http_status FROM llm_calls_raw ORDER BY ts") == [
        ("ok", 2, 200),  # two 429s retried by the SDK, then success
        ("error", 3, 500),  # max_retries=3: four attempts, all 500
    ]
    (events,) = rows(tmp_path, "SELECT events FROM spans WHERE name LIKE 'chat%' ORDER BY ts LIMIT 1")[0]
    assert events.count('"tokentrail.retry"') == 2


def test_response_cache(simulator, tmp_path: Path) -> None:
    out = run_example("response_cache", simulator, tmp_path)
    assert "'hits': 2" in out
    got = rows(tmp_path, "SELECT cache_hit, input_tokens, saved_input_tokens FROM llm_calls_raw ORDER BY ts")
    first_input = got[0][1]
    assert first_input > 0
    assert got[:3] == [(False, first_input, None), (True, 0, first_input), (True, 0, first_input)]
    assert got[3][0] is False  # max_tokens changed the key


def test_context_trimming(simulator, tmp_path: Path) -> None:
    out = run_example("context_trimming", simulator, tmp_path)
    counted = int(out.split("we counted ")[1].split()[0])
    billed = int(out.split("the API billed ")[1].split()[0])
    assert counted == billed <= 4000
    assert rows(tmp_path, "SELECT input_tokens FROM llm_calls_raw") == [(billed,)]
    assert tiktoken.encoding_for_model("gpt-4o-mini").name == "o200k_base"  # the vocabulary really loaded


def test_web_handler_tagging(simulator, tmp_path: Path) -> None:
    run_example("web_handler_tagging", simulator, tmp_path)
    got = rows(tmp_path, "SELECT user_id, session_id, feature, tags->>'plan' FROM llm_calls_raw ORDER BY ts")
    assert got == [("alice", "alice-1", "ask", "pro"), ("bob", "bob-1", "ask", "free"), ("alice", "alice-1", "ask", "pro")]


@pytest.mark.parametrize("name", ["retry_with_backoff", "web_handler_tagging"])
def test_examples_never_record_the_api_key(simulator, tmp_path: Path, name: str) -> None:
    run_example(name, simulator, tmp_path)
    assert b"sk-example-secret" not in (tmp_path / "traces.duckdb").read_bytes()


class _Webhook:
    """A loopback HTTP endpoint that records JSON posts (or fails them when told to)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                hook.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_monthly_budget_check(simulator, tmp_path: Path) -> None:
    run_example("web_handler_tagging", simulator, tmp_path)  # three priced calls this month
    (spent,) = rows(tmp_path, "SELECT count(*) FROM llm_calls_raw WHERE input_tokens > 0")[0]
    assert spent == 3
    (tmp_path / "budgets.toml").write_text(
        '[[budget]]\nname = "everything"\nmonthly_usd = 1000000\n\n'
        '[[budget]]\nname = "ask feature"\nfeature = "ask"\nmonthly_usd = 0.000001\n'
    )
    hook = _Webhook()
    hook.status = 500  # first delivery fails: the alert must not be marked as sent
    args = {"BUDGET_ALERT_WEBHOOK": hook.url}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "examples" / "monthly_budget_check.py"), "--budgets", "budgets.toml",
             "--out", "reports"],
            cwd=tmp_path, env={**os.environ, "TOKENTRAIL_DB": str(tmp_path / "traces.duckdb"), **args},
            capture_output=True, text=True, timeout=120,
        )

    first = check()
    assert first.returncode == 4, first.stderr  # spend has crossed the "ask" budget
    assert "alert not delivered" in first.stderr
    hook.status = 200
    second = check()
    assert second.returncode == 4
    third = check()
    assert third.returncode == 4
    texts = [p["text"] for p in hook.posts]
    assert len(texts) == 2 and texts[0] == texts[1]  # retried once after the failure, then quiet
    assert texts[0].startswith("tokentrail budget OVER: ask feature: $")
    assert "everything" not in " ".join(texts)
    reports = sorted(p.name for p in (tmp_path / "reports").glob("*.html"))
    assert len(reports) == 2  # this month and last month
    month = reports[-1].removesuffix(".html")
    html = (tmp_path / "reports" / reports[-1]).read_text()
    assert f"{month}" in html and "gpt-4o-mini" in html
