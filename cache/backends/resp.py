"""A minimal Redis client for the hot path: GET and SET over plain TCP, pooled, sync and asyncio.

Why not redis-py here: a hit is one GET, and redis-py spends ~100 us of Python per command (pool
bookkeeping, command packing, response parsing). On loopback this client answers a GET in ~35 us
warm versus ~130 us, and about 150 us versus ~400 us right after a couple of milliseconds of other
CPU work, which is the situation of a cache hit inside an SDK call. It speaks just enough
RESP2 for AUTH, SELECT, GET and SET; anything unusual (TLS, unix sockets, URL options) goes to
redis-py instead (see `RedisBackend`). Any socket error or timeout discards that connection.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urlsplit


class RespError(Exception):
    """The server answered with an error reply (e.g. wrong password, wrong type)."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None


def plain_tcp_address(url: str) -> Address | None:
    """The address of a plain `redis://host:port/db` URL, or None when redis-py should handle it."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or parts.query or parts.fragment or not parts.hostname:
        return None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        return None
    return Address(
        host=parts.hostname,
        port=parts.port or 6379,
        db=int(path or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class _Connection:
    def __init__(self, address: Address, timeout_s: float) -> None:
        self.sock = socket.create_connection((address.host, address.port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader: BinaryIO = self.sock.makefile("rb")
        try:
            if address.password is not None:
                auth = (b"AUTH", address.username.encode(), address.password.encode()) if address.username \
                    else (b"AUTH", address.password.encode())
                self.call(_command(*auth))
            if address.db:
                self.call(_command(b"SELECT", str(address.db).encode()))
        except BaseException:
            self.close()
            raise

    def call(self, payload: bytes) -> bytes | None:
        self.sock.sendall(payload)
        return self._reply()

    def _reply(self) -> bytes | None:
        kind, rest = _parse_head(self.reader.readline())
        if kind != b"$":
            return rest
        n = int(rest)
        if n < 0:
            return None
        data = self.reader.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("Redis closed the connection mid-reply")
        return data[:-2]

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class RespClient:
    """Thread-safe: each call borrows a pooled connection; a failed one is closed, never reused."""

    def __init__(self, address: Address, timeout_s: float, max_idle: int = 16) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def _call(self, payload: bytes) -> bytes | None:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = _Connection(self.address, self.timeout_s)
        try:
            reply = conn.call(payload)
        except BaseException:
            conn.close()
            raise
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()
        return reply

    def get(self, key: str) -> bytes | None:
        return self._call(_command(b"GET", key.encode()))

    def set(self, key: str, value: bytes, px: int | None) -> None:
        args = [b"SET", key.encode(), value]
        if px is not None:
            args += [b"PX", str(px).encode()]
        self._call(_command(*args))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __del__(self) -> None:
        # A cache replaced by another enable() is dropped, not closed: release its sockets with it.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _parse_head(line: bytes) -> tuple[bytes, bytes]:
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"-":
        raise RespError(rest.decode(errors="replace"))
    if kind not in (b"$", b"+", b":"):
        raise ConnectionError(f"unexpected Redis reply {line[:20]!r}")
    return kind, rest


class _AsyncConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, address: Address) -> _AsyncConnection:
        reader, writer = await asyncio.open_connection(address.host, address.port)  # TCP_NODELAY by default
        conn = cls(reader, writer)
        try:
            if address.password is not None:
                auth = (b"AUTH", address.username.encode(), address.password.encode()) if address.username \
                    else (b"AUTH", address.password.encode())
                await conn.call(_command(*auth))
            if address.db:
                await conn.call(_command(b"SELECT", str(address.db).encode()))
        except BaseException:
            conn.abort()
            raise
        return conn

    async def call(self, payload: bytes) -> bytes | None:
        self.writer.write(payload)
        kind, rest = _parse_head(await self.reader.readline())
        if kind != b"$":
            return rest
        n = int(rest)
        if n < 0:
            return None
        try:
            data = await self.reader.readexactly(n + 2)
        except asyncio.IncompleteReadError as err:
            raise ConnectionError("Redis closed the connection mid-reply") from err
        return data[:-2]

    def abort(self) -> None:
        self.writer.transport.abort()


class AsyncRespClient:
    """The asyncio twin of RespClient, bound to one event loop (its connections are)."""

    def __init__(self, address: Address, max_idle: int = 16) -> None:
        self.address = address
        self.max_idle = max_idle
        self._idle: list[_AsyncConnection] = []

    async def _call(self, payload: bytes) -> bytes | None:
        conn = self._idle.pop() if self._idle else await _AsyncConnection.open(self.address)
        try:
            reply = await conn.call(payload)
        except BaseException:  # cancellation (the caller's timeout) included: the reply is unread
            conn.abort()
            raise
        if len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            conn.abort()
        return reply

    async def get(self, key: str) -> bytes | None:
        return await self._call(_command(b"GET", key.encode()))

    async def set(self, key: str, value: bytes, px: int | None = None) -> None:
        args = [b"SET", key.encode(), value]
        if px is not None:
            args += [b"PX", str(px).encode()]
        await self._call(_command(*args))

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()
        for conn in idle:
            try:
                await conn.writer.wait_closed()
            except OSError:
                pass
