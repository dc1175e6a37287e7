"""A monthly budget check for cron: status of every budget, this month's report, one alert per crossing.

Run it daily; it reads the DuckDB file (or a collector) and never calls an LLM:

    # m h dom mon dow  command
    15 7 * * *  cd /srv/app && TOKENTRAIL_DB=/srv/app/tokentrail.duckdb \
        BUDGET_ALERT_WEBHOOK=https://hooks.example.com/T000/B000/XXX \
        /srv/app/.venv/bin/python examples/monthly_budget_check.py --budgets budgets.toml --out reports/

Each run
- prints every budget's month-to-date spend and month-end forecast;
- writes this month's HTML report to `--out/YYYY-MM.html` (rewritten daily, complete after the
  month ends) and, on the first run of a new month, last month's final one;
- posts a Slack-style `{"text": ...}` message to `BUDGET_ALERT_WEBHOOK` the first time a budget's
  spend or forecast reaches a new threshold this month (a small state file in `--out` remembers
  what was sent, so a daily cron does not repeat itself); a webhook that fails does not lose the
  alert: it is not recorded as sent, so the next run tries again;
- exits with `tokentrail budget check`'s code (0 fine, 3 forecast over, 4 spend over, 1 error), so
  cron's mail or a monitoring wrapper can act on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from tokentrail.analytics import QueryError, connect
from tokentrail.analytics.budgets import (
    EXIT_ERROR,
    BudgetConfigError,
    BudgetStatus,
    check_budgets,
    load_budgets,
)
from tokentrail.analytics.report import build_report, render_html


def previous_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def write_reports(source, out: Path, month: str, total_budget: float | None) -> list[Path]:
    """This month's report, and last month's once (its final version, written after it ended)."""
    written = []
    last = previous_month(month)
    for m in ([last] if not (out / f"{last}.html").exists() else []) + [month]:
        path = out / f"{m}.html"
        path.write_text(render_html(build_report(source, m, budget=total_budget)), encoding="utf-8")
        written.append(path)
    return written


def alert_key(status: BudgetStatus, month: str) -> str | None:
    """What this status would alert about, or None: the highest threshold reached, spend first."""
    if status.spend_crossed is not None:
        return f"{month}|{status.budget.name}|spend|{status.spend_crossed}"
    if status.forecast_crossed is not None:
        return f"{month}|{status.budget.name}|forecast|{status.forecast_crossed}"
    return None


def alert_text(status: BudgetStatus) -> str:
    b = status.budget
    forecast = "n/a" if status.forecast is None else f"${status.forecast:,.2f}"
    return (f"tokentrail budget {status.level}: {b.name}: ${status.spend:,.2f} spent of ${b.monthly_usd:,.2f}"
            f" ({status.spend_ratio:.0%}), month-end forecast {forecast}")


def post(webhook: str, text: str) -> bool:
    request = urllib.request.Request(webhook, data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return 200 <= response.status < 300
    except OSError as exc:
        print(f"alert not delivered ({exc}); the next run retries", file=sys.stderr)
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=Path, help="budgets TOML (default: TOKENTRAIL_BUDGETS)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for reports and alert state")
    args = parser.parse_args()

    month = datetime.now(timezone.utc).strftime("%Y-%m")
    args.out.mkdir(parents=True, exist_ok=True)
    source = connect()  # TOKENTRAIL_DB, or TOKENTRAIL_COLLECTOR when a collector owns the file
    try:
        budgets = load_budgets(args.budgets)
        statuses = check_budgets(budgets, source)
        total = next((b.monthly_usd for b in budgets if b.scope is None), None)
        reports = write_reports(source, args.out, month, total)
    except (BudgetConfigError, QueryError) as exc:
        print(f"budget check failed: {exc}", file=sys.stderr)
        return EXIT_ERROR

    for s in statuses:
        print(f"{s.budget.name:<24} {s.level:<8} spent ${s.spend:,.2f} of ${s.budget.monthly_usd:,.2f}")
    print("reports:", ", ".join(str(p) for p in reports))

    state_file = args.out / ".alerts-sent.json"
    sent: list[str] = json.loads(state_file.read_text()) if state_file.exists() else []
    webhook = os.environ.get("BUDGET_ALERT_WEBHOOK")
    for s in statuses:
        key = alert_key(s, month)
        if key is None or key in sent:
            continue
        print("ALERT:", alert_text(s))
        if webhook and post(webhook, alert_text(s)):
            sent.append(key)
    state_file.write_text(json.dumps([k for k in sent if k.startswith(month)]))
    return max((s.exit_code for s in statuses), default=0)


if __name__ == "__main__":
    sys.exit(main())
