"""Clients of the real openai SDK pointed at a simulator.

`client` talks to one simulator shared by the whole session (building an SDK client costs ~0.1 s, a
server start far less); tests that depend on server state (prompt cache, request log) use the
function-scoped `simulator` fixture and `fresh_client` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from tokentrail.simulator.server import SimulatorHandle, start_in_thread


@pytest.fixture(scope="session")
def shared_simulator() -> Iterator[SimulatorHandle]:
    with start_in_thread(seed=0, latency_scale=0.0) as handle:
        yield handle


@pytest.fixture(scope="session")
def client(shared_simulator: SimulatorHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=shared_simulator.base_url, api_key="sk-test", max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
def fresh_client(simulator: SimulatorHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
async def aclient(shared_simulator: SimulatorHandle) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=shared_simulator.base_url, api_key="sk-test", max_retries=0, timeout=10
    ) as c:
        yield c
