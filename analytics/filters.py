"""The filter every analysis and dashboard page shares, turned into a parameterised WHERE clause."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any


def as_datetime(value: date | datetime | str | None, *, end: bool = False) -> datetime | None:
    """Dates mean whole days: a `date` start is its midnight, a `date` end includes that day."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if ("T" in value or " " in value) else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else _utc_naive(value)
    start = datetime(value.year, value.month, value.day)
    return start + timedelta(days=1) if end else start


def _utc_naive(value: datetime) -> datetime:
    from datetime import timezone

    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


@dataclass
class Filters:
    """Which calls an analysis covers. None means "no restriction"; lists mean "any of".

    `start` is inclusive and `end` exclusive (UTC); a plain `date` as `end` includes that day.
    """

    start: date | datetime | str | None = None
    end: date | datetime | str | None = None
    service: list[str] | None = None
    model: list[str] | None = None
    feature: list[str] | None = None
    user: list[str] | None = None
    provider: list[str] | None = None
    extra: list[tuple[str, list[Any]]] = field(default_factory=list)  # raw (sql, params) conditions

    def __post_init__(self) -> None:
        for name in ("service", "model", "feature", "user", "provider"):
            setattr(self, name, _as_list(getattr(self, name)))

    def with_range(self, start: date | datetime | None, end: date | datetime | None) -> Filters:
        """A copy with another time range (e.g. the previous month for a comparison)."""
        return Filters(start, end, self.service, self.model, self.feature, self.user, self.provider,
                       list(self.extra))

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """`(sql, params)`: a WHERE clause (always starting with WHERE; TRUE when empty) and its
        positional parameters. `alias` qualifies column names, e.g. "r"."""
        col = (alias + ".") if alias else ""
        parts: list[str] = []
        params: list[Any] = []
        start, end = as_datetime(self.start), as_datetime(self.end, end=True)
        if start is not None:
            parts.append(f"{col}ts >= ?")
            params.append(start)
        if end is not None:
            parts.append(f"{col}ts < ?")
            params.append(end)
        for name, column in (("service", "service"), ("model", "model"), ("feature", "feature"),
                             ("user", "user_id"), ("provider", "provider")):
            values = getattr(self, name)
            if values is None:
                continue
            if not values:
                parts.append("FALSE")
                continue
            parts.append(f"{col}{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        for sql, extra_params in self.extra:
            parts.append(f"({sql})")
            params.extend(extra_params)
        return "WHERE " + (" AND ".join(parts) if parts else "TRUE"), params
