"""Month-end forecasting: a straight line through month-to-date spend.

Linear on elapsed time (spend so far / time elapsed, extended to the month's end) because it is
easy to check by hand and what budget owners expect; anomalous days are flagged separately in the
report rather than smoothed away here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone


def month_bounds(month: str | date | datetime) -> tuple[datetime, datetime]:
    """[first instant, first instant of next month) for '2026-11', a date or a datetime."""
    if isinstance(month, str):
        try:
            year, mon = (int(p) for p in month.split("-")[:2])
            start = datetime(year, mon, 1)
        except ValueError as exc:
            raise ValueError(f"month must look like 2026-11, got {month!r}") from exc
    else:
        start = datetime(month.year, month.month, 1)
    end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


@dataclass(frozen=True)
class Forecast:
    month_start: datetime
    month_end: datetime  # exclusive
    as_of: datetime
    spend: float  # month to date
    elapsed_days: float
    days_in_month: float
    daily_rate: float | None  # spend per day so far; None before any time has elapsed
    forecast: float | None  # projected spend at month end
    budget: float | None
    run_out: datetime | None  # when spend reaches the budget at the current rate, if within the month

    @property
    def spend_ratio(self) -> float | None:
        return self.spend / self.budget if self.budget else None

    @property
    def forecast_ratio(self) -> float | None:
        return self.forecast / self.budget if self.budget and self.forecast is not None else None


def linear_forecast(
    spend: float, month_start: datetime, month_end: datetime, as_of: datetime, budget: float | None = None
) -> Forecast:
    """forecast = spend / elapsed x month length; run-out = month_start + budget / daily rate.

    `as_of` is clamped into the month; at or past month end the forecast is the actual spend.
    """
    as_of = min(max(as_of, month_start), month_end)
    days = (month_end - month_start) / timedelta(days=1)
    elapsed = (as_of - month_start) / timedelta(days=1)
    rate = spend / elapsed if elapsed > 0 else None
    forecast = spend if elapsed >= days else (rate * days if rate is not None else None)
    run_out = None
    if budget is not None:
        if spend >= budget:
            # Already over: the run-out moment lies in the past, at the same average rate.
            run_out = month_start + timedelta(days=budget / rate) if rate else as_of
        elif rate and rate > 0 and budget / rate < days:
            # Compare in days first: a large budget over a tiny rate overflows timedelta.
            run_out = month_start + timedelta(days=budget / rate)
    return Forecast(month_start, month_end, as_of, spend, elapsed, days, rate, forecast, budget, run_out)


def utc_now() -> datetime:
    """Now in UTC as a naive datetime, the convention of every `ts` column."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
