"""Request decoding in worker processes, so that it runs beside the DuckDB writer, not in turn.

Decoding holds the GIL (compiled or not: it builds Python objects), and DuckDB's Python binding
holds the GIL for much of an Arrow insert too: in one process the two take turns, and the
collector used one of the two cores (bench/bench_collector.py: ~1.0 CPU-seconds per second at
full load). Here each request's bytes go to a worker process, which decodes them (converting
OTLP/JSON first) and sends back the two Arrow tables as IPC streams (read back without a further
copy). The collector process keeps the socket work, the write queue and the DuckDB file.

What crosses the process boundary is large (a 512-span request: ~450 KB in, ~750 KB of tables
back), so how it crosses matters: the tables go back as `bytes`, and the pool's two pipes are
widened to hold a whole request (see `_widen_pipes`).

The workers hold no state that matters: if one dies, the requests it had fail with
`DecoderUnavailable` (the client gets a retryable 503, nothing was acknowledged) and the next
request starts a fresh pool. They ignore SIGINT/SIGTERM, so a Ctrl-C or a service manager's
SIGTERM to the whole group reaches only the collector, which then drains requests still being
decoded before it shuts the pool down; if the collector is killed outright, the workers notice
that they have a new parent and exit.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import pyarrow as pa
from tokentrail.collector.decode import decode_traces
from tokentrail.collector.otlp_json import json_to_protobuf

log = logging.getLogger("tokentrail.collector")


class DecoderUnavailable(RuntimeError):
    """A decoding worker died; the request was not stored and can be retried."""


@dataclass
class DecodedRequest:
    """What the collector needs from one request: counts, rejection reasons, the two tables."""

    span_count: int
    rejected: int
    errors: list[str] = field(default_factory=list)
    spans: pa.Table | None = None
    llm: pa.Table | None = None


def _ipc(table: pa.Table) -> bytes:
    """The table as an Arrow IPC stream, as `bytes`: the stream's own buffer is mutable, and the
    pool pickles a mutable buffer as a bytearray, several times slower than bytes of the same size."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_ipc(buf: bytes) -> pa.Table:
    return pa.ipc.open_stream(buf).read_all()


def _decode(data: bytes, as_json: bool) -> DecodedRequest:
    """Decode one ExportTraceServiceRequest, protobuf or OTLP/JSON; raises DecodeError."""
    decoded = decode_traces(json_to_protobuf(data) if as_json else data)
    spans, llm = decoded.tables() if decoded.span_count else (None, None)
    return DecodedRequest(decoded.span_count, decoded.rejected, decoded.errors, spans, llm)


def decode_request(data: bytes, as_json: bool = False
                   ) -> tuple[int, int, list[str], bytes | None, bytes | None]:
    """Worker side: `_decode`, with the tables as IPC buffers."""
    got = _decode(data, as_json)
    if got.spans is None or got.llm is None:
        return got.span_count, got.rejected, got.errors, None, None
    return got.span_count, got.rejected, got.errors, _ipc(got.spans), _ipc(got.llm)


WORKER_NICENESS = 5


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The workers have CPU to spare; the collector's DuckDB writer, the serial stage, has none.
    # Below the collector's priority, a worker yields a contended core to the writer: with it the
    # box stays busier (1.67-1.70 cores against 1.59-1.60 in bench/bench_collector.py).
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # a platform without nice: same results, a little slower
        pass
    # A worker holds both ends of its task queue, so it would never see the queue close when the
    # collector is killed outright: watch for being re-parented instead, and leave.
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, name="tokentrail-parent-watch", daemon=True).start()


PIPE_BYTES = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size


def _widen_pipes(pool: ProcessPoolExecutor) -> None:
    """Give the pool's task and result pipes 1 MiB instead of Linux's 64 KiB.

    Through a 64 KiB pipe a 750 KB result crosses in a dozen write/wake/read turns, which cost
    more CPU than the copying: the collector's side of the pool took ~4.5 µs per span, ~2.3 µs
    with 1 MiB pipes (bench/bench_collector.py --pool). ProcessPoolExecutor has no public
    handle on its pipes, so this reaches for its queues; where they or the call are missing
    (another Python, another OS without `F_SETPIPE_SZ`, a lower pipe-max-size) the pool simply
    keeps the default size.
    """
    for queue in (getattr(pool, "_call_queue", None), getattr(pool, "_result_queue", None)):
        writer = getattr(queue, "_writer", None)
        try:
            fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            pass


class DecodePool:
    """A small process pool for `decode_request`; `workers=0` decodes in the calling thread."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self) -> None:
        """Start the workers and let each import the decoder now, not inside the first request."""
        if self.workers:
            pool = self._get()
            for future in [pool.submit(pa.array, [""]) for _ in range(self.workers)]:
                future.result()

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise DecoderUnavailable("collector is shutting down")
            if self._pool is None:
                # spawn, not fork: the collector runs gRPC and writer threads, which fork would copy mid-flight.
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_worker_init)
                _widen_pipes(self._pool)
            return self._pool

    def decode(self, data: bytes, *, as_json: bool = False) -> DecodedRequest:
        """Decode one request (OTLP protobuf, or OTLP/JSON when `as_json`); raises DecodeError for
        malformed input, DecoderUnavailable if a worker died."""
        if not self.workers:
            return _decode(data, as_json)
        pool = self._get()
        try:
            count, rejected, errors, spans, llm = pool.submit(decode_request, data, as_json).result()
        except BrokenProcessPool as exc:
            self._discard(pool)
            raise DecoderUnavailable(f"a decoding worker died: {exc}") from None
        if not count:
            return DecodedRequest(0, rejected, errors)
        return DecodedRequest(count, rejected, errors, _read_ipc(spans), _read_ipc(llm))

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        log.error("a decoding worker died; starting a new pool for the next request")
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers once the requests being decoded are done."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
