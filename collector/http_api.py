"""OTLP/HTTP receiver plus the collector's own endpoints, on the standard library's HTTP server.

Why a thread-per-connection stdlib server: at 512 spans per request the collector handles ~100
requests/s, so per-request HTTP overhead is negligible next to decoding and the DuckDB write; what
matters is that request threads block on the commit without holding the GIL, which threads do.

Responses follow the OTLP/HTTP spec: protobuf or JSON bodies matching the request's encoding,
`google.rpc.Status` on errors, 503 + Retry-After on backpressure (503 rather than 429: every
version of the Python OTLP exporter retries 503, older ones do not retry 429).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from tokentrail.collector.decode import DecodeError
from tokentrail.collector.ingest import Overloaded, ShuttingDown
from tokentrail.collector.query import (
    ARROW_STREAM,
    QueryError,
    parse_request,
    run_query,
    to_arrow_stream,
    to_json,
)

if TYPE_CHECKING:
    from tokentrail.collector.server import Collector

log = logging.getLogger("tokentrail.collector")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_UNSUPPORTED_SIGNALS = ("/v1/metrics", "/v1/logs")


class BodyTooLarge(Exception):
    pass


class BadBody(Exception):
    pass


def decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """Inflate gzip/deflate incrementally, refusing output past `limit` (no gzip bombs)."""
    if encoding in ("", "identity"):
        if len(data) > limit:
            raise BodyTooLarge()
        return data
    wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15}.get(encoding)
    if wbits is None:
        raise ValueError(encoding)
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyTooLarge()
        out += inflater.flush()
    except zlib.error as exc:
        raise BadBody(f"invalid {encoding} body: {exc}") from None
    if len(out) > limit:
        raise BodyTooLarge()
    if not inflater.eof:
        raise BadBody(f"truncated {encoding} body")
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tokentrail-collector"
    timeout = 60  # seconds a connection may sit idle or stall mid-request before it is closed
    server: CollectorHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    # -- plumbing -------------------------------------------------------------------------
    @property
    def app(self) -> Collector:
        return self.server.app

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _status(self, status: int, message: str, as_json: bool, headers: dict[str, str] | None = None) -> None:
        """An OTLP error response: google.rpc.Status in the request's encoding."""
        rpc = status_pb2.Status(code=_GRPC_CODE.get(status, 2), message=message)
        if as_json:
            body = json.dumps({"code": rpc.code, "message": message}).encode()
            self._send(status, body, JSON, headers)
        else:
            self._send(status, rpc.SerializeToString(), PROTOBUF, headers)

    def _authorized(self) -> bool:
        token = self.app.token
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        self.app.counters.unauthorized += 1
        self._drain_body()
        self._send(401, b'{"error": "missing or wrong bearer token"}', JSON, {"WWW-Authenticate": "Bearer"})
        return False

    def _drain_body(self) -> None:
        """Read a small unread body so the connection can be reused; close on a large one."""
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= 1 << 20:
            self.rfile.read(int(length))
        elif length or self.headers.get("Transfer-Encoding"):
            self.close_connection = True

    def _read_body(self, limit: int) -> bytes:
        """The raw (possibly compressed) body; compressed bodies are capped at the same limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            self.close_connection = True
            raise BadBody("invalid Content-Length")
        n = int(length)
        if n > limit:
            self.close_connection = True
            raise BodyTooLarge()
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            raise BadBody("body shorter than Content-Length")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise BadBody("invalid chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise BodyTooLarge()
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # -- routes ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        if not self._authorized():
            return
        if path == "/healthz":
            body = json.dumps({"status": "ok", "queue_spans": self.app.queue.depth}).encode()
            self._send(200, body, JSON)
        elif path == "/metrics":
            text = self.app.metrics_text()
            self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(404, b'{"error": "not found"}', JSON)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        if not self._authorized():
            return
        if path == "/v1/traces":
            self._traces()
        elif path == "/v1/query":
            self._query()
        elif path in _UNSUPPORTED_SIGNALS:
            self._drain_body()
            as_json = self.headers.get("Content-Type", "").startswith(JSON)
            self._status(404, f"{path[4:]} are not supported by this collector: it stores traces only", as_json)
        else:
            self._drain_body()
            self._send(404, b'{"error": "not found"}', JSON)

    def _traces(self) -> None:
        app = self.app
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        as_json = content_type == JSON
        if content_type not in (PROTOBUF, JSON):
            self._drain_body()
            app.counters.request("http", 415)
            self._status(415, f"unsupported content type {content_type!r}: use {PROTOBUF} or {JSON}", False)
            return
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            self._drain_body()
            app.counters.request("http", 415)
            self._status(415, f"unsupported content encoding {encoding!r}: use gzip or none", as_json)
            return
        if not app.http_slots.acquire(blocking=False):
            self._drain_body()
            app.counters.overloaded += 1
            app.counters.request("http", 503)
            self._status(503, "too many concurrent requests", as_json, {"Retry-After": str(app.retry_after_s)})
            return
        try:
            try:
                raw = self._read_body(app.max_body_bytes)
                data = decompress(raw, encoding, app.max_body_bytes)
                result = app.ingest(data, as_json=as_json)
            except BodyTooLarge:
                app.counters.request("http", 413)
                self.close_connection = True
                self._status(413, f"body larger than {app.max_body_bytes} bytes after decompression", as_json)
                return
            except (BadBody, DecodeError) as exc:
                app.counters.request("http", 400)
                self._status(400, str(exc), as_json)
                return
            except (Overloaded, ShuttingDown) as exc:
                app.counters.overloaded += 1
                app.counters.request("http", 503)
                self._status(503, str(exc), as_json, {"Retry-After": str(app.retry_after_s)})
                return
            except Exception as exc:  # a failed write: nothing acknowledged, the client retries
                log.exception("ingest failed")
                app.counters.request("http", 503)
                self._status(503, f"write failed: {exc}", as_json, {"Retry-After": str(app.retry_after_s)})
                return
        finally:
            app.http_slots.release()
        response = ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = "; ".join(result.errors)
        app.counters.request("http", 200)
        if as_json:
            doc = {}
            if result.rejected:
                doc["partialSuccess"] = {"rejectedSpans": str(result.rejected), "errorMessage": "; ".join(result.errors)}
            self._send(200, json.dumps(doc).encode(), JSON)
        else:
            self._send(200, response.SerializeToString(), PROTOBUF)

    def _query(self) -> None:
        app = self.app
        try:
            body = self._read_body(1 << 20)
            request = parse_request(body)
            table, truncated = run_query(app.con, request, app.query_timeout_s)
        except BodyTooLarge:
            self._send(413, b'{"error": "query body too large"}', JSON)
            return
        except (BadBody, QueryError) as exc:
            self._send(400, json.dumps({"error": str(exc)}).encode(), JSON)
            return
        except Exception as exc:  # never drop the connection without an answer
            log.exception("query failed")
            self._send(500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode(), JSON)
            return
        accept = self.headers.get("Accept", "")
        headers = {"X-Tokentrail-Truncated": "true" if truncated else "false"}
        if JSON in accept and ARROW_STREAM not in accept:
            self._send(200, to_json(table, truncated), JSON, headers)
        else:
            self._send(200, to_arrow_stream(table, truncated), ARROW_STREAM, headers)


_GRPC_CODE = {400: 3, 401: 16, 404: 12, 413: 8, 415: 3, 429: 8, 503: 14}


class CollectorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Collector) -> None:
        self.app = app
        super().__init__(address, Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


def serve_in_thread(server: CollectorHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="tokentrail-http", daemon=True)
    thread.start()
    return thread


__all__ = ["CollectorHTTPServer", "HTTPStatus", "decompress", "serve_in_thread"]
