"""The HTTP layer: a threaded HTTP/1.1 server on loopback that speaks OpenAI's wire format.

stdlib only (no framework to install), one thread per connection, keep-alive, chunked SSE, and
TCP_NODELAY so small stream frames are not held back by Nagle's algorithm.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tokentrail.simulator import tokens
from tokentrail.simulator.app import LoggedRequest, Reply, Simulator
from tokentrail.simulator.config import SimulatorConfig
from tokentrail.simulator.errors import ApiError
from tokentrail.simulator.faults import Fault, error_for
from tokentrail.simulator.replies import StreamReply, dumps

log = logging.getLogger(__name__)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request are routine here (timeouts, drops); log, don't print tracebacks."""
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def close_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive sockets or held by a timeout fault."""
        self.stopping.set()
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tokentrail-simulator"
    sys_version = ""
    server: SimulatorServer
    _rate_headers: dict[str, str] = {}  # replaced per request, never mutated

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # ------------------------------------------------------------------ request handling

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        sim = self.server.simulator
        try:
            sim.record(method, self.path, self.headers)
            raw = self._read_body()
            endpoint = sim.route(method, self.path)
            admission = sim.admit()
            self._rate_headers = admission.headers
            if not admission.admitted:
                raise error_for(Fault("429", admission.retry_after_s, 0.0), admission.headers)
            fault = sim.plan_fault(self.headers)
            if fault is not None and fault.kind in ("429", "500", "503"):
                raise error_for(fault, admission.headers)
            if fault is not None and fault.kind == "timeout":
                self._hold(fault.hold_s)
                return
            ctx = sim.context(method, self.headers, raw)
            reply = endpoint(ctx)
        except ApiError as err:
            self._send_error(err)
            return
        except Exception:
            log.exception("simulator failed on %s %s", method, self.path)
            self._send_error(ApiError(500, "The simulator hit an internal error.", type="server_error"))
            return
        drop = fault is not None and fault.kind == "drop"
        try:
            self._send_reply(reply, started, drop=drop)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                return self._read_chunked()
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self.close_connection = True  # we can't tell where this request ends
            raise ApiError(400, "Malformed request framing (Content-Length or chunk size).") from None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _hold(self, seconds: float) -> None:
        """A timeout fault: accept the request, say nothing, then hang up (or on shutdown)."""
        self.server.stopping.wait(seconds)
        self._hang_up()

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _common_headers(self, started: float) -> dict[str, str]:
        sim = self.server.simulator
        return {
            "x-request-id": sim.new_id("req_", 32),
            "openai-version": "2020-10-01",
            "openai-processing-ms": str(round((time.perf_counter() - started) * 1000)),
            **self._rate_headers,
        }

    def _start_response(self, status: int, headers: dict[str, str]) -> None:
        """Status line and headers, buffered: `_send` puts them on the wire with the first body bytes."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self._headers_buffer.append(b"\r\n")

    def _send(self, data: bytes) -> None:
        """Write `data`, preceded by any buffered headers: one syscall, one TCP segment for small replies."""
        head = b"".join(getattr(self, "_headers_buffer", []))
        self._headers_buffer = []
        self.wfile.write(head + data)

    def _send_error(self, err: ApiError) -> None:
        payload = dumps(err.body())
        headers = {"x-request-id": self.server.simulator.new_id("req_", 32), **err.headers}
        headers.update({"content-type": "application/json", "content-length": str(len(payload))})
        self._start_response(err.status, headers)
        self._send(payload)

    def _wait_until(self, deadline: float) -> bool:
        """Pace the reply against absolute deadlines, so per-frame overheads don't add up to drift.

        False when the server is shutting down.
        """
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return not self.server.stopping.is_set()
        return not self.server.stopping.wait(remaining)

    def _send_reply(self, reply: Reply, started: float, *, drop: bool) -> None:
        if isinstance(reply, StreamReply):
            return self._send_stream(reply, started, drop=drop)
        if not self._wait_until(started + reply.delay_s):
            return self._hang_up()
        payload = dumps(reply.body)
        headers = self._common_headers(started)
        headers.update({"content-type": "application/json", "content-length": str(len(payload))})
        self._start_response(reply.status, headers)
        if drop:  # promise the whole body, deliver half, hang up
            self._send(payload[: len(payload) // 2])
            return self._hang_up()
        self._send(payload)
        return None

    def _send_stream(self, reply: StreamReply, started: float, *, drop: bool) -> None:
        frames = reply.frames
        deadline = started + (frames[0].delay_s if frames else 0.0)
        if not self._wait_until(deadline):
            return self._hang_up()
        headers = self._common_headers(started)
        headers.update(
            {
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "transfer-encoding": "chunked",
            }
        )
        self._start_response(200, headers)
        # Frames due at the same moment travel as one HTTP chunk in one write: the same SSE bytes,
        # far fewer syscalls for us and far less chunk parsing for the client.
        cut = max(1, len(frames) // 2) if drop else len(frames)
        pending = bytearray()
        for i, frame in enumerate(frames[:cut]):
            if i > 0 and frame.delay_s > 0:
                self._send(_chunk(pending) if pending else b"")
                pending.clear()
                deadline += frame.delay_s
                if not self._wait_until(deadline):
                    return self._hang_up()
            pending += frame.data
        if drop:
            # (an empty chunk would be the terminator: a clean end, not a drop)
            self._send(_chunk(pending) if pending else b"")
            return self._hang_up()
        self._send((_chunk(pending) if pending else b"") + b"0\r\n\r\n")
        return None


def _chunk(data: bytes | bytearray) -> bytes:
    """One HTTP/1.1 chunk of a chunked body."""
    return b"%x\r\n" % len(data) + bytes(data) + b"\r\n"


class SimulatorHandle:
    """A running simulator: `.base_url` for `openai.OpenAI(base_url=...)`, `.stop()` when done."""

    def __init__(self, server: SimulatorServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host, self.port = server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.base_url = f"{self.url}/v1"

    @property
    def simulator(self) -> Simulator:
        return self._server.simulator

    @property
    def requests(self) -> list[LoggedRequest]:
        """Requests received so far (method, path, retry-count header, arrival time)."""
        return list(self._server.simulator.requests)

    @property
    def config(self) -> SimulatorConfig:
        return self._server.simulator.config

    def stop(self) -> None:
        if self._server.stopping.is_set():
            return
        self._server.close_connections()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0) -> SimulatorServer:
    tokens.warm_up_in_background()
    return SimulatorServer((host, port), Simulator(config))


def start_in_thread(
    *, seed: int = 0, latency_scale: float = 0.0, host: str = "127.0.0.1", port: int = 0, **config: Any
) -> SimulatorHandle:
    """Start a simulator on a background thread (port 0 = a free ephemeral port)."""
    server = make_server(SimulatorConfig(seed=seed, latency_scale=latency_scale, **config), host, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},  # how quickly stop() returns
        name=f"tokentrail-simulator:{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return SimulatorHandle(server, thread)
