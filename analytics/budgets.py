"""Monthly budgets from TOML, checked against month-to-date spend and the linear month-end forecast.

    thresholds = [0.8, 1.0]          # default alert thresholds (fractions of the budget)

    [[budget]]
    name = "total"                   # optional label
    monthly_usd = 5000

    [[budget]]
    feature = "summarise"            # scope: one of feature / user / service (or none = everything)
    monthly_usd = 800
    thresholds = [0.5, 0.9, 1.0]     # optional, per budget
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tokentrail.analytics.filters import Filters

from tokentrail.config import read_toml

DEFAULT_THRESHOLDS = (0.8, 1.0)
SCOPES = ("feature", "user", "service")

# Exit codes of `tokentrail budget check` (2 is argparse's usage error).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_FORECAST = 3  # the month-end forecast crosses a threshold; spend so far does not
EXIT_SPEND = 4  # month-to-date spend has already crossed a threshold


class BudgetConfigError(ValueError):
    """The budgets file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Budget:
    name: str
    monthly_usd: float
    scope: str | None  # feature | user | service | None (everything)
    value: str | None
    thresholds: tuple[float, ...]

    def filters(self) -> Filters:
        if self.scope is None:
            return Filters()
        return Filters(**{self.scope: [self.value]})


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spend: float
    forecast: float | None
    spend_ratio: float
    forecast_ratio: float | None
    spend_crossed: float | None  # highest threshold spend has reached
    forecast_crossed: float | None  # highest threshold the forecast reaches
    run_out: datetime | None
    unpriced_calls: int

    @property
    def level(self) -> str:
        if self.spend_crossed is not None:
            return "OVER" if self.spend_crossed >= 1.0 else "ALERT"
        if self.forecast_crossed is not None:
            return "FORECAST"
        return "ok"

    @property
    def exit_code(self) -> int:
        if self.spend_crossed is not None:
            return EXIT_SPEND
        if self.forecast_crossed is not None:
            return EXIT_FORECAST
        return EXIT_OK


def parse_budgets(data: dict[str, Any]) -> list[Budget]:
    unknown = set(data) - {"thresholds", "budget"}
    if unknown:
        raise BudgetConfigError(f"unknown key(s): {', '.join(sorted(unknown))} (expected thresholds, [[budget]])")
    default = _thresholds(data.get("thresholds", DEFAULT_THRESHOLDS), "thresholds")
    budgets = []
    for i, entry in enumerate(data.get("budget", [])):
        where = f"[[budget]] #{i + 1}"
        bad = set(entry) - {"name", "monthly_usd", "thresholds", *SCOPES}
        if bad:
            raise BudgetConfigError(f"{where}: unknown field(s) {', '.join(sorted(bad))}")
        amount = entry.get("monthly_usd")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= 0:
            raise BudgetConfigError(f"{where}: monthly_usd must be a positive number")
        scopes = [s for s in SCOPES if s in entry]
        if len(scopes) > 1:
            raise BudgetConfigError(f"{where}: give at most one of {', '.join(SCOPES)}")
        scope = scopes[0] if scopes else None
        value = str(entry[scope]) if scope else None
        name = str(entry.get("name") or (f"{scope}={value}" if scope else "total"))
        thresholds = _thresholds(entry["thresholds"], where) if "thresholds" in entry else default
        budgets.append(Budget(name, float(amount), scope, value, thresholds))
    if not budgets:
        raise BudgetConfigError("no [[budget]] entries")
    return budgets


def _thresholds(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or not value or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise BudgetConfigError(f"{where}: thresholds must be a non-empty list of positive fractions, e.g. [0.8, 1.0]")
    return tuple(sorted(float(v) for v in value))


def load_budgets(path: str | Path | None = None) -> list[Budget]:
    """Budgets from `path`, else TOKENTRAIL_BUDGETS."""
    if path is None:
        from tokentrail.config import settings

        path = settings().budgets_file
        if path is None:
            raise BudgetConfigError("no budgets file: pass --config or set TOKENTRAIL_BUDGETS")
    path = Path(path)
    data = read_toml(path, BudgetConfigError, "budgets")
    try:
        return parse_budgets(data)
    except BudgetConfigError as exc:
        raise BudgetConfigError(f"{path}: {exc}") from exc


def _crossed(ratio: float | None, thresholds: tuple[float, ...]) -> float | None:
    if ratio is None:
        return None
    hit = [t for t in thresholds if ratio >= t]
    return max(hit) if hit else None


def check_budgets(
    budgets: list[Budget], source=None, *, month: str | None = None, as_of: datetime | None = None
) -> list[BudgetStatus]:
    """Status of every budget for `month` (default: the month of `as_of`, default now UTC)."""
    from tokentrail.analytics.analyses import _src, totals
    from tokentrail.analytics.forecast import linear_forecast, month_bounds, utc_now

    src = _src(source)
    as_of = as_of or utc_now()
    start, end = month_bounds(month or as_of)
    cut = min(max(as_of, start), end)
    out = []
    with src.pinned():
        for b in budgets:
            t = totals(src, b.filters().with_range(start, cut))
            fc = linear_forecast(t["cost_usd"], start, end, cut, b.monthly_usd)
            spend_ratio = fc.spend / b.monthly_usd
            forecast_ratio = fc.forecast / b.monthly_usd if fc.forecast is not None else None
            out.append(BudgetStatus(
                b, fc.spend, fc.forecast, spend_ratio, forecast_ratio,
                _crossed(spend_ratio, b.thresholds), _crossed(forecast_ratio, b.thresholds),
                fc.run_out, int(t["unpriced_calls"] or 0),
            ))
    return out
