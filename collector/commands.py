"""CLI subcommands of this stage (see tokentrail.cli)."""

from __future__ import annotations

import argparse

from tokentrail.config import DEFAULT_GRPC_PORT, DEFAULT_HOST, DEFAULT_HTTP_PORT


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; heavy imports belong in the handlers."""
    p = sub.add_parser(
        "collector",
        help="run the OTLP collector that writes traces to DuckDB",
        description="Receive OTLP traces (HTTP and gRPC), store them in DuckDB, serve read-only SQL. "
        "Set TOKENTRAIL_TOKEN to require `Authorization: Bearer <token>` on every endpoint.",
    )
    p.add_argument("--db", help="DuckDB file (default: $TOKENTRAIL_DB or ./tokentrail.duckdb)")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    p.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="OTLP/HTTP port (default: %(default)s)")
    p.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT,
                   help="OTLP/gRPC port; -1 disables gRPC (default: %(default)s)")
    p.add_argument("--max-queued-spans", type=int, default=65_536,
                   help="write queue bound; beyond it clients get 503 + Retry-After (default: %(default)s)")
    p.add_argument("--duckdb-threads", type=int, default=1,
                   help="DuckDB worker threads; 0 = one per core (default: %(default)s, the cheapest for ingest)")
    p.add_argument("--decode-workers", type=int, default=None,
                   help="processes that decode requests beside the DuckDB writer; 0 = decode in the "
                   "request thread (default: one per core)")
    p.add_argument("--memory-limit", default="2GB",
                   help="DuckDB's memory limit; its cache of table blocks fills up to it, then evicts "
                   "(default: %(default)s)")
    p.add_argument("--log-level", default="INFO", help="logging level (default: %(default)s)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    # numpy (imported by pyarrow) would start an OpenBLAS thread per core that the collector never
    # uses but that shows up spinning in profiles; must be set before numpy is imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import gc
    import logging
    import sys

    import duckdb
    from tokentrail.collector.server import Collector

    from tokentrail.cli import CommandError
    from tokentrail.config import settings

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conf = settings()
    db = args.db or str(conf.db_path)
    try:
        collector = Collector(
            db,
            host=args.host,
            http_port=args.http_port,
            grpc_port=None if args.grpc_port < 0 else args.grpc_port,
            token=conf.token,
            max_queued_spans=args.max_queued_spans,
            memory_limit=args.memory_limit,
            duckdb_threads=args.duckdb_threads or None,
            decode_workers=args.decode_workers,
        )
    except duckdb.Error as exc:
        raise CommandError(f"cannot open {db}: {exc}", 1) from None
    try:
        collector.start()
    except OSError as exc:
        collector.stop()
        raise CommandError(f"cannot listen: {exc}", 1) from None
    # Startup objects (modules, caches) never become garbage: keep them out of every collection,
    # and collect young objects less often (decoding allocates in bursts of short-lived rows).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    # The DuckDB writer is the serial stage. DuckDB lets go of the GIL for each statement and must
    # take it back after; with Python's default 5 ms switch interval the writer then waits behind
    # the request threads. At 0.5 ms: 57.5-58.3k spans/s against 54.7-56.7k (bench/bench_collector.py,
    # alternating runs, together with the decoding workers' lower priority, decode_pool.py).
    sys.setswitchinterval(0.0005)
    print(f"tokentrail collector: OTLP/HTTP {collector.http_url}  OTLP/gRPC "
          f"{collector.grpc_bound_port or 'off'}  db {db}", flush=True)
    collector.serve_forever()
    return 0
