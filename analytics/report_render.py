"""Markdown and self-contained HTML for a monthly Report (HTML: inline CSS and SVG, nothing fetched)."""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING

from tokentrail.analytics import svg

if TYPE_CHECKING:
    import pandas as pd
    from tokentrail.analytics.report import Report


def money(v: float | None, missing: str = "n/a") -> str:
    if v is None or v != v:
        return missing
    return f"${v:,.2f}" if abs(v) < 1000 else f"${v:,.0f}"


def pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v * 100:.1f}%"


def change(p: float | None) -> str:
    if p is None or p != p:  # None or NaN: no previous spend to compare with
        return "new"
    return f"{p:+.1f}%"


def _summary_rows(r: Report) -> list[tuple[str, str]]:
    t, f = r.totals, r.forecast
    rows = [
        ("Period", f"{r.start:%Y-%m-%d} to {(r.cut - timedelta(microseconds=1)):%Y-%m-%d}"
                   + ("" if r.complete else " (month to date)")),
        ("Spend", money(t["cost_usd"])),
        ("Calls", f"{int(t['calls']):,}"),
        ("Previous month, same period", money(r.prev_totals["cost_usd"])),
    ]
    if r.budget is not None:
        rows.append(("Budget", f"{money(r.budget)} ({pct(f.spend_ratio)} used)"))
    rows.append(("Linear month-end forecast", money(f.forecast)
                 + (f" ({pct(f.forecast_ratio)} of budget)" if r.budget else "")))
    if r.budget is not None:
        if f.run_out is not None and f.spend >= r.budget:
            rows.append(("Budget ran out", f"{f.run_out:%Y-%m-%d} (the day spend crossed it)"))
        elif f.run_out is not None:
            rows.append(("Budget runs out", f"{f.run_out:%Y-%m-%d %H:%M} UTC at the current rate"))
        else:
            rows.append(("Budget runs out", "not this month at the current rate"))
    return rows


def _losses_rows(r: Report) -> list[tuple[str, str]]:
    t = r.totals
    return [
        ("Failed calls", f"{int(t['failed_calls']):,}"),
        ("Cost of failed calls", money(t["error_cost_usd"])),
        ("Calls that needed retries", f"{int(t['retried_calls']):,} ({int(t['retries']):,} retries)"),
        ("Time spent backing off", f"{t['retry_wait_ms'] / 1000:,.1f} s"),
    ]


def _cache_rows(r: Report) -> list[tuple[str, str]]:
    t = r.totals
    share = t["cached_input_tokens"] / t["input_tokens"] if t["input_tokens"] else None
    return [
        ("Provider prompt cache: saved vs uncached input price", money(t["prompt_cache_saved_usd"])),
        ("Share of input tokens served from the prompt cache", pct(share)),
        ("Response cache hits", f"{int(t['response_cache_hits']):,}"),
        ("Response cache: cost saved", money(t["response_cache_saved_usd"])),
        ("Response cache: time saved", f"{t['response_cache_saved_ms'] / 1000:,.1f} s"),
        ("Total cache savings", money(t["prompt_cache_saved_usd"] + t["response_cache_saved_usd"])),
    ]


def _unpriced_rows(r: Report) -> list[tuple[str, str]]:
    t = r.totals
    calls_share = t["unpriced_calls"] / t["calls"] if t["calls"] else None
    tok_share = t["unpriced_tokens"] / t["tokens"] if t["tokens"] else None
    models = ", ".join(str(m) for m in r.unpriced_models["model"].head(10)) or "none"
    return [
        ("Unpriced calls (no cost, not $0)", f"{int(t['unpriced_calls']):,} ({pct(calls_share)} of calls)"),
        ("Unpriced tokens", f"{int(t['unpriced_tokens']):,} ({pct(tok_share)} of tokens)"),
        ("Unpriced models", models),
    ]


def _breakdown_table(df: pd.DataFrame, key: str, top: int = 15) -> tuple[list[str], list[list[str]]]:
    head = [key, "spend", "share", "calls", "unpriced calls", "previous", "change"]
    rows = [[str(row[key]), money(row["cost_usd"], "unpriced"), pct(row["share"]), f"{int(row['calls']):,}",
             f"{int(row['unpriced_calls']):,}", money(row["prev_cost_usd"], "$0.00"), change(row["change_pct"])]
            for _, row in df.head(top).iterrows()]
    return head, rows


def _drivers_table(r: Report) -> tuple[list[str], list[list[str]]]:
    return (["model", "feature", "spend", "share", "calls"],
            [[str(row["model"]), str(row["feature"]), money(row["cost_usd"]), pct(row["share"]),
              f"{int(row['calls']):,}"] for _, row in r.drivers.iterrows()])


def _anomaly_table(r: Report) -> tuple[list[str], list[list[str]]]:
    return (["day", "spend", "baseline (7-day median)", "ratio"],
            [[str(row["day"]), money(row["cost_usd"]), money(row["baseline_usd"]),
              f"{row['cost_usd'] / row['baseline_usd']:.1f}x"] for _, row in r.anomalies.iterrows()])


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "_none_\n"
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _md_kv(rows: list[tuple[str, str]]) -> str:
    return _md_table(["", ""], [[k, v] for k, v in rows])


