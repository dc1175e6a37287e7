"""`opentelemetry-instrument python app.py` support: tokentrail as an OTel instrumentor.

Registered under the `opentelemetry_instrumentor` entry point group (see pyproject.toml), so the
OpenTelemetry auto-instrumentation loads it next to any others. It uses the TracerProvider and
MeterProvider that auto-instrumentation configured (or was given) and installs nothing itself.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from tokentrail.instrumentation.core import instrument, uninstrument


class TokentrailInstrumentor(BaseInstrumentor):
    """OpenTelemetry instrumentor for the openai SDK (1.x, 2.x, 3.x)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        from opentelemetry import metrics, trace

        instrument(
            tracer_provider=kwargs.get("tracer_provider") or trace.get_tracer_provider(),
            meter_provider=kwargs.get("meter_provider") or metrics.get_meter_provider(),
            capture_content=kwargs.get("capture_content"),
            redact=kwargs.get("redact"),
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        uninstrument()
