"""Where spans go: the embedded DuckDB store (zero setup, several processes at once), OTLP over
HTTP and gRPC to the real collector, `tokentrail run`, and `opentelemetry-instrument`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import openai
import pytest
from instr_helpers import API_KEY
from tokentrail.instrumentation import exporting

import tokentrail

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Hello from a script."}]
VENV_BIN = Path(sys.executable).parent

APP = textwrap.dedent("""
    import json, os, sys
    import openai
    {setup}
    client = openai.OpenAI(base_url=os.environ["SIM_URL"], api_key="{key}")
    out = []
    for i in range(int(os.environ.get("CALLS", "1"))):
        r = client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": f"call {{i}}"}}])
        out.append({{"id": r.id, "input": r.usage.prompt_tokens, "output": r.usage.completion_tokens}})
    print(json.dumps(out))
""")


def write_app(tmp_path: Path, setup: str = "") -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP.format(setup=setup, key=API_KEY, model=MODEL))
    return path


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> list[dict[str, Any]]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def base_env(simulator: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TOKENTRAIL_"))}
    env.update({"SIM_URL": simulator.base_url, **extra})
    return env


def rows(db: Path, where: str = "") -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute(f"SELECT * FROM llm_calls_raw {where} ORDER BY ts")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def check_row(row: dict[str, Any], call: dict[str, Any], service: str) -> None:
    assert row["service"] == service
    assert (row["operation"], row["provider"], row["model"]) == ("chat", "openai", MODEL)
    assert row["input_tokens"] == call["input"]
    assert row["output_tokens"] == call["output"]
    assert row["usage_source"] == "api"
    assert row["status"] == "ok"
    assert row["stream"] is False
    assert row["retry_count"] == 0
    assert row["http_status"] == 200
    assert row["server_address"] == "127.0.0.1"


def test_zero_config_script_writes_local_duckdb(simulator, tmp_path):
    app = write_app(tmp_path, setup="import tokentrail; tokentrail.instrument()")
    calls = run([sys.executable, str(app)], tmp_path, base_env(simulator))
    found = rows(tmp_path / "tokentrail.duckdb")  # ./tokentrail.duckdb in the working directory
    assert len(found) == 1
    check_row(found[0], calls[0], service="app")


def test_two_processes_write_the_same_file_at_once(simulator, tmp_path):
    db = tmp_path / "shared.duckdb"
    app = write_app(tmp_path, setup="import tokentrail; tokentrail.instrument()")
    procs = {}
    for name in ("writer-a", "writer-b"):
        env = base_env(simulator, TOKENTRAIL_DB=str(db), OTEL_SERVICE_NAME=name, CALLS="30",
                       OTEL_BSP_SCHEDULE_DELAY="20", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="5")
        procs[name] = subprocess.Popen([sys.executable, str(app)], cwd=tmp_path, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        assert "could not write" not in err
        results[name] = {c["id"]: c for c in json.loads(out.strip().splitlines()[-1])}
    for name, calls in results.items():
        stored = rows(db, f"WHERE service = '{name}'")
        assert len(stored) == 30
        with duckdb.connect(str(db), read_only=True) as con:
            ids = dict(con.execute(
                "SELECT span_id, json_extract_string(attributes, '$.\"gen_ai.response.id\"') FROM spans "
                "WHERE service = ?", [name]).fetchall())
        for row in stored:
            check_row(row, calls[ids[row["span_id"]]], service=name)


def start_collector(db: Path) -> Any:
    from tokentrail.collector.server import Collector

    return Collector(db, http_port=0, grpc_port=0).start()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otlp_to_the_real_collector(simulator, tmp_path, protocol):
    db = tmp_path / "collector.duckdb"
    collector = start_collector(db)
    try:
        endpoint = (collector.http_url if protocol == "http/protobuf"
                    else f"http://127.0.0.1:{collector.grpc_bound_port}")
        assert tokentrail.instrument(endpoint=endpoint, protocol=protocol, service_name="otlp-test")
        with openai.OpenAI(base_url=simulator.base_url, api_key=API_KEY) as client:
            r = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        tokentrail.uninstrument()  # flushes the batch processor
    finally:
        tokentrail.uninstrument()
        collector.stop()
    found = rows(db)
    assert len(found) == 1
    check_row(found[0], {"input": r.usage.prompt_tokens, "output": r.usage.completion_tokens}, "otlp-test")


def test_destination_precedence(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("OTEL_EXPORTER_OTLP", "TOKENTRAIL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert str(exporting.choose(None, None, None)) == "embedded:tokentrail.duckdb"
    monkeypatch.setenv("TOKENTRAIL_DB", str(tmp_path / "x.duckdb"))
    assert str(exporting.choose(None, None, None)) == f"embedded:{tmp_path / 'x.duckdb'}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    assert exporting.choose(None, None, None).kind == "otlp-http"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert exporting.choose(None, None, None).kind == "otlp-grpc"
    monkeypatch.setenv("TOKENTRAIL_ENDPOINT", "http://collector:4318")
    assert str(exporting.choose(None, None, "http/protobuf")) == "otlp-http:http://collector:4318"
    assert str(exporting.choose("http://arg:1", None, None)) == "otlp-grpc:http://arg:1"


def test_resource_honours_otel_variables(monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=ml")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    res = exporting.resource(None).attributes
    assert (res["service.name"], res["deployment.environment"], res["team"]) == ("from-env", "staging", "ml")
    assert exporting.resource("explicit").attributes["service.name"] == "explicit"


def test_tokentrail_run_instruments_an_unmodified_script(simulator, tmp_path):
    app = write_app(tmp_path)  # no tokentrail import at all
    db = tmp_path / "run.duckdb"
    calls = run([str(VENV_BIN / "tokentrail"), "run", "--db", str(db), "--service-name", "zero-code", "--",
                 sys.executable, str(app)], tmp_path, base_env(simulator, CALLS="2"))
    found = rows(db)
    assert len(found) == 2
    for row, call in zip(found, calls, strict=True):
        check_row(row, call, service="zero-code")


def test_tokentrail_run_reports_a_missing_command(tmp_path):
    done = subprocess.run([str(VENV_BIN / "tokentrail"), "run", "--", "no-such-program-xyz"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 127
    assert done.stderr.strip() == "tokentrail run: command not found: no-such-program-xyz"


def test_opentelemetry_instrument_picks_up_the_entry_point(simulator, tmp_path):
    setup = textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        import atexit
        atexit.register(lambda: print(json.dumps([dict(s.attributes) for s in exporter.get_finished_spans()])))
    """)
    app = tmp_path / "app.py"
    app.write_text(APP.format(setup=setup, key=API_KEY, model=MODEL))
    env = base_env(simulator, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
                   OTEL_LOGS_EXPORTER="none")
    done = subprocess.run([str(VENV_BIN / "opentelemetry-instrument"), sys.executable, str(app)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    calls, spans = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert len(spans) == 1
    assert spans[0]["gen_ai.response.id"] == calls[0]["id"]
    assert spans[0]["gen_ai.usage.input_tokens"] == calls[0]["input"]
