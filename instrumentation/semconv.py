"""Attribute, event and metric names emitted by the instrumentation.

Kept in one place because they are a contract with the collector (which maps them into
`llm_calls_raw`) and with every other OpenTelemetry backend that reads GenAI spans.
"""

from __future__ import annotations

# GenAI semantic conventions (latest experimental names)
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
REQUEST_STREAM = "gen_ai.request.stream"
OUTPUT_TYPE = "gen_ai.output.type"
EMBEDDINGS_DIMENSIONS = "gen_ai.embeddings.dimension.count"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TTFC = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
ERROR_TYPE = "error.type"
HTTP_STATUS = "http.response.status_code"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
OPENAI_API_TYPE = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"

# tokentrail extras
RETRY_COUNT = "tokentrail.retry.count"
RETRY_WAIT_MS = "tokentrail.retry.wait_ms"
RETRY_EVENT = "tokentrail.retry"
RETRY_ATTEMPT = "tokentrail.retry.attempt"
RETRY_BACKOFF_MS = "tokentrail.retry.backoff_ms"
USAGE_SOURCE = "tokentrail.usage.source"
USAGE_ENCODING = "tokentrail.usage.encoding"
CONTEXT_UTILIZATION = "tokentrail.context.utilization"
CACHE_HIT = "tokentrail.cache.hit"
CACHE_SAVED_INPUT = "tokentrail.cache.saved.input_tokens"
CACHE_SAVED_OUTPUT = "tokentrail.cache.saved.output_tokens"
CACHE_SAVED_MS = "tokentrail.cache.saved.duration_ms"
STREAM_END = "tokentrail.stream.end"  # completed | closed | abandoned | error

# tags
USER_ID = "user.id"
SESSION_ID = "session.id"
FEATURE = "tokentrail.feature"
TAG_PREFIX = "tokentrail.tag."

# usage sources
SOURCE_API = "api"
SOURCE_TIKTOKEN = "tiktoken"
SOURCE_NONE = "none"

# response-cache contract (see tokentrail.cache): a replayed httpx response carries this key in its
# `extensions`, valued with the original call's duration in ms (users see x-tokentrail-cache headers)
CACHE_EXTENSION = "tokentrail.cache_original_ms"

# metrics
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_DURATION = "gen_ai.client.operation.duration"
METRIC_TTFC = "gen_ai.client.operation.time_to_first_chunk"
