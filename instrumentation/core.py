"""`instrument()` / `uninstrument()`: resolve everything once, then patch the openai SDK."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tokentrail._version import __version__

log = logging.getLogger("tokentrail.instrumentation")

_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_TRUE = {"1", "true", "yes", "on", "span_only", "span_and_event"}


@dataclass
class _Installed:
    patches: Any
    owned_provider: Any | None
    destination: str


_lock = threading.Lock()
_installed: _Installed | None = None


def _capture_from_env() -> bool:
    return os.environ.get(_CAPTURE_ENV, "").strip().lower() in _TRUE


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def instrument(
    *,
    endpoint: str | None = None,
    db: str | os.PathLike[str] | None = None,
    service_name: str | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    capture_content: bool | None = None,
    redact: Callable[[str], str] | None = None,
    protocol: str | None = None,
) -> bool:
    """Trace every openai SDK call from now on. Returns True if this call installed the hooks.

    - `tracer_provider`: use it and install nothing else. Otherwise spans go to OTLP when an
      endpoint is configured (`endpoint`, TOKENTRAIL_ENDPOINT, OTEL_EXPORTER_OTLP_*; `protocol`
      "grpc" or "http/protobuf"), else to the embedded DuckDB store (`db`, TOKENTRAIL_DB).
    - `meter_provider`: where the GenAI histograms go (default: the global meter provider).
    - `capture_content`: record message content (default: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT);
      `redact(text) -> text` is applied to every captured string.
    Idempotent: a second call changes nothing. With OTEL_SDK_DISABLED=true (and no provider
    given) nothing is patched.
    """
    global _installed
    with _lock:
        if _installed is not None:
            log.debug("tokentrail: already instrumented")
            return False
        if tracer_provider is None and _sdk_disabled():
            log.info("tokentrail: OTEL_SDK_DISABLED=true, not instrumenting")
            return False
        try:
            from tokentrail.instrumentation.hooks import resolve_sdk

            sdk = resolve_sdk()
        except ImportError:
            log.warning("tokentrail: the openai package is not installed; nothing to instrument")
            return False

        from opentelemetry import metrics
        from tokentrail.instrumentation import hooks, tokencount
        from tokentrail.instrumentation.calls import Runtime
        from tokentrail.instrumentation.metrics import create_instruments
        from tokentrail.instrumentation.patching import Patches

        owned = None
        destination = "tracer_provider argument"
        if tracer_provider is None:
            from tokentrail.instrumentation.exporting import build_tracer_provider

            try:
                tracer_provider, dest = build_tracer_provider(endpoint=endpoint, db=db, service_name=service_name,
                                                              protocol=protocol)
            except Exception as exc:  # a telemetry misconfiguration must not stop the application
                log.error("tokentrail: not instrumenting, cannot set up span export: %s", exc)
                return False
            owned = tracer_provider
            destination = str(dest)
        tracer = tracer_provider.get_tracer("tokentrail.instrumentation", __version__)
        instruments = create_instruments(meter_provider or metrics.get_meter_provider())
        rt = Runtime(
            tracer=tracer,
            instruments=instruments,
            capture_content=_capture_from_env() if capture_content is None else bool(capture_content),
            redact=redact,
            azure_types=sdk.azure_types,
        )
        patches = Patches()
        try:
            hooks.install(patches, rt, sdk)
        except Exception:
            patches.restore()
            log.warning("tokentrail: could not instrument this openai version", exc_info=True)
            return False
        tokencount.preload()
        _installed = _Installed(patches=patches, owned_provider=owned, destination=destination)
        log.debug("tokentrail: instrumented openai (%d hooks), spans to %s", len(patches), destination)
        return True


def uninstrument() -> bool:
    """Restore every patched SDK function; flush and close a provider tokentrail created."""
    global _installed
    with _lock:
        if _installed is None:
            return False
        installed, _installed = _installed, None
        installed.patches.restore()
    if installed.owned_provider is not None:
        try:
            guard = getattr(installed.owned_provider, "_tokentrail_exit_guard", None)
            if guard is not None:
                guard.closing()
            installed.owned_provider.shutdown()
        except Exception:
            log.debug("tokentrail: provider shutdown failed", exc_info=True)
    return True


def is_instrumented() -> bool:
    return _installed is not None


def destination() -> str | None:
    """Where spans go (for `tokentrail run` and diagnostics)."""
    return _installed.destination if _installed is not None else None
