"""One-line OpenTelemetry instrumentation of the openai SDK."""
