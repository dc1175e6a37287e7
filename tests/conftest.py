"""Root fixtures shared by every area's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_SHARED_VOCAB = Path(__file__).resolve().parents[1].parent / "shared" / "tiktoken"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_VOCAB.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_VOCAB)


@pytest.fixture
def simulator() -> Iterator:
    """A fresh OpenAI-compatible simulator on a free loopback port (seed 0, no latency)."""
    from tokentrail.simulator.server import start_in_thread

    with start_in_thread(seed=0, latency_scale=0.0) as handle:
        yield handle
