"""The collector process: owns the DuckDB file, runs the OTLP receivers and the query endpoint;
request bodies are decoded in worker processes (decode_pool.py).

`Collector(...).start()` is used by the CLI and by tests (ports 0 → ephemeral); `stop()` is the
graceful path: stop accepting, commit everything already accepted, checkpoint, close the file.
The workers are spawned processes, so a script of your own that starts a Collector must do it
under `if __name__ == "__main__":` (each worker imports the main module).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pyarrow as pa
from tokentrail.collector import compiled
from tokentrail.collector.checkpointer import Checkpointer
from tokentrail.collector.decode_pool import DecodePool
from tokentrail.collector.grpc_api import start_grpc
from tokentrail.collector.http_api import CollectorHTTPServer, serve_in_thread
from tokentrail.collector.ingest import IngestQueue
from tokentrail.collector.metrics import RequestCounters, render
from tokentrail.collector.store import Store, connect

from tokentrail.fileguard import guarded

log = logging.getLogger("tokentrail.collector")

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    rejected: int
    errors: list[str] = field(default_factory=list)


class Collector:
    def __init__(
        self,
        db: str | Path,
        *,
        host: str = "127.0.0.1",
        http_port: int = 4318,
        grpc_port: int | None = 4317,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_queued_spans: int = 65_536,
        max_concurrent_requests: int = 32,
        query_timeout_s: float = 30.0,
        retry_after_s: int = 1,
        memory_limit: str | None = "2GB",
        duckdb_threads: int | None = 1,
        decode_workers: int | None = None,
    ) -> None:
        self.db = Path(db)
        self.host = host
        self.token = token or None
        self.max_body_bytes = max_body_bytes
        self.query_timeout_s = query_timeout_s
        self.retry_after_s = retry_after_s
        self.commit_timeout_s = 120.0  # a request never hangs forever on a stuck writer
        self.counters = RequestCounters()
        self.http_slots = threading.BoundedSemaphore(max_concurrent_requests)
        self._max_concurrent = max_concurrent_requests
        # One DuckDB thread by default: the writer's Arrow inserts then cost ~25% less CPU per span
        # than with a worker per core (measured with bench/bench_collector.py), and on a small box
        # that CPU is what the decoding workers need. Queries through /v1/query run on it too.
        # Held until stop(), so no per-batch embedded writer or reader opens the file from headers
        # this process is replacing (tokentrail.fileguard).
        self._guard = ExitStack()
        self._guard.enter_context(guarded(self.db, shared=False, timeout=10.0))
        try:
            # DuckDB's own checkpoint (inside a commit) is the backstop; the checkpointer thread
            # does the work at half that WAL size, beside the writer (collector/checkpointer.py).
            self.con = connect(self.db, memory_limit=memory_limit, checkpoint_threshold="512MB",
                               threads=duckdb_threads)
        except BaseException:
            self._guard.close()
            raise
        # pyarrow imports pandas the first time it converts a Python list (~1 s here): do it now,
        # not inside the first export request.
        pa.array([""])
        self.queue = IngestQueue(Store(self.con), max_queued_spans=max_queued_spans)
        self.checkpointer = Checkpointer(self.con, self.db, wal_bytes=256 * 2**20, every_s=300.0)
        self.decoder = DecodePool(decode_workers)
        self._http_port = http_port
        self._grpc_port = grpc_port
        self.http: CollectorHTTPServer | None = None
        self.grpc: grpc.Server | None = None
        self.grpc_bound_port: int | None = None
        self._stopped = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Collector:
        if not compiled.all_compiled():
            log.warning("the span decoder runs as plain Python (tokentrail was installed without a C "
                        "compiler): it needs ~25 % more CPU per span; reinstall with one to compile it")
        self.decoder.start()
        self.queue.start()
        self.checkpointer.start()
        self.http = CollectorHTTPServer((self.host, self._http_port), self)
        serve_in_thread(self.http)
        if self._grpc_port is not None:
            self.grpc, self.grpc_bound_port = start_grpc(self, self.host, self._grpc_port)
        log.info("collector listening: http %s, grpc %s, db %s", self.http_url, self.grpc_bound_port, self.db)
        return self

    @property
    def http_port(self) -> int:
        assert self.http is not None
        return self.http.server_address[1]

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def stop(self, grace_s: float = 10.0) -> None:
        """Refuse new work, wait for in-flight requests, commit what was accepted, close."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.grpc is not None:
            self.grpc.stop(grace_s).wait(grace_s + 1)
        if self.http is not None:
            self.http.shutdown()  # stops the accept loop
            self.http.server_close()
            self._wait_in_flight(grace_s)  # requests already reading/decoding get their commit
        self.decoder.close()
        self.checkpointer.close()  # before the queue's closing checkpoint, so only one runs
        self.queue.close()
        self.con.close()
        self._guard.close()
        log.info("collector stopped; every accepted span is committed")

    def _wait_in_flight(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        taken = 0
        while taken < self._max_concurrent and self.http_slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            taken += 1
        for _ in range(taken):
            self.http_slots.release()

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then stop gracefully."""
        done = threading.Event()

        def _on_signal(signum: int, _frame: object) -> None:
            log.info("signal %s: shutting down", signal.Signals(signum).name)
            done.set()

        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not done.wait(0.5):
                pass
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.stop()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- work -----------------------------------------------------------------------------
    def ingest(self, data: bytes, *, as_json: bool = False) -> IngestResult:
        """Decode (OTLP protobuf, or OTLP/JSON when `as_json`), queue and wait for the commit;
        raises DecodeError / Overloaded / write errors."""
        with self.queue.decoding():
            decoded = self.decoder.decode(data, as_json=as_json)
            self.counters.spans(decoded.span_count, decoded.rejected)
            if decoded.span_count:
                ticket = self.queue.submit(decoded.spans, decoded.llm)
        if decoded.span_count:
            ticket.wait(self.commit_timeout_s)
        return IngestResult(decoded.span_count, decoded.rejected, decoded.errors)

    def metrics_text(self) -> str:
        return render(self.con, self.queue, self.counters)
