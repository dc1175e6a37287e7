"""Fixtures for the response-cache tests: a real redis-server, a black-hole TCP server, clients.

redis-server is the Debian package (installed by `.ci/run` and `make system-deps`); it runs on a
free loopback port with persistence off, one per test module, flushed between tests.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator

import openai
import pytest
import tokentrail.cache as cache
from redis_process import RedisServer
from tokentrail.cache import api


@pytest.fixture(scope="module")
def redis_module(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(redis_module: RedisServer) -> Iterator[RedisServer]:
    """The module's redis-server, empty; restarted first if a previous test killed it."""
    if redis_module.proc is None:
        redis_module.start()
    redis_module.client().flushall()
    yield redis_module


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (for tests that kill it)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class BlackHole:
    """Accepts TCP connections and never answers: the slowest Redis there is."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture(autouse=True)
def _cache_reset() -> Iterator[None]:
    """Every test starts and ends with no cache enabled and zeroed counters."""
    cache.disable()
    cache.reset_stats()
    yield
    cache.disable()
    cache.reset_stats()
    assert api._scope.get() is None, "a test leaked a cache scope"


@pytest.fixture
def client(simulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
async def aclient(simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0, timeout=10) as c:
        yield c
