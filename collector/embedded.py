"""Write spans straight into a DuckDB file, without a collector process (the embedded exporter).

DuckDB lets only one process hold a file for writing, and several application processes may
export to the same file. So each batch opens the file, writes through the collector's own
`Store` (same decode, normalisation and dedupe as the server), commits, and closes; while another
process holds the file, it retries with capped exponential backoff until `lock_timeout`. The whole
open-write-close holds tokentrail's sidecar guard (tokentrail.fileguard), without which DuckDB can
open the file from headers another process is replacing and lose its rows.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import duckdb
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tokentrail.collector.decode import decode_traces
from tokentrail.collector.store import Store, connect

from tokentrail.fileguard import GuardTimeout, guarded


def is_lock_error(exc: BaseException) -> bool:
    """DuckDB's error when another process holds the file."""
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text or "lock on file" in text


def write_spans(path: str | Path, request: ExportTraceServiceRequest | bytes, lock_timeout: float = 30.0) -> int:
    """Store every span of `request` in the file at `path`; return how many rows were new.

    Raises TimeoutError when the file stayed locked by another process for `lock_timeout`
    seconds, and tokentrail.collector.decode.DecodeError for a malformed request.
    """
    data = request if isinstance(request, (bytes, bytearray, memoryview)) else request.SerializeToString()
    decoded = decode_traces(bytes(data))
    if not decoded.span_count:
        return 0
    tables = decoded.tables()
    deadline = time.monotonic() + lock_timeout
    delay = 0.005
    while True:
        try:
            with guarded(path, shared=False, timeout=max(deadline - time.monotonic(), 0.0)):
                try:
                    con = connect(path)
                except duckdb.Error as exc:
                    if not is_lock_error(exc):
                        raise
                    locked: Exception = exc
                else:
                    try:
                        spans, _ = Store(con).write([tables])
                    finally:
                        con.close()
                    return spans
        except GuardTimeout as exc:
            locked = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{path} stayed locked by another process for {lock_timeout:g} s") from locked
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 0.2)
