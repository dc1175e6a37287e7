"""Orchestration of `tokentrail demo` (see tokentrail.demo)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import webbrowser
from datetime import datetime, timezone
from pathlib import Path

from tokentrail.cli import CommandError
from tokentrail.config import DEFAULT_BUDGETS_FILE, DEFAULT_PRICES_FILE, settings
from tokentrail.demo.progress import Progress

DEMO_HEADER = "# tokentrail demo"


def _write_demo_file(path: Path, text: str, reset: bool) -> bool:
    """Write a demo config file unless the user has their own there; returns whether it was written."""
    if path.exists() and not reset and not path.read_text().startswith(DEMO_HEADER):
        print(f"  keeping your own {path} (the demo's prices/budgets are not applied)")
        return False
    path.write_text(text)
    return True


def _reset(db: Path) -> None:
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)


def run_demo(args: argparse.Namespace) -> int:
    from tokentrail.collector.server import Collector
    from tokentrail.demo import backfill, scenario, summary, workload
    from tokentrail.simulator.server import start_in_thread

    db = Path(args.db or settings().db_path).resolve()
    if args.reset:
        _reset(db)
    elif db.exists():
        print(f"Adding to the existing {db} (use --reset to start empty; the history is not stored twice).")
    today = datetime.now(timezone.utc).date()
    _write_demo_file(Path(DEFAULT_PRICES_FILE), scenario.prices_toml(today), args.reset)

    print("Starting the OpenAI-compatible simulator and a collector on 127.0.0.1 ...")
    sim = start_in_thread(seed=42, latency_scale=0.05, timeout_hold_s=2.0, retry_after_s=0.05)
    collector = Collector(str(db), host="127.0.0.1", http_port=0, grpc_port=None, token=settings().token)
    try:
        collector.start()
    except OSError as exc:
        sim.stop()
        raise CommandError(f"cannot start the collector: {exc}", 1) from None
    try:
        counts = _live_traffic(sim.base_url, collector.http_url, args.calls, workload)
        with Progress("synthetic history (OTLP)", args.days) as bar:
            sent = backfill.backfill(collector.http_url, days=args.days, today=today, on_day=bar.advance)
    finally:
        collector.stop()
        sim.stop()
    print(f"  live calls: {counts['ok']} answered, {counts['failed']} failed as injected; "
          f"synthetic history: {sent} calls over {args.days} days")

    _write_demo_file(Path(DEFAULT_BUDGETS_FILE), summary.budgets_toml(db, today), args.reset)
    print()
    print(summary.render(db, today))
    if args.no_dashboard:
        print(f"\nOpen the dashboard any time with: tokentrail dashboard --db {db}")
        return 0
    return _dashboard(db, args.port)


def _live_traffic(base_url: str, endpoint: str, calls: int, workload) -> dict[str, int]:
    import openai

    import tokentrail

    tokentrail.instrument(endpoint=endpoint, service_name="demo-app")
    tokentrail.cache.enable("memory", namespace="demo")
    client = openai.OpenAI(base_url=base_url, api_key="sk-demo-not-a-real-key", max_retries=2)
    try:
        with Progress("live calls through the openai SDK", calls) as bar:
            return workload.run_jobs(client, workload.build_jobs(calls), bar.advance)
    finally:
        client.close()
        tokentrail.cache.disable()
        tokentrail.uninstrument()  # flushes every span to the collector


def _dashboard(db: Path, port: int) -> int:
    url = f"http://127.0.0.1:{port}"
    print(f"\nDashboard: {url}  (Ctrl-C to stop)")
    proc = subprocess.Popen([sys.executable, "-m", "tokentrail", "dashboard", "--db", str(db), "--port", str(port)])
    try:
        webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
