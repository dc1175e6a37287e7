"""Prices, costs, SQL views and analyses over the traces.

Public API (import from `tokentrail.analytics`; heavy modules load on first use):

Querying
    query(sql, params=None, *, db=None, collector=None) -> DataFrame
        Read-only SQL over the views below; collector when given (or TOKENTRAIL_COLLECTOR), else the
        DuckDB file (db or TOKENTRAIL_DB). Raises QueryError with DuckDB's message.
    connect(db=None, collector=None, *, overrides=None, token=None) -> Source
        Source.query(sql, params) -> DataFrame; Source.arrow(sql, params) -> pyarrow.Table;
        `with source.pinned():` reuses one file connection for a batch of queries.
    QueryError
    views.install_views(con, overrides=None)
        TEMP `prices`, `llm_calls_priced` (llm_calls + rates), `llm_calls` (the column contract
        incl. cost_usd, input_cost_usd, output_cost_usd, price_known, saved_cost_usd),
        `llm_calls_daily` (day x service x provider x model x feature x user_id), `llm_cost_daily`
        and `pricing_info` (how prices are joined). Reference: docs/schema.md.

Filtering
    Filters(start, end, service, model, feature, user, provider)  # lists or None
        .where(alias="") -> (sql "WHERE ...", params); .with_range(start, end) -> Filters

Analyses: every function is f(source=None, filters=None, ...) -> DataFrame unless noted
    cost_by(source, filters, by="model" | ("day", "model") ..., limit=None)
        dims: model provider service feature user day hour week month service_tier operation
        cols: <dims>, calls, cost_usd, input_cost_usd, output_cost_usd, unpriced_calls, input_tokens, output_tokens
    cost_by_model, cost_by_day
    cost_components(..., by="model"): <by>, uncached_input_usd, cache_read_usd, cache_write_usd,
        output_usd, reasoning_usd, cost_usd
    totals(...) -> dict: calls, cost_usd, errors, unpriced_calls, unpriced_tokens, tokens,
        response_cache_saved_usd, error_cost_usd, retry_wait_ms
    latency_by_model: model, calls, p50_ms, p95_ms, p99_ms, ttft_p50_ms, ttft_p95_ms, output_tokens_per_s
    latency_over_time(..., grain="hour"): bucket, model, + the latency columns
    retry_summary: model, calls, retried_calls, retry_rate, retries, backoff_ms, failed_calls,
        failed_after_retry, failed_cost_usd
    attempt_distribution: attempts, calls, succeeded, failed, backoff_ms
    rate_limit_pressure: model, hour, calls, retried_429, final_429, total_429
    errors_over_time(..., grain="day"): bucket, error_type, errors, all_calls, error_rate
    prompt_cache: model, calls, hit_rate, input_tokens, cached_input_tokens, cached_share,
        savings_usd, write_premium_usd
    response_cache(..., by="model"): <by>, calls, hits, hit_rate, saved_cost_usd, saved_input_tokens,
        saved_output_tokens, saved_ms
    context_pressure(..., threshold=0.8): model, calls, context_window, calls_over_threshold,
        share_over_threshold, max_utilization, length_stops, length_share
    what_if(..., models=[...], rates={label: Rates}, at=None): scenario, model, cost_usd,
        price_known, delta_usd, ratio, calls, unpriced_calls_in_actual
    daily_spend: day, calls, cost_usd, unpriced_calls
    month_forecast(..., month=None, as_of=None, budget=None) -> Forecast (spend, forecast,
        daily_rate, run_out, spend_ratio, forecast_ratio, ...)
    overview(..., as_of=None): one row: cost_usd, calls, error_rate, p95_ms, cache_savings_usd,
        unpriced_calls, unpriced_share, mtd_cost_usd, forecast_usd

Prices and tokens
    price_at(model, at, *, provider=None, service_tier=None, overrides=None) -> PriceAt | None
    load_overrides(path=None) -> Overrides; Rates(input, cache_read, cache_write, output, reasoning)
    count_tokens(messages, model, tools=None) -> int
    estimate_cost(messages, model, max_output_tokens) -> CostEstimate

Budgets and reports: budgets.load_budgets / budgets.check_budgets, report.build_report / render.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "query": "source",
    "connect": "source",
    "Source": "source",
    "QueryError": "source",
    "Filters": "filters",
    "cost_by": "analyses",
    "cost_by_model": "analyses",
    "cost_components": "analyses",
    "cost_by_day": "analyses",
    "totals": "analyses",
    "latency_by_model": "analyses",
    "latency_over_time": "analyses",
    "retry_summary": "analyses",
    "attempt_distribution": "analyses",
    "rate_limit_pressure": "analyses",
    "errors_over_time": "analyses",
    "prompt_cache": "analyses",
    "response_cache": "analyses",
    "context_pressure": "analyses",
    "usage_totals": "analyses",
    "what_if": "analyses",
    "daily_spend": "analyses",
    "month_forecast": "analyses",
    "overview": "analyses",
    "Forecast": "forecast",
    "linear_forecast": "forecast",
    "price_at": "prices",
    "PriceAt": "prices",
    "Rates": "catalogue",
    "load_overrides": "overrides",
    "Overrides": "overrides",
    "PriceConfigError": "overrides",
    "install_views": "views",
    "count_tokens": "tokens",
    "estimate_cost": "tokens",
    "CostEstimate": "tokens",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tokentrail.analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tokentrail.analytics.{module}"), name)
    globals()[name] = value
    return value
