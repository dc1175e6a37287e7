"""OTLP/gRPC TraceService on grpcio, sharing the HTTP receiver's decode and write path.

The handler takes the request as raw bytes (no generated-class parse) and feeds the same wire
decoder. Metrics and logs services are not registered, so clients get UNIMPLEMENTED, the gRPC
spelling of "signal not supported". Backpressure is RESOURCE_EXHAUSTED with a RetryInfo trailer,
which the OTLP spec marks retryable and the Python exporter honours as its backoff.
"""

from __future__ import annotations

import hmac
import logging
from concurrent import futures
from typing import TYPE_CHECKING

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from tokentrail.collector.decode import DecodeError
from tokentrail.collector.ingest import Overloaded, ShuttingDown

if TYPE_CHECKING:
    from tokentrail.collector.server import Collector

log = logging.getLogger("tokentrail.collector")
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _TraceService(grpc.GenericRpcHandler):
    def __init__(self, app: Collector) -> None:
        self.app = app
        handler = grpc.unary_unary_rpc_method_handler(self._export)  # bytes in, bytes out
        self._handlers = {f"/{SERVICE}/Export": handler}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)

    def _export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        app = self.app
        if app.token:
            metadata = dict(context.invocation_metadata())
            given = str(metadata.get("authorization", ""))
            if not hmac.compare_digest(given.encode(), f"Bearer {app.token}".encode()):
                app.counters.unauthorized += 1
                app.counters.request("grpc", "UNAUTHENTICATED")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            result = app.ingest(request)
        except DecodeError as exc:
            app.counters.request("grpc", "INVALID_ARGUMENT")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except (Overloaded, ShuttingDown) as exc:
            app.counters.overloaded += 1
            app.counters.request("grpc", "RESOURCE_EXHAUSTED")
            info = RetryInfo(retry_delay=Duration(seconds=app.retry_after_s))
            context.set_trailing_metadata((("google.rpc.retryinfo-bin", info.SerializeToString()),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except Exception as exc:
            log.exception("ingest failed")
            app.counters.request("grpc", "UNAVAILABLE")
            context.abort(grpc.StatusCode.UNAVAILABLE, f"write failed: {exc}")
        response = ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = "; ".join(result.errors)
        app.counters.request("grpc", "OK")
        return response.SerializeToString()


def start_grpc(app: Collector, host: str, port: int) -> tuple[grpc.Server, int]:
    """Start the server; return it and the bound port (useful when `port` is 0)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="tokentrail-grpc"),
        handlers=[_TraceService(app)],
        options=[
            ("grpc.max_receive_message_length", app.max_body_bytes),
            ("grpc.max_send_message_length", 1 << 20),
        ],
        maximum_concurrent_rpcs=64,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    server.start()
    return server, bound
