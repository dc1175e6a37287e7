"""The public SQL surface: TEMP `prices`, the `llm_calls` view with costs, and daily roll-ups.

Costs are computed when a query runs, from the price rows in force at each call's `ts`. Nothing
priced is stored, so a catalogue update or a new override re-costs all history on the next query
and there is no `prices recompute` step to forget. `install_views` is cheap enough to call per
connection (one DISTINCT over four low-cardinality columns plus a small table), and both the
direct-file reader and the collector's query endpoint call it, so the same SQL works in both.
"""

from __future__ import annotations

import functools
from datetime import time

import duckdb
from tokentrail.analytics.catalogue import DAY_SECONDS, MAX_TOKENS, Segment
from tokentrail.analytics.overrides import Overrides, SelfHosted, load_overrides
from tokentrail.analytics.prices import CallKey, catalogue_for, context_window_for, price_table, resolve

from tokentrail.columns import COLUMNS, STORED_COLUMNS

_PRICES_ARROW = "__tokentrail_prices_arrow"


@functools.lru_cache(maxsize=8192)
def _catalogue_cached(key: CallKey) -> tuple[Segment, ...]:
    return tuple(catalogue_for(key))


# Per database file: (max rowid, that row's (trace_id, span_id), keys) from the last scan. Rows are
# appended, so a later install only scans rowids past the mark. If deletes were compacted the
# row at the mark is a different one (or gone), and we rescan everything. A DISTINCT over four
# string columns costs ~0.3 s at 10M rows, which every query would otherwise pay.
_KEY_CACHE: dict[str, tuple[int, tuple, frozenset[CallKey]]] = {}
_KEY_SQL = "SELECT DISTINCT provider, model, response_model, service_tier FROM llm_calls_raw"


def _distinct_keys(con: duckdb.DuckDBPyConnection) -> list[CallKey]:
    found = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    path = found[0][0] if found else None
    hi = con.execute("SELECT coalesce(max(rowid), -1) FROM llm_calls_raw").fetchall()[0][0]
    cached = _KEY_CACHE.get(path) if path else None
    if cached is not None and hi >= cached[0]:
        mark = tuple(con.execute("SELECT trace_id, span_id FROM llm_calls_raw WHERE rowid = ?",
                                 [cached[0]]).fetchall())
        if mark == cached[1] and hi == cached[0]:
            return sorted(cached[2], key=_key_order)
        if mark == cached[1]:
            rows = con.execute(_KEY_SQL + " WHERE rowid > ?", [cached[0]]).fetchall() if hi > cached[0] else []
            keys = cached[2] | {CallKey(*(v or "" for v in r)) for r in rows}
            _remember(con, path, hi, keys)
            return sorted(keys, key=_key_order)
    keys = frozenset(CallKey(*(v or "" for v in r)) for r in con.execute(_KEY_SQL).fetchall())
    _remember(con, path, hi, keys)
    return sorted(keys, key=_key_order)


def _remember(con: duckdb.DuckDBPyConnection, path: str | None, hi: int, keys: frozenset[CallKey]) -> None:
    if not path:
        return  # in-memory databases have no stable identity
    mark = tuple(con.execute("SELECT trace_id, span_id FROM llm_calls_raw WHERE rowid = ?", [hi]).fetchall())
    _KEY_CACHE[path] = (hi, mark, keys)


def _key_order(k: CallKey) -> tuple[str, str, str, str]:
    return (k.provider, k.model, k.response_model, k.service_tier)


def observed_tokens_per_second(con: duckdb.DuckDBPyConnection, keys: list[CallKey]) -> float | None:
    """Tokens (input + output) per second of busy time, busy time being the union of call intervals.

    Overlapping calls share the GPUs, so summing durations would undercount throughput; the union
    of [ts, ts + duration) is the wall time the deployment was actually working.
    """
    if not keys:
        return None
    pairs = " OR ".join("(coalesce(model, '') = ? AND coalesce(response_model, '') = ?)" for _ in keys)
    params = [v for k in keys for v in (k.model, k.response_model)]
    sql = f"""
        WITH iv AS (
            SELECT epoch_ms(ts) AS s, epoch_ms(ts) + coalesce(duration_ms, 0) AS e,
                   coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS tokens
            FROM llm_calls_raw WHERE ({pairs}) AND status = 'ok'
        ), ordered AS (
            SELECT s, e, max(e) OVER (ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
            FROM iv
        ), islands AS (
            SELECT s, e, sum(CASE WHEN prev_end IS NULL OR s > prev_end THEN 1 ELSE 0 END)
                   OVER (ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS grp
            FROM ordered
        ), busy AS (
            SELECT sum(hi - lo) AS busy_ms FROM (SELECT min(s) AS lo, max(e) AS hi FROM islands GROUP BY grp) g
        )
        SELECT (SELECT sum(tokens) FROM iv) AS tokens, busy_ms FROM busy
    """
    tokens, busy_ms = con.execute(sql, params).fetchall()[0]
    if not tokens or not busy_ms:
        return None
    return float(tokens) / (float(busy_ms) / 1000.0)


