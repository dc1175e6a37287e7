"""tokentrail.fileguard: the sidecar lock that processes taking turns on one DuckDB file share."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tokentrail.fileguard import GuardTimeout, guard_path, guarded


def hold_guard(path: str, shared: bool) -> subprocess.Popen:
    """Another process holding the guard on `path` (kill it to release)."""
    code = ("import sys, time; from tokentrail.fileguard import guarded\n"
            "with guarded(sys.argv[1], shared=sys.argv[2] == 'shared', timeout=5):\n"
            "    print('held', flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, path, "shared" if shared else "exclusive"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_exclusive_holder_times_out_others_and_readers_share(tmp_path) -> None:
    path = str(tmp_path / "g.duckdb")
    holder = hold_guard(path, shared=False)
    try:
        for shared in (True, False):
            started = time.monotonic()
            with pytest.raises(GuardTimeout, match="stayed locked"), guarded(path, shared=shared, timeout=0.3):
                pass
            assert 0.25 < time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    with guarded(path, shared=False, timeout=1):  # a dead holder's lock is gone with its process
        pass
    reader = hold_guard(path, shared=True)
    try:
        with guarded(path, shared=True, timeout=0.3):
            pass
        with pytest.raises(GuardTimeout), guarded(path, shared=False, timeout=0.3):
            pass
    finally:
        reader.kill()
        reader.wait()
    assert guard_path(path).exists()


def test_reader_goes_on_when_the_guard_cannot_be_created(tmp_path) -> None:
    """A reader that cannot create the lock file goes on unguarded; a writer gets the error."""
    missing_dir = tmp_path / "no-such-dir" / "x.duckdb"
    with guarded(missing_dir, shared=True, timeout=0.1):
        pass
    with pytest.raises(OSError), guarded(missing_dir, shared=False, timeout=0.1):
        pass


def test_reader_shares_a_guard_it_cannot_write(tmp_path) -> None:
    """Readers open the lock file read-only, so a lock file they may not write still guards them."""
    path = tmp_path / "ro.duckdb"
    holder = hold_guard(str(path), shared=False)
    guard_path(path).chmod(0o444)
    try:
        with pytest.raises(GuardTimeout), guarded(path, shared=True, timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    with guarded(path, shared=True, timeout=1):
        pass
