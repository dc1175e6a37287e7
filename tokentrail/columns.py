"""The column contract of the public `llm_calls` view.

This is the single source for the stored `llm_calls_raw` table (see `tokentrail.schema`), the
cost columns the analytics view adds on top, and the schema reference in docs/. Column names are
public API: users and the dashboards query them, so they only ever get added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    group: str
    doc: str
    stored: bool = True  # False: computed by the analytics view, not stored at ingest


COLUMNS: tuple[Column, ...] = (
    # identity
    Column("ts", "TIMESTAMP", "identity", "Span start time, UTC."),
    Column("trace_id", "VARCHAR", "identity", "Trace id, 32 lowercase hex characters."),
    Column("span_id", "VARCHAR", "identity", "Span id, 16 lowercase hex characters."),
    Column("parent_span_id", "VARCHAR", "identity", "Parent span id, or NULL for a root span."),
    Column("service", "VARCHAR", "identity", "`service.name` of the resource that sent the span."),
    Column("operation", "VARCHAR", "identity", "`gen_ai.operation.name`: chat, text_completion, embeddings, ..."),
    Column("provider", "VARCHAR", "identity", "`gen_ai.provider.name` (or the older `gen_ai.system`), e.g. openai."),
    Column("model", "VARCHAR", "identity", "Requested model, `gen_ai.request.model`."),
    Column("response_model", "VARCHAR", "identity", "Model that answered, `gen_ai.response.model`."),
    Column("server_address", "VARCHAR", "identity", "`server.address` of the API endpoint."),
    # tokens
    Column("input_tokens", "BIGINT", "tokens", "All prompt tokens, cached ones included (OpenAI convention)."),
    Column("output_tokens", "BIGINT", "tokens", "All completion tokens, reasoning tokens included."),
    Column("cached_input_tokens", "BIGINT", "tokens", "Prompt tokens read from the provider's prompt cache (a subset of input_tokens)."),
    Column("cache_write_tokens", "BIGINT", "tokens", "Prompt tokens written to the provider's prompt cache (a subset of input_tokens)."),
    Column("reasoning_tokens", "BIGINT", "tokens", "Reasoning tokens (a subset of output_tokens)."),
    Column("usage_source", "VARCHAR", "tokens", "`api` when the provider reported usage, `tiktoken` when tokentrail counted, `none` when neither could (tokens and cost are then NULL)."),
    # timing
    Column("duration_ms", "DOUBLE", "timing", "Wall time of the logical call, to the end of the stream, retries included."),
    Column("ttft_ms", "DOUBLE", "timing", "Time to the first streamed chunk; NULL for non-streaming calls."),
    Column("stream", "BOOLEAN", "timing", "Whether the request was streamed."),
    # outcome
    Column("status", "VARCHAR", "outcome", "`ok` or `error`."),
    Column("error_type", "VARCHAR", "outcome", "`error.type`: exception class or HTTP status; NULL on success."),
    Column("http_status", "INTEGER", "outcome", "HTTP status of the final attempt, when known."),
    Column("retry_count", "INTEGER", "outcome", "Attempts the SDK retried on its own (0 when the first attempt answered)."),
    Column("retry_wait_ms", "DOUBLE", "outcome", "Total backoff the SDK waited between attempts."),
    Column("finish_reason", "VARCHAR", "outcome", "First finish reason: stop, length, tool_calls, content_filter, ..."),
    # cache and tags
    Column("cache_hit", "BOOLEAN", "cache and tags", "True when tokentrail's response cache answered (no provider call)."),
    Column("saved_input_tokens", "BIGINT", "cache and tags", "On a cache hit: input tokens of the original call that were not spent."),
    Column("saved_output_tokens", "BIGINT", "cache and tags", "On a cache hit: output tokens of the original call that were not spent."),
    Column("saved_ms", "DOUBLE", "cache and tags", "On a cache hit: duration of the original call that was not waited."),
    Column("context_utilization", "DOUBLE", "cache and tags", "input_tokens / the model's context window, where known."),
    Column("user_id", "VARCHAR", "cache and tags", "`user.id` tag."),
    Column("session_id", "VARCHAR", "cache and tags", "`session.id` tag."),
    Column("feature", "VARCHAR", "cache and tags", "`tokentrail.feature` tag."),
    Column("tags", "JSON", "cache and tags", "Free tags (`tokentrail.tag.<key>`) as a JSON object."),
    Column("service_tier", "VARCHAR", "cache and tags", "Service tier requested or reported (default, flex, priority, batch)."),
    # cost (computed at query time by the analytics view)
    Column("cost_usd", "DOUBLE", "cost", "Total cost in USD at the price in force at `ts`; NULL when the model is unpriced or no token counts are known.", stored=False),
    Column("input_cost_usd", "DOUBLE", "cost", "Cost of all input tokens (uncached, cache read, cache write).", stored=False),
    Column("output_cost_usd", "DOUBLE", "cost", "Cost of output tokens, reasoning included.", stored=False),
    Column("price_known", "BOOLEAN", "cost", "False when no price matched: cost columns are then NULL, never 0.", stored=False),
    Column("saved_cost_usd", "DOUBLE", "cost", "On a cache hit: what the call it replaced would have cost, at the rate in force at the hit.", stored=False),
)

STORED_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.stored)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
