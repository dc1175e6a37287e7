"""`tokentrail sql | prices | budget | report` (see tokentrail.cli). Nothing heavy is imported here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("table", "csv", "json", "parquet")


def _source_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--db", type=Path, help="DuckDB file to read (default: TOKENTRAIL_DB or ./tokentrail.duckdb)")
    g.add_argument("--collector", help="collector base URL to query instead (default: TOKENTRAIL_COLLECTOR)")
    p.add_argument("--prices", type=Path, help="price overrides TOML (default: TOKENTRAIL_PRICES)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sql", help="run read-only SQL over llm_calls (costs included)",
                       description="Run one read-only statement over the llm_calls view, prices, "
                                   "llm_calls_daily and the raw tables. Exit 1 on a bad query.")
    p.add_argument("query", help='e.g. "SELECT model, sum(cost_usd) FROM llm_calls GROUP BY 1"')
    _source_args(p)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout (required for parquet)")
    p.add_argument("--max-rows", type=int, default=100_000)
    p.set_defaults(handler=_sql)

    p = sub.add_parser("prices", help="show the prices tokentrail applies")
    psub = p.add_subparsers(dest="prices_command", metavar="SUBCOMMAND", required=True)
    s = psub.add_parser("show", help="rates in force for a model (USD per 1M tokens)")
    s.add_argument("model")
    s.add_argument("--at", help="date or datetime, UTC (default: now)")
    s.add_argument("--provider", help="provider as recorded (openai, azure.ai.openai, anthropic, ...)")
    s.add_argument("--tier", help="service tier (priority, flex, batch, ...)")
    s.add_argument("--history", action="store_true", help="list every price period, not just the one in force")
    s.add_argument("--prices", type=Path, help="price overrides TOML (default: TOKENTRAIL_PRICES)")
    s.set_defaults(handler=_prices_show)

    p = sub.add_parser("budget", help="check monthly budgets")
    bsub = p.add_subparsers(dest="budget_command", metavar="SUBCOMMAND", required=True)
    b = bsub.add_parser(
        "check", help="status of every budget; non-zero exit when a threshold is crossed",
        description="Exit codes: 0 all budgets fine; 3 a month-end forecast crosses a threshold; "
                    "4 month-to-date spend has crossed a threshold; 1 configuration or query error; "
                    "2 usage error.")
    b.add_argument("--config", type=Path, help="budgets TOML (default: TOKENTRAIL_BUDGETS)")
    b.add_argument("--month", help="YYYY-MM (default: current month)")
    b.add_argument("--as-of", help="pretend it is this UTC date/datetime (default: now)")
    b.add_argument("--format", choices=("table", "json"), default="table")
    _source_args(b)
    b.set_defaults(handler=_budget_check)

    p = sub.add_parser("report", help="monthly spend report (Markdown or self-contained HTML)")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--budget", type=float, help="monthly budget in USD")
    p.add_argument("--format", choices=("md", "html"), default="md")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.add_argument("--as-of", help="cut the month at this UTC date/datetime (default: now)")
    p.add_argument("--anomaly-k", type=float, default=2.0, help="flag days above k x trailing 7-day median")
    for dim in ("service", "model", "feature", "user"):
        p.add_argument(f"--{dim}", action="append", help=f"only these {dim}s (repeatable)")
    _source_args(p)
    p.set_defaults(handler=_report)


def _error(message: str, code: int = 1):
    from tokentrail.cli import CommandError

    return CommandError(message, code)


def _source(args: argparse.Namespace):
    from tokentrail.analytics.overrides import PriceConfigError, load_overrides
    from tokentrail.analytics.source import connect

    try:
        overrides = load_overrides(getattr(args, "prices", None))
    except PriceConfigError as exc:
        raise _error(str(exc)) from exc
    return connect(db=args.db, collector=args.collector, overrides=overrides)


def _when(value: str | None, what: str):
    from datetime import datetime

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError as exc:
        raise _error(f"{what}: not a date or datetime: {value!r}", 2) from exc


def _sql(args: argparse.Namespace) -> int:
    from tokentrail.analytics.output import write_table
    from tokentrail.analytics.source import QueryError

    if args.format == "parquet" and args.output is None:
        raise _error("--format parquet needs -o FILE", 2)
    try:
        table = _source(args).arrow(args.query, max_rows=args.max_rows)
    except QueryError as exc:
        raise _error(str(exc)) from exc
    write_table(table, args.format, args.output)
    return 0


def _prices_show(args: argparse.Namespace) -> int:

    from tokentrail.analytics.forecast import utc_now
    from tokentrail.analytics.overrides import PriceConfigError, load_overrides
    from tokentrail.analytics.prices import CallKey, price_at, resolve

    at = _when(args.at, "--at") or utc_now()
    try:
        overrides = load_overrides(args.prices)
    except PriceConfigError as exc:
        raise _error(str(exc)) from exc
    if args.history:
        segments = resolve(CallKey(args.provider or "", args.model, "", args.tier or ""), overrides)
        if not segments:
            raise _error(f"no price for {args.model!r}: calls to it show cost NULL and price_known = false")
        print(f"{'from':<19}  {'to':<19}  {'source':<11} {'input':>9} {'cached':>9} {'c.write':>9} "
              f"{'output':>9} {'reason':>9}  conditions")
        for s in segments:
            r = s.rates.effective()
            cond = []
            if (s.tod_start, s.tod_end) != (0, 86_400):
                cond.append(f"UTC {_hms(s.tod_start)}-{_hms(s.tod_end)}")
            if s.input_above >= 0:
                cond.append(f"input tokens > {s.input_above:,}")
            elif s.input_upto < 2**62:
                cond.append(f"input tokens <= {s.input_upto:,}")
            print(f"{_day(s.valid_from):<19}  {_day(s.valid_to):<19}  {s.source:<11} {_r(r.input)} "
                  f"{_r(r.cache_read)} {_r(r.cache_write)} {_r(r.output)} {_r(r.reasoning)}  {', '.join(cond)}")
        return 0
    p = price_at(args.model, at, provider=args.provider, service_tier=args.tier, overrides=overrides)
    if p is None:
        raise _error(f"no price for {args.model!r} at {at:%Y-%m-%d %H:%M} UTC: calls to it show cost NULL "
                     "and price_known = false (add it to your prices TOML)")
    r = p.rates
    print(f"model        {args.model}" + (f"  (tier {args.tier})" if args.tier else ""))
    print(f"priced as    {p.price_provider}/{p.price_model}  [{p.source}]")
    print(f"at           {at:%Y-%m-%d %H:%M} UTC  (valid {_day(p.valid_from)} .. {_day(p.valid_to)})")
    if p.time_of_day:
        print(f"time of day  UTC {_hms(p.time_of_day[0])}-{_hms(p.time_of_day[1])}")
    print("USD per 1M tokens:")
    for label, v in (("input (uncached)", r.input), ("cached input", r.cache_read), ("cache write", r.cache_write),
                     ("output", r.output), ("reasoning", r.reasoning)):
        print(f"  {label:<17} {v:>10.4f}")
    if p.tiers:
        print("input-size tiers (whole request repriced once the input exceeds the lower bound):")
        for above, upto, tr in p.tiers:
            hi = "inf" if upto >= 2**62 else f"{upto:,}"
            print(f"  ({max(above, 0):,}, {hi}]: input {tr.input:g}  cached {tr.cache_read:g}  output {tr.output:g}")
    return 0


def _r(v: float | None) -> str:
    return f"{v:>9.4f}" if v is not None else f"{'-':>9}"


def _day(d) -> str:
    if d.year <= 1900:
        return "(always)"
    if d.year >= 9999:
        return "(open)"
    return f"{d:%Y-%m-%d %H:%M}"


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def _budget_check(args: argparse.Namespace) -> int:
    import json

    from tokentrail.analytics.budgets import BudgetConfigError, check_budgets, load_budgets
    from tokentrail.analytics.source import QueryError

    try:
        budgets = load_budgets(args.config)
        statuses = check_budgets(budgets, _source(args), month=args.month, as_of=_when(args.as_of, "--as-of"))
    except (BudgetConfigError, ValueError) as exc:
        raise _error(str(exc)) from exc
    except QueryError as exc:
        raise _error(str(exc)) from exc
    if args.format == "json":
        print(json.dumps([{
            "budget": s.budget.name, "scope": s.budget.scope, "value": s.budget.value,
            "monthly_usd": s.budget.monthly_usd, "spend_usd": s.spend, "forecast_usd": s.forecast,
            "spend_ratio": s.spend_ratio, "forecast_ratio": s.forecast_ratio, "thresholds": s.budget.thresholds,
            "spend_crossed": s.spend_crossed, "forecast_crossed": s.forecast_crossed, "status": s.level,
            "run_out": s.run_out.isoformat() if s.run_out else None, "unpriced_calls": s.unpriced_calls,
        } for s in statuses], indent=2))
    else:
        print(f"{'budget':<24} {'monthly':>10} {'spend':>10} {'used':>6} {'forecast':>10} {'fcst':>6}  status")
        for s in statuses:
            fr = f"{s.forecast_ratio * 100:5.0f}%" if s.forecast_ratio is not None else "   n/a"
            fc = f"{s.forecast:>10.2f}" if s.forecast is not None else f"{'n/a':>10}"
            note = f"  ({s.unpriced_calls} unpriced calls not counted)" if s.unpriced_calls else ""
            print(f"{s.budget.name[:24]:<24} {s.budget.monthly_usd:>10.2f} {s.spend:>10.2f} "
                  f"{s.spend_ratio * 100:5.0f}% {fc} {fr}  {s.level}{note}")
    return max((s.exit_code for s in statuses), default=0)


def _report(args: argparse.Namespace) -> int:
    from tokentrail.analytics.filters import Filters
    from tokentrail.analytics.report import build_report, render_html, render_markdown
    from tokentrail.analytics.source import QueryError

    filters = Filters(service=args.service, model=args.model, feature=args.feature, user=args.user)
    try:
        report = build_report(_source(args), args.month, budget=args.budget, as_of=_when(args.as_of, "--as-of"),
                              filters=filters, anomaly_k=args.anomaly_k)
    except QueryError as exc:
        raise _error(str(exc)) from exc
    except ValueError as exc:
        raise _error(str(exc), 2) from exc
    text = render_html(report) if args.format == "html" else render_markdown(report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