def _resolve_all(con: duckdb.DuckDBPyConnection, keys: list[CallKey], overrides: Overrides):
    throughput_cache: dict[SelfHosted, float | None] = {}

    def throughput(hosted: SelfHosted, _key: CallKey) -> float | None:
        if hosted not in throughput_cache:
            mine = [k for k in keys if any(hosted.selector.matches(k.provider, n)
                                           for n in (k.model, k.response_model) if n)]
            throughput_cache[hosted] = observed_tokens_per_second(con, mine)
        return throughput_cache[hosted]

    for key in keys:
        if overrides:
            yield key, resolve(key, overrides, throughput)
        else:
            yield key, list(_catalogue_cached(key))


KEY_FIELDS = ("provider", "model", "response_model", "service_tier")
# Join-key choices, cheapest first. Each string column in the join costs ~20% more time at 10M rows,
# and in most data the price depends on the model (and tier) alone.
_KEY_CHOICES = (
    ("model",),
    ("model", "service_tier"),
    ("model", "response_model"),
    ("model", "response_model", "service_tier"),
    ("provider", "model", "service_tier"),
    KEY_FIELDS,
)


def join_columns(resolved: list[tuple[CallKey, list[Segment]]]) -> tuple[str, ...]:
    """The fewest key columns that still determine every call's price rows exactly."""
    for choice in _KEY_CHOICES:
        seen: dict[tuple[str, ...], tuple] = {}
        for key, segments in resolved:
            sub = tuple(getattr(key, f) for f in choice)
            signature = (tuple(segments), context_window_for(key) if segments else None)
            if seen.setdefault(sub, signature) != signature:
                break
        else:
            return choice
    return KEY_FIELDS


def collapse(resolved: list[tuple[CallKey, list[Segment]]], used: tuple[str, ...]):
    """One entry per distinct value of the join columns; the other key columns become NULL."""
    out: dict[CallKey, list[Segment]] = {}
    for key, segments in resolved:
        short = CallKey(**{f: (getattr(key, f) if f in used else "") for f in KEY_FIELDS})
        out.setdefault(short, segments)
    return out.items()


def _cost_view_sql(has_time_of_day: bool, has_size_tiers: bool, used: tuple[str, ...] = KEY_FIELDS) -> str:
    stored = ", ".join(c.name for c in STORED_COLUMNS)
    # NULL-safe equality: a call without provider/response_model/service_tier still finds its row.
    conditions = [f"p.{f} IS NOT DISTINCT FROM r.{f}" for f in used] + [
        "r.ts >= p.valid_from",
        "r.ts < p.valid_to",
    ]
    if has_time_of_day:
        sod = "(EXTRACT(HOUR FROM r.ts) * 3600 + EXTRACT(MINUTE FROM r.ts) * 60 + EXTRACT(SECOND FROM r.ts))"
        conditions += [f"{sod} >= p.tod_start_s", f"{sod} < p.tod_end_s"]
    if has_size_tiers:
        size = "(coalesce(r.input_tokens, 0) + coalesce(r.saved_input_tokens, 0))"
        conditions += [f"{size} > p.input_above", f"{size} <= p.input_upto"]
    on = "\n           AND ".join(conditions)
    # Tokens are never counted twice: cached and cache-write tokens are carved out of input_tokens,
    # reasoning tokens out of output_tokens, and each part is priced at its own rate. Rates in
    # `prices` are never NULL, so the arithmetic is NULL exactly when no price row matched.
    return f"""
CREATE OR REPLACE TEMP VIEW llm_calls_priced AS
SELECT {stored},
       input_cost_usd + output_cost_usd AS cost_usd,
       input_cost_usd, output_cost_usd, price_known, saved_cost_usd,
       price_source, price_model, context_window,
       input_per_mtok, cache_read_per_mtok, cache_write_per_mtok, output_per_mtok, reasoning_per_mtok
FROM (
    SELECT r.*,
           p.valid_from IS NOT NULL AS price_known,
           -- No token counts at all (usage_source 'none'): the cost is unknown, not $0.
           CASE WHEN r.input_tokens IS NOT NULL OR r.output_tokens IS NOT NULL THEN
           (greatest(coalesce(r.input_tokens, 0) - coalesce(r.cached_input_tokens, 0)
                     - coalesce(r.cache_write_tokens, 0), 0) * p.input_per_mtok
            + coalesce(r.cached_input_tokens, 0) * p.cache_read_per_mtok
            + coalesce(r.cache_write_tokens, 0) * p.cache_write_per_mtok) / 1e6 END AS input_cost_usd,
           CASE WHEN r.input_tokens IS NOT NULL OR r.output_tokens IS NOT NULL THEN
           (greatest(coalesce(r.output_tokens, 0) - coalesce(r.reasoning_tokens, 0), 0) * p.output_per_mtok
            + coalesce(r.reasoning_tokens, 0) * p.reasoning_per_mtok) / 1e6 END AS output_cost_usd,
           CASE WHEN r.cache_hit THEN
               (coalesce(r.saved_input_tokens, 0) * p.input_per_mtok
                + coalesce(r.saved_output_tokens, 0) * p.output_per_mtok) / 1e6
           END AS saved_cost_usd,
           p.price_source, p.price_model, p.context_window,
           p.input_per_mtok, p.cache_read_per_mtok, p.cache_write_per_mtok, p.output_per_mtok,
           p.reasoning_per_mtok
    FROM llm_calls_raw r
    LEFT JOIN prices p
            ON {on}
) priced
"""


