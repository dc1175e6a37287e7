"""Where spans go when `instrument()` is not handed a TracerProvider.

Order of precedence: an OTLP endpoint (the `endpoint=` argument, `TOKENTRAIL_ENDPOINT`, or the
standard `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`) exports OTLP — HTTP/protobuf unless gRPC is
asked for (`protocol=` or `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=grpc`); with nothing
configured, spans go to the embedded DuckDB store (`db=`, `TOKENTRAIL_DB`,
./tokentrail.duckdb). Either way a BatchSpanProcessor with a bounded queue (OTEL_BSP_* env,
2048 spans by default) sits in front, so a dead exporter drops spans instead of growing
memory or blocking the app, and the provider is flushed at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from tokentrail.config import settings

DEFAULT_TIMEOUT_S = 3


class ExitGuard(SpanExporter):
    """Keeps interpreter exit quick when the destination is down.

    At exit the batch processor drains its queue through the exporter; against a dead collector
    every batch would wait out the export timeout and its retries. Once exit has begun
    (`closing()`), a batch following a failed export is dropped at once instead. A healthy
    destination is drained as usual, so nothing deliverable is lost.
    """

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self._closing = threading.Event()
        self._last_failed = False

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._last_failed and self._closing.is_set():
            return SpanExportResult.FAILURE
        result = self.inner.export(spans)
        self._last_failed = result is not SpanExportResult.SUCCESS
        return result

    def closing(self) -> None:
        self._closing.set()

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass(frozen=True)
class Destination:
    kind: str  # "otlp-http" | "otlp-grpc" | "embedded"
    target: str  # endpoint URL (or "<from OTEL_* env>") or database path

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resource(service_name: str | None) -> Resource:
    """OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME apply; an explicit name wins; else the script name."""
    attrs = {SERVICE_NAME: service_name} if service_name else {}
    res = Resource.create(attrs)
    if str(res.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
        res = res.merge(Resource({SERVICE_NAME: script or "python"}))
    return res


def choose(endpoint: str | None, db: str | os.PathLike[str] | None, protocol: str | None) -> Destination:
    proto = (protocol or _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
             or "http/protobuf").lower()
    kind = "otlp-grpc" if proto == "grpc" else "otlp-http"
    explicit = endpoint or settings().endpoint
    if explicit:
        return Destination(kind, explicit)
    if _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        return Destination(kind, "<from OTEL_EXPORTER_OTLP_* env>")
    path = Path(db).expanduser() if db else settings().db_path
    return Destination("embedded", str(path))


def make_exporter(dest: Destination) -> SpanExporter:
    if dest.kind == "embedded":
        from tokentrail.instrumentation.embedded import EmbeddedSpanExporter

        return EmbeddedSpanExporter(dest.target)
    from_env = dest.target.startswith("<")
    kwargs: dict[str, object] = {}
    if not _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        kwargs["timeout"] = DEFAULT_TIMEOUT_S
    if not from_env:
        token = settings().token
        if token:  # our own collector's auth; never sent to endpoints configured for someone else
            kwargs["headers"] = {"authorization": f"Bearer {token}"}
    if dest.kind == "otlp-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        if not from_env:
            target = dest.target
            kwargs["endpoint"] = target.split("://", 1)[-1]
            kwargs["insecure"] = not target.startswith("https://")
        if "headers" in kwargs:
            kwargs["headers"] = tuple(kwargs["headers"].items())  # type: ignore[attr-defined]
        return GrpcExporter(**kwargs)  # type: ignore[arg-type]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if not from_env:
        target = dest.target.rstrip("/")
        kwargs["endpoint"] = target if target.endswith("/v1/traces") else target + "/v1/traces"
    return HttpExporter(**kwargs)  # type: ignore[arg-type]


def build_tracer_provider(*, endpoint: str | None, db: str | os.PathLike[str] | None, service_name: str | None,
                          protocol: str | None) -> tuple[TracerProvider, Destination]:
    """A private TracerProvider (the global one is left alone) exporting to the chosen destination."""
    dest = choose(endpoint, db, protocol)
    # The exporter first: the embedded one imports DuckDB, whose own exit hook must be registered
    # before the provider's (exit hooks run last-in first-out), or the final flush at interpreter
    # exit finds DuckDB already shut down.
    exporter = ExitGuard(make_exporter(dest))
    provider = TracerProvider(resource=resource(service_name))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    # registered after the provider's own exit hook, so it runs first (last in, first out)
    atexit.register(exporter.closing)
    provider._tokentrail_exit_guard = exporter  # type: ignore[attr-defined]  # for uninstrument()
    return provider, dest
