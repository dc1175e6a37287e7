"""Checkpoints on their own thread, so the writer never stops to compress.

DuckDB checkpoints on its own inside the commit that takes the WAL past `checkpoint_threshold`:
the writer, the collector's serial stage, then spends ~0.6 s compressing the last 256 MB of rows
while the requests waiting on it stall and the decoding workers run dry (vmstat during
bench/bench_collector.py: the box ~30 % idle in those seconds against ~10 % between them). DuckDB
runs a `CHECKPOINT` from another cursor beside the writer's appends, so this thread issues one as
soon as the WAL passes `wal_bytes`, and every `every_s` seconds while it holds anything. The
writer's connection keeps DuckDB's own checkpoint at a higher threshold, as a backstop for when
this thread falls behind or a checkpoint fails.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import duckdb

log = logging.getLogger("tokentrail.collector")


class Checkpointer:
    """A thread that checkpoints `con`'s file (on a cursor of its own) when its WAL grows or ages."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db: Path, *, wal_bytes: int, every_s: float,
                 poll_s: float = 0.1, retry_s: float = 5.0) -> None:
        self._cursor = con.cursor()
        self._wal = Path(f"{db}.wal")
        self.wal_bytes = wal_bytes
        self.every_s = every_s
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.checkpoints = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokentrail-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wal_size(self) -> int:
        try:
            return os.path.getsize(self._wal)
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        last = time.monotonic()
        failing = False
        while not self._stop.wait(self.poll_s):
            size = self.wal_size()
            if size >= self.wal_bytes or (size and time.monotonic() - last >= self.every_s):
                try:
                    self._cursor.execute("CHECKPOINT")
                    self.checkpoints += 1
                    failing = False
                except Exception:  # DuckDB's own checkpoint is the backstop
                    # Logged once per run of failures; retried after a pause, not on every poll.
                    log.log(logging.DEBUG if failing else logging.WARNING, "background checkpoint failed",
                            exc_info=True)
                    self.failures += 1
                    failing = True
                    self._stop.wait(self.retry_s)
                last = time.monotonic()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and release its cursor."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._cursor.close()
