"""OTLP receiver that writes LLM traces to DuckDB and serves read-only SQL."""
