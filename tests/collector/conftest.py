"""Fixtures for the collector tests: a real collector on ephemeral ports with a temp DuckDB file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Factory: start an in-process collector (HTTP and gRPC on free ports); stopped at teardown."""
    from tokentrail.collector.server import Collector

    started: list[Collector] = []

    def factory(**kwargs: object) -> Collector:
        kwargs.setdefault("http_port", 0)
        kwargs.setdefault("grpc_port", 0)
        db = kwargs.pop("db", tmp_path / f"c{len(started)}.duckdb")
        collector = Collector(db, **kwargs).start()
        started.append(collector)
        return collector

    yield factory
    for c in started:
        c.stop()


@pytest.fixture
def collector(make_collector: Callable[..., object]) -> object:
    return make_collector()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
    """A plain HTTP call that returns error responses instead of raising."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


@dataclass
class CollectorProcess:
    proc: subprocess.Popen
    url: str
    db: Path

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def term(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)


@pytest.fixture
def collector_process(tmp_path: Path) -> Iterator[Callable[..., CollectorProcess]]:
    """Factory: `tokentrail collector` as a subprocess on a free HTTP port (gRPC off)."""
    procs: list[subprocess.Popen] = []

    def factory(db: Path | None = None, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> CollectorProcess:
        db = db or tmp_path / "proc.duckdb"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokentrail", "collector", "--db", str(db), "--http-port", "0", "--grpc-port", "-1",
             "--log-level", "WARNING", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
        )
        procs.append(proc)
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "OTLP/HTTP" in line or not line:
                break
        if "OTLP/HTTP" not in line:
            proc.kill()
            raise RuntimeError(f"collector did not start: {line!r} {proc.stderr.read()}")
        url = line.split("OTLP/HTTP", 1)[1].split()[0]
        return CollectorProcess(proc, url, db)

    yield factory
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)
