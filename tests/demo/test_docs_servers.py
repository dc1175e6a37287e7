"""The long-running commands in the docs, started for real as documented.

`test_docs.py` runs every quick command against the demo's database and only parses the servers.
Here each documented `tokentrail collector`, `simulate` and `run` starts with its documented
arguments; only ports, file paths and URLs are moved to free ones in the test's folder (appended
flags win in argparse, so what the docs say is still parsed and used). Commands that read through a
collector (`--collector URL`) run against a live collector serving a copy of the demo's database.
The dashboard's documented forms (`tokentrail dashboard`, `--collector URL`) are started in
Chromium by tests/dashboards/test_browser.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .test_docs import COMMANDS

DOCUMENTED_COLLECTOR = "http://127.0.0.1:4318"
APP = """\
import openai

client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
print("answered:", reply.choices[0].message.content[:20])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTRAIL_", "OTEL_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` = this venv's
    return {**env, **extra}


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-2000:]
    return err


def _start_collector(argv: list[str], cwd: Path, db: Path) -> tuple[subprocess.Popen, str]:
    """Start a documented collector command on free ports and a file in the test folder."""
    http, grpc = _free_port(), _free_port()
    args = list(argv)
    if "--db" in args:
        args[args.index("--db") + 1] = str(db)
    else:
        args += ["--db", str(db)]
    args += ["--http-port", str(http), "--grpc-port", str(grpc)]
    proc = subprocess.Popen([sys.executable, "-m", "tokentrail", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{http}"
    _wait_http(f"{url}/healthz", proc)
    return proc, url


def _documented(first: str) -> list[tuple[str, list[str]]]:
    return [(d, a) for d, a in COMMANDS if a and a[0] == first]


@pytest.fixture
def live_collector(demo_dir: Path, tmp_path: Path) -> Iterator[str]:
    """A collector serving a copy of the demo's database."""
    shutil.copy(demo_dir / "demo.duckdb", tmp_path / "served.duckdb")
    proc, url = _start_collector(["collector"], tmp_path, tmp_path / "served.duckdb")
    yield url
    _stop(proc)


@pytest.mark.parametrize(("doc", "argv"), _documented("collector"),
                         ids=[f"{d}:{' '.join(a)[:60]}" for d, a in _documented("collector")])
def test_documented_collector_starts_and_stores(tmp_path: Path, doc: str, argv: list[str]) -> None:
    proc, url = _start_collector(argv, tmp_path, tmp_path / "collector.duckdb")
    try:
        health = httpx.get(f"{url}/healthz", timeout=5)
        assert health.status_code == 200
    finally:
        _stop(proc)
    assert (tmp_path / "collector.duckdb").exists()


@pytest.mark.parametrize(("doc", "argv"), _documented("simulate"),
                         ids=[f"{d}:{' '.join(a)[:60]}" for d, a in _documented("simulate")])
def test_documented_simulator_answers_the_sdk(tmp_path: Path, doc: str, argv: list[str]) -> None:
    import openai

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tokentrail", *argv, "--port", str(port)], cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-docs")
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert reply.usage is not None and reply.usage.prompt_tokens > 0
    finally:
        _stop(proc)


@pytest.mark.parametrize(("doc", "argv"), _documented("run"),
                         ids=[f"{d}:{' '.join(a)[:60]}" for d, a in _documented("run")])
def test_documented_run_traces_an_unmodified_app(simulator, demo_dir: Path, tmp_path: Path, doc: str,
                                                 argv: list[str]) -> None:
    (tmp_path / "app.py").write_text(APP)
    env = _env(OPENAI_BASE_URL=simulator.base_url, OPENAI_API_KEY="sk-docs",
               TOKENTRAIL_DB=str(tmp_path / "embedded.duckdb"))
    collector = None
    args = list(argv)
    if "--endpoint" in args:
        shutil.copy(demo_dir / "demo.duckdb", tmp_path / "served.duckdb")
        collector, url = _start_collector(["collector"], tmp_path, tmp_path / "served.duckdb")
        args[args.index("--endpoint") + 1] = url
    try:
        result = subprocess.run([sys.executable, "-m", "tokentrail", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "answered:" in result.stdout
        service = args[args.index("--service-name") + 1] if "--service-name" in args else None
        if collector is not None:
            sql = "SELECT count(*) AS n FROM llm_calls WHERE model = 'gpt-4o-mini' AND service = ?"
            got = subprocess.run([sys.executable, "-m", "tokentrail", "sql", "--collector", url, "--format", "csv",
                                  sql.replace("?", f"'{service}'")],
                                 env=_env(), capture_output=True, text=True, timeout=60)
            assert got.stdout.splitlines()[1:] == ["1"], got.stderr
        else:
            import duckdb

            with duckdb.connect(str(tmp_path / "embedded.duckdb"), read_only=True) as con:
                rows = con.execute("SELECT model, input_tokens > 0 FROM llm_calls_raw").fetchall()
            assert rows == [("gpt-4o-mini", True)]
    finally:
        if collector is not None:
            _stop(collector)


READS_THROUGH_COLLECTOR = [(d, a) for d, a in COMMANDS
                           if a and a[0] in ("sql", "report") and DOCUMENTED_COLLECTOR in a]


@pytest.mark.parametrize(("doc", "argv"), READS_THROUGH_COLLECTOR,
                         ids=[f"{d}:{' '.join(a)[:60]}" for d, a in READS_THROUGH_COLLECTOR])
def test_documented_reads_through_a_collector(live_collector: str, tmp_path: Path, doc: str,
                                              argv: list[str]) -> None:
    args = [live_collector if a == DOCUMENTED_COLLECTOR else a for a in argv]
    result = subprocess.run([sys.executable, "-m", "tokentrail", *args], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()
