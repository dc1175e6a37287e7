"""One-line OpenTelemetry instrumentation of the openai SDK.

`tokentrail.instrument()` patches the SDK so every chat, responses, embeddings and completions
call becomes one GenAI span (retries as events, streams timed to their end), exported to OTLP
or to the embedded DuckDB store. `tokentrail.tags(...)` labels the calls made inside it.
"""

from tokentrail.instrumentation.core import instrument, is_instrumented, uninstrument
from tokentrail.instrumentation.tags import current_tags, tags

__all__ = ["instrument", "uninstrument", "is_instrumented", "tags", "current_tags"]
