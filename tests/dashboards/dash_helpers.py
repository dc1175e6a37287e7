"""Helpers for the dashboard tests: independent SQL on the file, and reading shown figures."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb


class Direct:
    """Independent SQL on the same file: the stored table, plus analytics' public `llm_calls` view
    (the column contract) for cost columns."""

    def __init__(self, path: Path) -> None:
        from tokentrail.analytics.views import install_views

        self.con = duckdb.connect(":memory:")
        self.con.execute("ATTACH ? AS f (READ_ONLY)", [str(path)])
        self.con.execute("USE f")
        install_views(self.con)

    def one(self, sql: str, params: list[Any] | None = None) -> tuple:
        return self.con.execute(sql, params or []).fetchone()

    def all(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def default_range(self) -> tuple[date, date]:
        """The dashboard's default date range: 30 days up to the last call's day."""
        first, last = self.one("SELECT min(ts)::DATE, max(ts)::DATE FROM llm_calls_raw")
        return max(first, last - timedelta(days=29)), last

    def where(self, start: date, end: date, **eq: Any) -> tuple[str, list[Any]]:
        parts = ["ts >= ?", "ts < ?"]
        params: list[Any] = [start, end + timedelta(days=1)]
        for column, value in eq.items():
            parts.append(f"{column} = ?")
            params.append(value)
        return "WHERE " + " AND ".join(parts), params

    def close(self) -> None:
        self.con.close()


_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


def number(text: str) -> float:
    """The number in a shown figure: '$1,234.56' -> 1234.56, '2.7%' -> 2.7, '11.8 s' -> 11.8."""
    match = _NUMBER.search(str(text))
    assert match, f"no number in {text!r}"
    return float(match.group().replace(",", ""))


def shown_close(text: str, expected: float, scale: float = 1.0) -> bool:
    """Whether a rounded figure shows `expected` (in the shown unit after dividing by `scale`)."""
    value = expected / scale
    digits = len(_NUMBER.search(str(text)).group().split(".")[1]) if "." in _NUMBER.search(str(text)).group() else 0
    return abs(number(text) - value) <= 0.5 * 10 ** (-digits) + 1e-9


def metrics(at: Any) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def plotly_figure(element: Any) -> dict[str, Any]:
    """The figure JSON a `st.plotly_chart` element sent to the browser."""
    import json

    return json.loads(element.proto.spec)


def series(values: Any) -> list[Any]:
    """A trace's x/y as a list: plotly sends numeric arrays as base64 typed arrays."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).tolist()
    return list(values)
