"""The latency model: time to first token, then a steady per-token pace, scaled per server or request."""

from __future__ import annotations

import time

import openai
from tokentrail.simulator.server import start_in_thread

MESSAGES = [{"role": "user", "content": "Count."}]


def test_stream_pacing_follows_ttft_and_per_token_delay() -> None:
    with (
        start_in_thread(
            latency_scale=1.0,
            ttft_ms=150,
            per_token_ms=8,
            per_prompt_token_ms=0,
            jitter=0,
            reply_tokens=(20, 20),
        ) as sim,
        openai.OpenAI(base_url=sim.base_url, api_key="k") as client,
    ):
        _warm_up(client)
        started = time.monotonic()
        arrivals = []
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 20
    # Token k is due at ttft + k * per_token after the request (never earlier; a little later under load).
    for k, at in enumerate(arrivals):
        assert at >= 0.150 + k * 0.008, (k, at)
    assert arrivals[0] < 0.150 + 1.0  # generous: a loaded machine delays, it never hurries
    assert arrivals[-1] < 0.150 + 19 * 0.008 + 1.0


def test_non_stream_waits_for_the_whole_generation_and_header_scales_it() -> None:
    with (
        start_in_thread(
            latency_scale=1.0,
            ttft_ms=100,
            per_token_ms=10,
            per_prompt_token_ms=0,
            jitter=0,
            reply_tokens=(20, 20),
        ) as sim,
        openai.OpenAI(base_url=sim.base_url, api_key="k") as client,
    ):
        _warm_up(client)
        started = time.monotonic()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        full = time.monotonic() - started
        started = time.monotonic()
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-latency-scale": "0"}
        )
        instant = time.monotonic() - started
    assert 0.1 + 20 * 0.01 <= full < 0.3 + 1.0
    assert instant < 0.2


def test_reasoning_tokens_delay_the_first_token() -> None:
    with (
        start_in_thread(latency_scale=1.0, ttft_ms=0, per_token_ms=1, per_prompt_token_ms=0, jitter=0) as sim,
        openai.OpenAI(base_url=sim.base_url, api_key="k") as client,
    ):
        _warm_up(client)
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="o3", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        first = None
        usage = None
        for chunk in stream:
            if first is None:
                first = time.monotonic() - started
            usage = chunk.usage or usage
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert reasoning >= 128
    assert first >= reasoning * 0.001


def _warm_up(client: openai.OpenAI) -> None:
    """Connect and load the vocabulary first, so what we time is the latency model only."""
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-latency-scale": "0"}
    )
