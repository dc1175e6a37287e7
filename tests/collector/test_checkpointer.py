"""The checkpointer thread: checkpoints a real DuckDB file beside a writer that keeps committing."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import duckdb
from tokentrail.collector.checkpointer import Checkpointer
from tokentrail.collector.store import Store, connect

from tests.collector.test_http_protocol import make_request
from tests.collector.test_store import _tables


def _wait(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _counts(store: Store) -> tuple[int, int]:
    cur = store.con.cursor()
    try:
        return (cur.execute("SELECT count(*) FROM spans").fetchall()[0][0],
                cur.execute("SELECT count(*) FROM llm_calls_raw").fetchall()[0][0])
    finally:
        cur.close()


def test_checkpoints_when_the_wal_passes_its_size_while_the_writer_goes_on(tmp_path: Path, caplog) -> None:
    db = tmp_path / "c.duckdb"
    store = Store(connect(db, checkpoint_threshold="1GB"))  # DuckDB's own checkpoint never fires here
    checkpointer = Checkpointer(store.con, db, wal_bytes=256 * 1024, every_s=3600.0, poll_s=0.01)
    checkpointer.start()
    written = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        nonlocal written
        try:
            while not stop.is_set():
                written += store.write([_tables(make_request(50))])[0]
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert _wait(lambda: checkpointer.checkpoints >= 3)
    finally:
        stop.set()
        thread.join()
    checkpointer.close()
    assert errors == []
    assert "background checkpoint failed" not in caplog.text  # DuckDB ran each one beside the writer
    assert written > 0 and _counts(store) == (written, written)  # every committed row is there once
    assert checkpointer.wal_size() < 10 * 256 * 1024  # kept near its size, not growing with the data
    store.close()
    reopened = Store(connect(db))
    assert _counts(reopened) == (written, written)
    reopened.close()


def test_checkpoints_a_small_wal_once_it_is_old_enough(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    store = Store(connect(db, checkpoint_threshold="1GB"))
    store.write([_tables(make_request(5))])
    assert (tmp_path / "c.duckdb.wal").stat().st_size > 0
    checkpointer = Checkpointer(store.con, db, wal_bytes=2**30, every_s=0.2, poll_s=0.01)
    checkpointer.start()
    try:
        assert _wait(lambda: checkpointer.wal_size() == 0)
        assert checkpointer.checkpoints >= 1
        count = checkpointer.checkpoints
        time.sleep(0.5)
        assert checkpointer.checkpoints == count  # an empty WAL is left alone
    finally:
        checkpointer.close()
    assert _counts(store) == (5, 5)
    store.close()


def test_close_stops_the_thread(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    store = Store(connect(db))
    checkpointer = Checkpointer(store.con, db, wal_bytes=2**30, every_s=3600.0, poll_s=0.01)
    checkpointer.start()
    checkpointer.close()
    assert not any(t.name == "tokentrail-checkpointer" and t.is_alive() for t in threading.enumerate())
    store.close()


def test_a_failing_checkpoint_is_logged_once_and_retried_after_a_pause(tmp_path: Path, caplog) -> None:
    db = tmp_path / "c.duckdb"
    store = Store(connect(db, checkpoint_threshold="1GB"))
    store.write([_tables(make_request(5))])
    checkpointer = Checkpointer(store.con, db, wal_bytes=1, every_s=3600.0, poll_s=0.01, retry_s=0.3)

    class Failing:
        def execute(self, sql: str) -> None:
            raise duckdb.IOException("disk trouble")

        def close(self) -> None:
            pass

    checkpointer._cursor = Failing()
    with caplog.at_level(logging.DEBUG, logger="tokentrail.collector"):
        checkpointer.start()
        time.sleep(1.0)
        checkpointer.close()
    assert 2 <= checkpointer.failures <= 5  # one try per pause, not one per 10 ms poll
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "background checkpoint failed" in warnings[0].getMessage()
    assert _counts(store) == (5, 5)  # the rows are in the WAL all the same
    store.close()