LLM_CALLS_VIEW_SQL = f"""
CREATE OR REPLACE TEMP VIEW llm_calls AS
SELECT {", ".join(c.name for c in COLUMNS)} FROM llm_calls_priced
"""


DAILY_VIEW_SQL = """
CREATE OR REPLACE TEMP VIEW llm_calls_daily AS
SELECT CAST(ts AS DATE) AS day, service, provider, model, feature, user_id,
       count(*) AS calls,
       count(CASE WHEN status = 'error' THEN 1 END) AS errors,
       count(CASE WHEN cache_hit THEN 1 END) AS cache_hits,
       CAST(sum(coalesce(retry_count, 0)) AS BIGINT) AS retries,
       CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
       CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
       CAST(sum(cached_input_tokens) AS BIGINT) AS cached_input_tokens,
       CAST(sum(cache_write_tokens) AS BIGINT) AS cache_write_tokens,
       CAST(sum(reasoning_tokens) AS BIGINT) AS reasoning_tokens,
       sum(cost_usd) AS cost_usd,
       sum(input_cost_usd) AS input_cost_usd,
       sum(output_cost_usd) AS output_cost_usd,
       count(CASE WHEN NOT price_known THEN 1 END) AS unpriced_calls,
       sum(saved_cost_usd) AS saved_cost_usd,
       sum(duration_ms) AS duration_ms_sum
FROM llm_calls
GROUP BY 1, 2, 3, 4, 5, 6
"""

DAILY_COST_VIEW_SQL = """
CREATE OR REPLACE TEMP VIEW llm_cost_daily AS
SELECT day, CAST(sum(calls) AS BIGINT) AS calls, CAST(sum(errors) AS BIGINT) AS errors, sum(cost_usd) AS cost_usd,
       CAST(sum(unpriced_calls) AS BIGINT) AS unpriced_calls, sum(saved_cost_usd) AS saved_cost_usd
FROM llm_calls_daily
GROUP BY day
"""

VIEW_NAMES = ("prices", "pricing_info", "llm_calls_priced", "llm_calls", "llm_calls_daily", "llm_cost_daily")


def install_views(con: duckdb.DuckDBPyConnection, overrides: Overrides | None = None) -> None:
    """Create TEMP `prices`, `llm_calls_priced`, `llm_calls`, `llm_calls_daily`, `llm_cost_daily` on `con`.

    `con`'s default catalog must hold `llm_calls_raw`. Overrides default to TOKENTRAIL_PRICES.
    Calling it again refreshes prices for models that arrived since (CREATE OR REPLACE).
    """
    if overrides is None:
        overrides = load_overrides()
    keys = _distinct_keys(con)
    resolved = list(_resolve_all(con, keys, overrides))
    used = join_columns(resolved)
    table = price_table(collapse(resolved, used))
    con.register(_PRICES_ARROW, table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE prices AS SELECT * FROM {_PRICES_ARROW}")
    finally:
        con.unregister(_PRICES_ARROW)
    tod = table.num_rows and any(
        (s, e) != (0, DAY_SECONDS)
        for s, e in zip(table.column("tod_start_s").to_pylist(), table.column("tod_end_s").to_pylist(), strict=False)
    )
    tiers = table.num_rows and any(
        (a, u) != (-1, MAX_TOKENS)
        for a, u in zip(table.column("input_above").to_pylist(), table.column("input_upto").to_pylist(), strict=False)
    )
    con.execute(_cost_view_sql(bool(tod), bool(tiers), used))
    # What the analyses need to price pre-aggregated usage exactly (see analyses.cost_by).
    day_aligned = not tod and not tiers and all(
        v.time() == time(0) for c in ("valid_from", "valid_to") for v in table.column(c).to_pylist()
    )
    con.execute("CREATE OR REPLACE TEMP TABLE pricing_info AS SELECT ? AS join_columns, ? AS day_aligned",
                [",".join(used), day_aligned])
    con.execute(LLM_CALLS_VIEW_SQL)
    con.execute(DAILY_VIEW_SQL)
    con.execute(DAILY_COST_VIEW_SQL)

