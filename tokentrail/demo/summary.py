"""The demo's closing summary and its budget file, both computed from the database it just filled."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tokentrail.analytics import Source, cost_by_model, prompt_cache, response_cache, retry_summary, totals
from tokentrail.analytics.analyses import cost_by


def _usd(x: float | None) -> str:
    return "n/a" if x is None else f"${x:,.2f}"


def _month_start(day: date, back: int = 0) -> date:
    year, month = day.year, day.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


def budgets_toml(db: Path, today: date) -> str:
    """Budgets set a little under last month's actual spend, so the demo shows an overrun."""
    from tokentrail.analytics import Filters

    source = Source(db=db)
    last = Filters(start=_month_start(today, 1), end=_month_start(today))
    spent = totals(source, last)["cost_usd"] or 0.0
    by_feature = cost_by(source, last, by="feature").dropna(subset=["feature"])
    text = f"""# tokentrail demo budgets (written by `tokentrail demo`); see docs/budgets.md.
# Set at 85% of last month's spend, so this month's forecast runs over.
[[budget]]
name = "all LLM spend"
monthly_usd = {max(round(spent * 0.85, 2), 0.01)}
thresholds = [0.8, 1.0]
"""
    if not by_feature.empty:
        top = by_feature.sort_values("cost_usd", ascending=False).iloc[0]
        text += f"""
[[budget]]
name = "{top['feature']}"
feature = "{top['feature']}"
monthly_usd = {max(round(float(top['cost_usd']) * 0.85, 2), 0.01)}
thresholds = [0.8, 1.0]
"""
    return text


def render(db: Path, today: date) -> str:
    """A few lines a newcomer can check against the dashboard."""
    source = Source(db=db)
    with source.pinned():
        t = totals(source)
        models = cost_by_model(source).sort_values("cost_usd", ascending=False).head(3)
        retries = retry_summary(source)
        prompt = prompt_cache(source)
        app_cache = response_cache(source)
    lines = [
        f"Summary of {db.name}",
        f"  spend:            {_usd(t['cost_usd'])} over {t['calls']:,} calls "
        f"({t['unpriced_calls']:,} calls on unpriced models, shown as unknown, not $0)",
        "  top models:       " + ", ".join(f"{r.model} {_usd(r.cost_usd)}" for r in models.itertuples()),
        f"  retry waste:      {_usd(retries['failed_cost_usd'].sum())} on calls that failed anyway, "
        f"{retries['backoff_ms'].sum() / 1000:,.0f} s spent backing off",
        f"  cache savings:    {_usd(prompt['savings_usd'].sum())} from provider prompt caching, "
        f"{_usd(app_cache['saved_cost_usd'].sum())} from tokentrail's response cache",
        "  next:             tokentrail report --month " + today.strftime("%Y-%m") + "   |   tokentrail budget check",
    ]
    return "\n".join(lines)
