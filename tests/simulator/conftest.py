"""Clients of the real openai SDK pointed at the per-test simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest


@pytest.fixture
def client(simulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=0, timeout=10) as c:
        yield c


@pytest.fixture
async def aclient(simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=simulator.base_url, api_key="sk-test", max_retries=0, timeout=10
    ) as c:
        yield c
