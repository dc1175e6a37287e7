"""SpanExporter writing straight into the DuckDB file: tokentrail with zero setup.

The collector owns decode -> normalise -> write; this exporter only encodes the batch as an
OTLP request and hands it to `tokentrail.collector.embedded.write_spans`, which opens the file
for the batch, waits while another process holds the lock, and closes it again. So several
processes can share one file, and the stored rows are exactly what the collector would store.
It runs on the BatchSpanProcessor's worker thread, never on the application's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("tokentrail.instrumentation")


class EmbeddedSpanExporter(SpanExporter):
    def __init__(self, path: str | Path, lock_timeout: float = 30.0) -> None:
        # imported now, not at first export: see exporting.build_tracer_provider
        from tokentrail.collector.embedded import write_spans

        self._write = write_spans
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._warned = False
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown or not spans:
            return SpanExportResult.SUCCESS
        try:
            self._write(self.path, encode_spans(spans), lock_timeout=self.lock_timeout)
        except Exception as exc:
            if not self._warned:
                self._warned = True
                log.warning("tokentrail: could not write %d spans to %s: %s", len(spans), self.path, exc)
            else:
                log.debug("tokentrail: embedded export failed", exc_info=True)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