def render_markdown(r: Report) -> str:
    parts = [f"# LLM spend report: {r.start:%B %Y}\n"]
    if r.filters.with_range(None, None).where()[0] != "WHERE TRUE":
        parts.append(f"Filtered: {_describe_filters(r)}\n")
    parts += ["## Spend and budget\n", _md_kv(_summary_rows(r))]
    for name, df in r.breakdowns.items():
        parts += [f"\n## Spend by {name}\n", _md_table(*_breakdown_table(df, name))]
    parts += ["\n## Top cost drivers (model x feature)\n", _md_table(*_drivers_table(r))]
    parts += ["\n## Cache savings\n", _md_kv(_cache_rows(r))]
    parts += ["\n## Money lost to retries and errors\n", _md_kv(_losses_rows(r))]
    parts += ["\n## Unpriced usage\n", _md_kv(_unpriced_rows(r))]
    parts += [f"\n## Anomalous days (spend > {r.anomaly_k:g}x the trailing 7-day median)\n",
              _md_table(*_anomaly_table(r))]
    return "\n".join(parts)


def _describe_filters(r: Report) -> str:
    f = r.filters
    bits = [f"{n}={','.join(v)}" for n in ("service", "model", "feature", "user", "provider")
            if (v := getattr(f, n))]
    return "; ".join(bits)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _html_kv(rows: list[tuple[str, str]]) -> str:
    trs = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table class=kv>{trs}</table>"


def _cumulative_chart(r: Report) -> str:
    days = (r.end - r.start).days
    cum, pts = 0.0, [(0.0, 0.0)]
    for i, (_, row) in enumerate(r.daily.iterrows()):
        cum += row["cost_usd"]
        pts.append((float(i + 1), cum))
    series = [("spend", pts, "#2563eb", False)]
    f = r.forecast
    if f.forecast is not None and not r.complete:
        series.append(("forecast", [(f.elapsed_days, f.spend), (float(days), f.forecast)], "#9333ea", True))
    if r.budget:
        series.append(("budget", [(0.0, r.budget), (float(days), r.budget)], "#dc2626", True))
    labels = [(float(d), f"{(r.start + timedelta(days=d)):%d %b}") for d in range(0, days + 1, 5)]
    return svg.line_chart(series, float(days), "Cumulative spend, forecast and budget", labels)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;padding:0 1em;color:#111827}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #e5e7eb}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}
th,td{padding:4px 8px;border-bottom:1px solid #f3f4f6;text-align:right}
th:first-child,td:first-child{text-align:left}table.kv th{text-align:left;font-weight:normal;color:#4b5563}
.kpis{display:flex;gap:1em;flex-wrap:wrap}.kpi{flex:1;min-width:150px;background:#f9fafb;padding:.8em;border-radius:8px}
.kpi b{display:block;font-size:1.4em}.warn{color:#dc2626}
"""


def render_html(r: Report) -> str:
    f, t = r.forecast, r.totals
    over = r.budget is not None and f.forecast is not None and f.forecast > r.budget
    kpis = [("Spend", money(t["cost_usd"])), ("Forecast", money(f.forecast)),
            ("Budget", money(r.budget) if r.budget is not None else "none"),
            ("Unpriced calls", f"{int(t['unpriced_calls']):,}")]
    kpi_html = "".join(
        f'<div class="kpi{" warn" if (k == "Forecast" and over) else ""}">{escape(k)}<b>{escape(v)}</b></div>'
        for k, v in kpis)
    daily = r.daily
    by_model = r.breakdowns["model"].head(12)
    body = [
        f"<h1>LLM spend report: {r.start:%B %Y}</h1>",
        f"<p>Filtered: {escape(_describe_filters(r))}</p>" if _describe_filters(r) else "",
        f'<div class="kpis">{kpi_html}</div>',
        "<h2>Spend and budget</h2>", _html_kv(_summary_rows(r)), _cumulative_chart(r),
        "<h2>Daily spend</h2>",
        svg.bar_chart([f"{d:%d}" for d in daily["day"]], [float(v) for v in daily["cost_usd"]],
                      "Daily spend (red: anomalous)", list(daily["anomalous"])),
    ]
    body.append("<h2>Spend by model</h2>")
    priced = by_model[by_model["cost_usd"].notna()]
    body.append(svg.hbar_chart([str(m) for m in priced["model"]], [float(v) for v in priced["cost_usd"]],
                               "Spend by model (priced models)"))
    for name, df in r.breakdowns.items():
        if name != "model":
            body.append(f"<h2>Spend by {escape(name)}</h2>")
        body.append(_html_table(*_breakdown_table(df, name)))
    body += ["<h2>Top cost drivers (model &times; feature)</h2>", _html_table(*_drivers_table(r)),
             "<h2>Cache savings</h2>", _html_kv(_cache_rows(r)),
             "<h2>Money lost to retries and errors</h2>", _html_kv(_losses_rows(r)),
             "<h2>Unpriced usage</h2>", _html_kv(_unpriced_rows(r)),
             f"<h2>Anomalous days (spend &gt; {r.anomaly_k:g}&times; the trailing 7-day median)</h2>",
             _html_table(*_anomaly_table(r))]
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>LLM spend report {r.month}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>")
