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
