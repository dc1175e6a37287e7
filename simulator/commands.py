"""CLI subcommands of this stage (see tokentrail.cli): `tokentrail simulate`."""

from __future__ import annotations

import argparse

from tokentrail.config import DEFAULT_HOST, DEFAULT_SIMULATOR_PORT

_FAULT_KINDS = ("429", "500", "503", "timeout", "drop")  # tokentrail.simulator.config.FAULT_KINDS, kept light


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; heavy imports belong in the handlers."""
    p = sub.add_parser(
        "simulate",
        help="run the OpenAI-compatible simulator (for tests, demos and benchmarks)",
        description=(
            "Serve an OpenAI-compatible API on loopback: chat completions, responses, embeddings and "
            "completions, with realistic usage, prompt caching, latency and injected faults. Point the SDK "
            "at it with OPENAI_BASE_URL=http://HOST:PORT/v1. Per-request control headers: x-sim-fault "
            "(429|500|503|timeout|drop), x-sim-fault-count, x-sim-fault-key, x-sim-retry-after, "
            "x-sim-timeout, x-sim-latency-scale."
        ),
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_SIMULATOR_PORT, help="port (0 = any free port)")
    p.add_argument("--seed", type=int, default=0, help="seed for generated content and fault draws")
    p.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        help="multiplier on the latency model (1 = realistic, 0 = instant; default 1)",
    )
    p.add_argument("--ttft-ms", type=float, default=None, help="base time to first token in ms")
    p.add_argument("--per-token-ms", type=float, default=None, help="delay per output token in ms")
    p.add_argument(
        "--fault-rate",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help="inject a fault into this fraction of requests, e.g. 429=0.05 (repeatable; kinds: "
        + ", ".join(_FAULT_KINDS)
        + ")",
    )
    p.add_argument(
        "--rpm",
        type=int,
        default=None,
        metavar="N",
        help="enforce a limit of N requests per minute (429 + Retry-After beyond it; default: no limit)",
    )
    p.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds sent with a 429")
    p.add_argument(
        "--timeout-hold", type=float, default=None, help="seconds a 'timeout' fault holds a request"
    )
    p.set_defaults(handler=run)


def parse_fault_rates(specs: list[str]) -> dict[str, float]:
    from tokentrail.cli import CommandError

    rates: dict[str, float] = {}
    for spec in specs:
        kind, sep, value = spec.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in _FAULT_KINDS:
            raise CommandError(
                f"--fault-rate expects KIND=RATE with KIND one of {', '.join(_FAULT_KINDS)}; got {spec!r}"
            )
        try:
            rate = float(value)
        except ValueError:
            raise CommandError(f"--fault-rate {spec!r}: rate must be a number between 0 and 1") from None
        if not 0 <= rate <= 1:
            raise CommandError(f"--fault-rate {spec!r}: rate must be between 0 and 1")
        rates[kind] = rate
    if sum(rates.values()) > 1:
        raise CommandError("--fault-rate: the rates add up to more than 1")
    return rates


def run(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    from tokentrail.simulator.config import SimulatorConfig
    from tokentrail.simulator.server import make_server

    from tokentrail.cli import CommandError

    options: dict[str, object] = {
        "ttft_ms": args.ttft_ms,
        "per_token_ms": args.per_token_ms,
        "retry_after_s": args.retry_after,
        "timeout_hold_s": args.timeout_hold,
    }
    if args.rpm is not None:
        options.update(rate_limit_requests=args.rpm, rate_limit_window_s=60.0, enforce_rate_limit=True)
    try:
        config = SimulatorConfig(
            seed=args.seed,
            latency_scale=args.latency_scale,
            fault_rates=parse_fault_rates(args.fault_rate),
            **{k: v for k, v in options.items() if v is not None},
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        server = make_server(config, args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host, port = server.server_address[:2]
    print(
        f"tokentrail simulator listening on http://{host}:{port}/v1 (seed {args.seed}, "
        f"latency scale {args.latency_scale:g})",
        flush=True,
    )
    # SIGTERM stops as cleanly as Ctrl-C: shutdown() must run off the serving thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=_stop, args=(server,)).start())
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_connections()
        server.server_close()
    print("tokentrail simulator stopped", file=sys.stderr)
    return 0


def _stop(server) -> None:
    server.close_connections()
    server.shutdown()
