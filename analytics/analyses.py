"""Analyses over `llm_calls`: each is one SQL aggregation run where the data is, returning a DataFrame.

Every function takes `(source, filters)`; `source=None` means `connect()` (TOKENTRAIL_COLLECTOR or
TOKENTRAIL_DB) and `filters=None` means all calls. Rows are never pulled into pandas to be
aggregated: only the aggregated result crosses over. SQL sticks to standard forms
(`percentile_cont ... WITHIN GROUP`, `CASE`, `CAST`, `GROUPING SETS`) so it ports to other engines;
the few DuckDB-only forms, kept for speed, are listed in docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from tokentrail.analytics.filters import Filters
from tokentrail.analytics.forecast import utc_now
from tokentrail.analytics.source import Source, connect

if TYPE_CHECKING:
    import pandas as pd
    from tokentrail.analytics.catalogue import Rates

# Public dimension name -> SQL expression over llm_calls.
DIMENSIONS = {
    "model": "model",
    "provider": "provider",
    "service": "service",
    "feature": "feature",
    "user": "user_id",
    "day": "CAST(ts AS DATE)",
    "hour": "date_trunc('hour', ts)",
    "week": "date_trunc('week', ts)",
    "month": "date_trunc('month', ts)",
    "service_tier": "service_tier",
    "operation": "operation",
}
GRAINS = {"hour", "day", "week", "month"}


def _src(source: Source | None) -> Source:
    return source if source is not None else connect()


def _where(filters: Filters | None) -> tuple[str, list]:
    return (filters or Filters()).where()


def _dims(by: str | Sequence[str]) -> list[str]:
    names = [by] if isinstance(by, str) else list(by)
    bad = [n for n in names if n not in DIMENSIONS]
    if bad:
        raise ValueError(f"unknown dimension(s) {bad}; choose from {sorted(DIMENSIONS)}")
    return names


def _bucket(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {sorted(GRAINS)}")
    return DIMENSIONS[grain]


# -- cost ------------------------------------------------------------------------------------

def cost_by(
    source: Source | None = None,
    filters: Filters | None = None,
    by: str | Sequence[str] = "model",
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """Spend grouped by one or more of model, provider, day, user, feature, service (and hour, week,
    month, service_tier, operation). Unpriced calls are counted, never costed as $0."""
    names = _dims(by)
    where, params = _where(filters)
    order = "1" if names[0] in GRAINS else "cost_usd DESC NULLS LAST"
    tail = f"""
        ORDER BY {order}{', ' + ', '.join(str(i + 2) for i in range(len(names) - 1)) if len(names) > 1 else ''}
        {f'LIMIT {int(limit)}' if limit else ''}"""
    src = _src(source)
    with src.pinned():
        info = src.query("SELECT join_columns, day_aligned FROM pricing_info").iloc[0]
        if bool(info["day_aligned"]):
            return src.query(_cost_by_preaggregated(names, where, str(info["join_columns"]).split(",")) + tail,
                             params)
        select = ", ".join(f"{DIMENSIONS[n]} AS {n}" for n in names)
        sql = f"""
            SELECT {select},
                   count(*) AS calls,
                   sum(cost_usd) AS cost_usd,
                   sum(input_cost_usd) AS input_cost_usd,
                   sum(output_cost_usd) AS output_cost_usd,
                   count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls,
                   sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens
            FROM llm_calls {where}
            GROUP BY {", ".join(str(i + 1) for i in range(len(names)))}
        """
        return src.query(sql + tail, params)


def _cost_by_preaggregated(names: list[str], where: str, keys: list[str]) -> str:
    """The same figures as summing `llm_calls`, computed by summing tokens first and pricing the sums.

    Exact when every price row starts and ends at midnight and has no time-of-day window or size
    tier (`pricing_info.day_aligned`): the price is then constant per (day, price key), and cost is
    linear in tokens. At 10M rows this joins ~1,000 groups instead of every row: about twice as fast.
    """
    # Group once per distinct expression: "day" is the pricing day, "model" may be a price key.
    exprs: dict[str, str] = {"CAST(ts AS DATE)": "_day", **{k: f"_k_{k}" for k in keys}}
    for n in names:
        exprs.setdefault(DIMENSIONS[n], f"_d_{n}")
    group_cols = ", ".join(f"{e} AS {alias}" for e, alias in exprs.items())
    on = " AND ".join(f"p.{k} IS NOT DISTINCT FROM a._k_{k}" for k in keys)
    outer = ", ".join(f"a.{exprs[DIMENSIONS[n]]} AS {n}" for n in names)
    return f"""
        WITH a AS (
            SELECT {group_cols},
                   count(*) AS calls,
                   sum(greatest(coalesce(input_tokens, 0) - coalesce(cached_input_tokens, 0)
                                - coalesce(cache_write_tokens, 0), 0)) AS _uncached,
                   sum(coalesce(cached_input_tokens, 0)) AS _cached,
                   sum(coalesce(cache_write_tokens, 0)) AS _written,
                   sum(greatest(coalesce(output_tokens, 0) - coalesce(reasoning_tokens, 0), 0)) AS _visible,
                   sum(coalesce(reasoning_tokens, 0)) AS _reasoning,
                   sum(input_tokens) AS input_tokens,
                   sum(output_tokens) AS output_tokens
            FROM llm_calls_raw {where}
            GROUP BY {", ".join(str(i + 1) for i in range(len(exprs)))}
        ), c AS (
            SELECT {outer}, a.calls, a.input_tokens, a.output_tokens, p.valid_from IS NOT NULL AS priced,
                   (a._uncached * p.input_per_mtok + a._cached * p.cache_read_per_mtok
                    + a._written * p.cache_write_per_mtok) / 1e6 AS input_cost_usd,
                   (a._visible * p.output_per_mtok + a._reasoning * p.reasoning_per_mtok) / 1e6 AS output_cost_usd
            FROM a LEFT JOIN prices p ON {on} AND a._day >= p.valid_from AND a._day < p.valid_to
        )
        SELECT {", ".join(names)},
               CAST(sum(calls) AS BIGINT) AS calls,
               sum(input_cost_usd + output_cost_usd) AS cost_usd,
               sum(input_cost_usd) AS input_cost_usd,
               sum(output_cost_usd) AS output_cost_usd,
               CAST(sum(CASE WHEN priced THEN 0 ELSE calls END) AS BIGINT) AS unpriced_calls,
               CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
               CAST(sum(output_tokens) AS BIGINT) AS output_tokens
        FROM c
        GROUP BY {", ".join(str(i + 1) for i in range(len(names)))}"""


def cost_components(
    source: Source | None = None, filters: Filters | None = None, by: str | Sequence[str] = "model"
) -> pd.DataFrame:
    """Spend split into what each kind of token cost: uncached input, cache reads, cache writes,
    visible output and reasoning (the five add up to cost_usd; nothing is counted twice)."""
    names = _dims(by)
    select = ", ".join(f"{DIMENSIONS[n]} AS {n}" for n in names)
    where, params = _where(filters)
    sql = f"""
        SELECT {select},
               sum(greatest(coalesce(input_tokens, 0) - coalesce(cached_input_tokens, 0)
                            - coalesce(cache_write_tokens, 0), 0) * input_per_mtok) / 1e6 AS uncached_input_usd,
               sum(coalesce(cached_input_tokens, 0) * cache_read_per_mtok) / 1e6 AS cache_read_usd,
               sum(coalesce(cache_write_tokens, 0) * cache_write_per_mtok) / 1e6 AS cache_write_usd,
               sum(greatest(coalesce(output_tokens, 0) - coalesce(reasoning_tokens, 0), 0) * output_per_mtok)
                   / 1e6 AS output_usd,
               sum(coalesce(reasoning_tokens, 0) * reasoning_per_mtok) / 1e6 AS reasoning_usd,
               sum(cost_usd) AS cost_usd
        FROM llm_calls_priced {where}
        GROUP BY {", ".join(str(i + 1) for i in range(len(names)))}
        ORDER BY cost_usd DESC NULLS LAST
    """
    return _src(source).query(sql, params)


def cost_by_model(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    return cost_by(source, filters, "model")


def cost_by_day(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    return cost_by(source, filters, "day")


def totals(source: Source | None = None, filters: Filters | None = None) -> dict:
    """Headline sums for a filter: spend, calls, errors, unpriced calls and tokens, cache savings."""
    where, params = _where(filters)
    sql = f"""
        SELECT count(*) AS calls,
               coalesce(sum(cost_usd), 0) AS cost_usd,
               count(CASE WHEN status = 'error' THEN 1 END) AS errors,
               count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls,
               coalesce(sum(CASE WHEN price_known THEN 0
                                 ELSE coalesce(input_tokens, 0) + coalesce(output_tokens, 0) END), 0)
                   AS unpriced_tokens,
               coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)), 0) AS tokens,
               coalesce(sum(saved_cost_usd), 0) AS response_cache_saved_usd,
               coalesce(sum(CASE WHEN status = 'error' THEN cost_usd ELSE 0 END), 0) AS error_cost_usd,
               coalesce(sum(coalesce(retry_wait_ms, 0)), 0) AS retry_wait_ms
        FROM llm_calls {where}
    """
    row = _src(source).query(sql, params).to_dict("records")[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


# -- latency ---------------------------------------------------------------------------------

# One sort per group serves all three percentiles: the list form of percentile_cont is DuckDB's
# (standard SQL takes one fraction per call, which sorts again for each and costs ~3x at 10M rows).
_LATENCY_INNER = """
    count(*) AS calls,
    percentile_cont([0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) AS _d,
    percentile_cont([0.5, 0.95]) WITHIN GROUP (ORDER BY ttft_ms) AS _t,
    sum(output_tokens) / nullif(sum(duration_ms - coalesce(ttft_ms, 0)) / 1000.0, 0) AS output_tokens_per_s
"""
_LATENCY_OUTER = """calls, _d[1] AS p50_ms, _d[2] AS p95_ms, _d[3] AS p99_ms, _t[1] AS ttft_p50_ms,
    _t[2] AS ttft_p95_ms, output_tokens_per_s"""


def latency_by_model(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """p50/p95/p99 wall time, time to first token and output tokens/s per model.

    Only answered calls count (cache hits replay instantly and errors end early, both would skew
    it). Tokens/s is total output over total generation time (after the first token when streamed).
    """
    where, params = _where(filters)
    sql = f"""
        SELECT model, {_LATENCY_OUTER} FROM (
            SELECT model, {_LATENCY_INNER}
            FROM llm_calls_raw {where} AND status = 'ok' AND cache_hit IS NOT TRUE
            GROUP BY model
        ) q ORDER BY calls DESC
    """
    return _src(source).query(sql, params)


def latency_over_time(
    source: Source | None = None, filters: Filters | None = None, grain: str = "hour"
) -> pd.DataFrame:
    """The latency percentiles per model per time bucket."""
    where, params = _where(filters)
    sql = f"""
        SELECT bucket, model, {_LATENCY_OUTER} FROM (
            SELECT {_bucket(grain)} AS bucket, model, {_LATENCY_INNER}
            FROM llm_calls_raw {where} AND status = 'ok' AND cache_hit IS NOT TRUE
            GROUP BY 1, 2
        ) q ORDER BY 1, 2
    """
    return _src(source).query(sql, params)


# -- retries and errors ----------------------------------------------------------------------

def retry_summary(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """Per model: share of calls that needed a retry, retries, time spent backing off, and the
    calls (and their cost) that failed even after retrying."""
    where, params = _where(filters)
    sql = f"""
        SELECT model,
               count(*) AS calls,
               count(CASE WHEN coalesce(retry_count, 0) > 0 THEN 1 END) AS retried_calls,
               avg(CASE WHEN coalesce(retry_count, 0) > 0 THEN 1.0 ELSE 0.0 END) AS retry_rate,
               sum(coalesce(retry_count, 0)) AS retries,
               sum(coalesce(retry_wait_ms, 0)) AS backoff_ms,
               count(CASE WHEN status = 'error' THEN 1 END) AS failed_calls,
               count(CASE WHEN status = 'error' AND coalesce(retry_count, 0) > 0 THEN 1 END)
                   AS failed_after_retry,
               coalesce(sum(CASE WHEN status = 'error' THEN cost_usd ELSE 0 END), 0) AS failed_cost_usd
        FROM llm_calls {where}
        GROUP BY model ORDER BY retries DESC, calls DESC
    """
    return _src(source).query(sql, params)


def attempt_distribution(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """How many calls took 1, 2, 3, ... attempts, and how each group ended."""
    where, params = _where(filters)
    sql = f"""
        SELECT coalesce(retry_count, 0) + 1 AS attempts,
               count(*) AS calls,
               count(CASE WHEN status = 'ok' THEN 1 END) AS succeeded,
               count(CASE WHEN status = 'error' THEN 1 END) AS failed,
               sum(coalesce(retry_wait_ms, 0)) AS backoff_ms
        FROM llm_calls_raw {where}
        GROUP BY 1 ORDER BY 1
    """
    return _src(source).query(sql, params)


def rate_limit_pressure(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """HTTP 429s per model per hour: attempts the SDK retried (one `tokentrail.retry` span event
    each) plus calls whose final answer was a 429."""
    where, params = _where(filters)
    where_r = (filters or Filters()).where("r")
    sql = f"""
        WITH retried AS (
            SELECT r.model, date_trunc('hour', r.ts) AS hour, count(*) AS retried_429
            FROM llm_calls_raw r
            JOIN spans s ON s.trace_id = r.trace_id AND s.span_id = r.span_id,
                 unnest(CAST(s.events AS JSON[])) AS e(ev)
            {where_r[0]}
              AND coalesce(r.retry_count, 0) > 0
              AND json_extract_string(ev, '$.name') = 'tokentrail.retry'
              AND CAST(coalesce(json_extract(ev, '$.attributes."http.response.status_code"'),
                                'null') AS VARCHAR) = '429'
            GROUP BY 1, 2
        ), final AS (
            SELECT model, date_trunc('hour', ts) AS hour,
                   count(CASE WHEN http_status = 429 THEN 1 END) AS final_429,
                   count(*) AS calls
            FROM llm_calls_raw {where}
            GROUP BY 1, 2
        )
        SELECT f.model, f.hour, f.calls,
               coalesce(t.retried_429, 0) AS retried_429,
               f.final_429,
               coalesce(t.retried_429, 0) + f.final_429 AS total_429
        FROM final f LEFT JOIN retried t ON t.model IS NOT DISTINCT FROM f.model AND t.hour = f.hour
        WHERE coalesce(t.retried_429, 0) + f.final_429 > 0
        ORDER BY f.hour, f.model
    """
    return _src(source).query(sql, where_r[1] + params)


def errors_over_time(
    source: Source | None = None, filters: Filters | None = None, grain: str = "day"
) -> pd.DataFrame:
    """Failed calls by error type per time bucket, with the share of all calls in the bucket."""
    where, params = _where(filters)
    sql = f"""
        WITH b AS (
            SELECT {_bucket(grain)} AS bucket, status, coalesce(error_type, '(none)') AS error_type
            FROM llm_calls_raw {where}
        ), totals AS (SELECT bucket, count(*) AS all_calls FROM b GROUP BY bucket)
        SELECT b.bucket, b.error_type, count(*) AS errors, t.all_calls,
               CAST(count(*) AS DOUBLE) / t.all_calls AS error_rate
        FROM b JOIN totals t ON t.bucket = b.bucket
        WHERE b.status = 'error'
        GROUP BY b.bucket, b.error_type, t.all_calls
        ORDER BY b.bucket, errors DESC
    """
    return _src(source).query(sql, params)


# -- caching ---------------------------------------------------------------------------------

def prompt_cache(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """Provider prompt caching per model: share of calls that hit it, share of input tokens it
    served, and what it saved against paying the uncached input rate for those tokens."""
    where, params = _where(filters)
    sql = f"""
        SELECT model,
               count(*) AS calls,
               avg(CASE WHEN coalesce(cached_input_tokens, 0) > 0 THEN 1.0 ELSE 0.0 END) AS hit_rate,
               sum(input_tokens) AS input_tokens,
               sum(cached_input_tokens) AS cached_input_tokens,
               CAST(sum(coalesce(cached_input_tokens, 0)) AS DOUBLE) / nullif(sum(input_tokens), 0)
                   AS cached_share,
               sum(CASE WHEN price_known THEN coalesce(cached_input_tokens, 0)
                        * (input_per_mtok - cache_read_per_mtok) / 1e6 END) AS savings_usd,
               sum(CASE WHEN price_known THEN coalesce(cache_write_tokens, 0)
                        * (cache_write_per_mtok - input_per_mtok) / 1e6 END) AS write_premium_usd
        FROM llm_calls_priced {where} AND cache_hit IS NOT TRUE
        GROUP BY model ORDER BY savings_usd DESC NULLS LAST
    """
    return _src(source).query(sql, params)


def response_cache(source: Source | None = None, filters: Filters | None = None, by: str = "model") -> pd.DataFrame:
    """tokentrail's own response cache: hits, hit rate, and the cost, tokens and time it saved."""
    dim = _dims(by)[0]
    where, params = _where(filters)
    sql = f"""
        SELECT {DIMENSIONS[dim]} AS {dim},
               count(*) AS calls,
               count(CASE WHEN cache_hit THEN 1 END) AS hits,
               avg(CASE WHEN cache_hit THEN 1.0 ELSE 0.0 END) AS hit_rate,
               coalesce(sum(saved_cost_usd), 0) AS saved_cost_usd,
               coalesce(sum(CASE WHEN cache_hit THEN saved_input_tokens END), 0) AS saved_input_tokens,
               coalesce(sum(CASE WHEN cache_hit THEN saved_output_tokens END), 0) AS saved_output_tokens,
               coalesce(sum(CASE WHEN cache_hit THEN saved_ms END), 0) AS saved_ms
        FROM llm_calls {where}
        GROUP BY 1 ORDER BY saved_cost_usd DESC, hits DESC
    """
    return _src(source).query(sql, params)


# -- context ---------------------------------------------------------------------------------

def context_pressure(
    source: Source | None = None, filters: Filters | None = None, threshold: float = 0.8
) -> pd.DataFrame:
    """Per model: calls that used more than `threshold` of the context window, and the share that
    stopped at the output limit (finish_reason 'length'). Utilisation comes from the span, else
    from input_tokens over the catalogue's context window."""
    where, params = _where(filters)
    sql = f"""
        SELECT model,
               count(*) AS calls,
               max(context_window) AS context_window,
               sum(CASE WHEN coalesce(context_utilization,
                                      CAST(input_tokens AS DOUBLE) / nullif(context_window, 0)) > ?
                        THEN 1 ELSE 0 END) AS calls_over_threshold,
               avg(CASE WHEN coalesce(context_utilization,
                                      CAST(input_tokens AS DOUBLE) / nullif(context_window, 0)) > ?
                        THEN 1.0 ELSE 0.0 END) AS share_over_threshold,
               max(coalesce(context_utilization, CAST(input_tokens AS DOUBLE) / nullif(context_window, 0)))
                   AS max_utilization,
               count(CASE WHEN finish_reason = 'length' THEN 1 END) AS length_stops,
               avg(CASE WHEN finish_reason = 'length' THEN 1.0 ELSE 0.0 END) AS length_share
        FROM llm_calls_priced {where}
        GROUP BY model ORDER BY share_over_threshold DESC, calls DESC
    """
    return _src(source).query(sql, [threshold, threshold, *params])


# -- what-if ---------------------------------------------------------------------------------

def usage_totals(source: Source | None = None, filters: Filters | None = None) -> dict:
    """Token totals split the way prices apply (uncached, cache read, cache write, visible output,
    reasoning), with the actual cost."""
    where, params = _where(filters)
    sql = f"""
        SELECT count(*) AS calls,
               coalesce(sum(greatest(coalesce(input_tokens, 0) - coalesce(cached_input_tokens, 0)
                                     - coalesce(cache_write_tokens, 0), 0)), 0) AS uncached_input_tokens,
               coalesce(sum(cached_input_tokens), 0) AS cached_input_tokens,
               coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
               coalesce(sum(greatest(coalesce(output_tokens, 0) - coalesce(reasoning_tokens, 0), 0)), 0)
                   AS visible_output_tokens,
               coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens,
               coalesce(sum(cost_usd), 0) AS actual_cost_usd,
               count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls
        FROM llm_calls {where}
    """
    row = _src(source).query(sql, params).to_dict("records")[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def reprice(usage: dict, rates: Rates) -> float:
    """Cost of a usage_totals() dict at `rates` (USD per 1M tokens, gaps filled the usual way)."""
    r = rates.effective()
    return (
        usage["uncached_input_tokens"] * (r.input or 0)
        + usage["cached_input_tokens"] * (r.cache_read or 0)
        + usage["cache_write_tokens"] * (r.cache_write or 0)
        + usage["visible_output_tokens"] * (r.output or 0)
        + usage["reasoning_tokens"] * (r.reasoning or 0)
    ) / 1e6


def what_if(
    source: Source | None = None,
    filters: Filters | None = None,
    *,
    models: Sequence[str] = (),
    rates: dict[str, Rates] | None = None,
    at: datetime | None = None,
) -> pd.DataFrame:
    """Re-price the actual usage of `filters` under other models (their catalogue/override price at
    `at`, default now) or explicit `rates` ({label: Rates}). One row per scenario plus "actual".

    Size-tiered prices use the base tier: the re-pricing works from token totals, not per call.
    """
    import pandas as pd
    from tokentrail.analytics.overrides import load_overrides
    from tokentrail.analytics.prices import price_at

    src = _src(source)
    usage = usage_totals(src, filters)
    when = at or utc_now()
    overrides = src.overrides if src.overrides is not None else load_overrides()
    rows = [{"scenario": "actual", "model": None, "cost_usd": usage["actual_cost_usd"], "price_known": True}]
    for model in models:
        p = price_at(model, when, overrides=overrides)
        rows.append({"scenario": model, "model": model, "cost_usd": reprice(usage, p.rates) if p else None,
                     "price_known": p is not None})
    for label, r in (rates or {}).items():
        rows.append({"scenario": label, "model": None, "cost_usd": reprice(usage, r), "price_known": True})
    df = pd.DataFrame(rows)
    actual = usage["actual_cost_usd"]
    df["delta_usd"] = df["cost_usd"] - actual
    df["ratio"] = df["cost_usd"] / actual if actual else None
    df["calls"] = usage["calls"]
    df["unpriced_calls_in_actual"] = usage["unpriced_calls"]
    return df


# -- forecast and overview -------------------------------------------------------------------

def daily_spend(source: Source | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """Spend per UTC day (days without calls are absent)."""
    where, params = _where(filters)
    sql = f"""
        SELECT CAST(ts AS DATE) AS day, count(*) AS calls, coalesce(sum(cost_usd), 0) AS cost_usd,
               count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls
        FROM llm_calls {where} GROUP BY 1 ORDER BY 1
    """
    return _src(source).query(sql, params)


def month_forecast(
    source: Source | None = None,
    filters: Filters | None = None,
    *,
    month: str | date | None = None,
    as_of: datetime | None = None,
    budget: float | None = None,
):
    """Month-end forecast for `filters` restricted to `month` (default: the month of `as_of`)."""
    from tokentrail.analytics.forecast import linear_forecast, month_bounds

    as_of = as_of or utc_now()
    start, end = month_bounds(month or as_of)
    cut = min(as_of, end)
    f = (filters or Filters()).with_range(start, cut)
    spend = totals(source, f)["cost_usd"]
    return linear_forecast(spend, start, end, cut, budget)


def overview(
    source: Source | None = None, filters: Filters | None = None, *, as_of: datetime | None = None
) -> pd.DataFrame:
    """The headline KPIs for the filter: spend, calls, error rate, p95 latency, cache savings,
    unpriced share, and the month-to-date spend with its month-end forecast."""
    import pandas as pd

    src = _src(source)
    with src.pinned():
        t = totals(src, filters)
        where, params = _where(filters)
        p95 = src.query(
            f"SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95 FROM llm_calls_raw {where}"
            " AND status = 'ok' AND cache_hit IS NOT TRUE",
            params,
        ).iloc[0, 0]
        prompt = prompt_cache(src, filters)["savings_usd"].sum()
        fc = month_forecast(src, filters, as_of=as_of)
    calls = t["calls"] or 0
    return pd.DataFrame([{
        "cost_usd": t["cost_usd"],
        "calls": calls,
        "error_rate": (t["errors"] / calls) if calls else None,
        "p95_ms": p95,
        "cache_savings_usd": float(prompt or 0) + t["response_cache_saved_usd"],
        "unpriced_calls": t["unpriced_calls"],
        "unpriced_share": (t["unpriced_calls"] / calls) if calls else None,
        "mtd_cost_usd": fc.spend,
        "forecast_usd": fc.forecast,
    }])

