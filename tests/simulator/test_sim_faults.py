"""Injected faults surface as the SDK's own exceptions, and the SDK's retries recover from them."""

from __future__ import annotations

import time
import uuid

import httpx
import openai
import pytest
from tokentrail.simulator.server import start_in_thread

MESSAGES = [{"role": "user", "content": "hello"}]

# A connection dropped while a stream is being read: openai 3.x raises its APIConnectionError,
# openai 1.x lets httpx's RemoteProtocolError through (both checked: the suite runs on either).
STREAM_DROP_ERROR = (
    httpx.RemoteProtocolError if openai.__version__.startswith("1.") else openai.APIConnectionError
)


def _fault(kind: str, **extra: str) -> dict[str, str]:
    return {"x-sim-fault": kind, **extra}


@pytest.mark.parametrize(
    ("kind", "exc", "status", "error_type"),
    [
        ("429", openai.RateLimitError, 429, "requests"),
        ("500", openai.InternalServerError, 500, "server_error"),
        ("503", openai.InternalServerError, 503, "server_error"),
    ],
)
def test_status_faults_raise_the_sdk_exception_with_openai_error_body(
    client: openai.OpenAI, kind: str, exc: type[openai.APIStatusError], status: int, error_type: str
) -> None:
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=_fault(kind))
    err = info.value
    assert err.status_code == status
    assert set(err.body) == {"message", "type", "param", "code"}
    assert err.body["type"] == error_type and err.message
    assert err.request_id and err.request_id.startswith("req_")


def test_429_carries_retry_after_and_rate_limit_headers(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.embeddings.create(
            model="text-embedding-3-small",
            input="x",
            extra_headers=_fault("429", **{"x-sim-retry-after": "1.5"}),
        )
    headers = info.value.response.headers
    assert headers["retry-after"] == "1.5" and headers["retry-after-ms"] == "1500"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    for name in ("limit-requests", "limit-tokens", "remaining-tokens", "reset-requests", "reset-tokens"):
        assert f"x-ratelimit-{name}" in headers
    assert info.value.code == "rate_limit_exceeded"


def test_timeout_fault_raises_api_timeout_error(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.4).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers=_fault("timeout", **{"x-sim-timeout": "20"})
        )
    assert 0.35 < time.monotonic() - started < 5


def test_drop_without_stream_raises_connection_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=_fault("drop"))
    assert not isinstance(info.value, openai.APITimeoutError)


def test_drop_mid_stream_raises_after_some_chunks(client: openai.OpenAI) -> None:
    received = []
    with pytest.raises(STREAM_DROP_ERROR):
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=_fault("drop")
        )
        for chunk in stream:
            received.append(chunk)
    assert received, "the drop should come after the stream has started"
    assert all(c.choices[0].finish_reason is None for c in received)


def test_drop_mid_responses_stream(client: openai.OpenAI) -> None:
    received = []
    with pytest.raises(STREAM_DROP_ERROR):
        for event in client.responses.create(
            model="gpt-4o-mini", input="hi", stream=True, extra_headers=_fault("drop")
        ):
            received.append(event.type)
    assert received[0] == "response.created" and "response.completed" not in received


def test_sdk_retry_honours_retry_after(simulator) -> None:
    key = uuid.uuid4().hex
    # Shorter than any backoff the SDK picks by itself (0.375 s and up), so the gaps tell which one it used.
    retry_after = 0.1
    with openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=3) as client:
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers=_fault(
                "429",
                **{"x-sim-fault-count": "2", "x-sim-fault-key": key, "x-sim-retry-after": str(retry_after)},
            ),
        )
        elapsed = time.monotonic() - started
    assert raw.retries_taken == 2
    assert raw.parse().choices[0].message.content
    attempts = [r for r in simulator.requests if r.headers.get("x-sim-fault-key") == key]
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1", "2"]
    gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:], strict=False)]
    assert all(retry_after - 0.01 <= g < 0.35 for g in gaps), gaps
    assert elapsed >= 2 * retry_after


def test_sdk_waits_a_retry_after_longer_than_its_own_backoff(simulator) -> None:
    key = uuid.uuid4().hex
    with openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=1) as client:
        client.embeddings.create(
            model="text-embedding-3-small",
            input="x",
            extra_headers=_fault(
                "429", **{"x-sim-fault-count": "1", "x-sim-fault-key": key, "x-sim-retry-after": "1.2"}
            ),
        )
    first, second = [r for r in simulator.requests if r.headers.get("x-sim-fault-key") == key]
    assert 1.19 <= second.at - first.at < 1.6  # its own first backoff would be 0.375-0.5 s


@pytest.mark.parametrize("kind", ["503", "drop"])
def test_sdk_retries_server_errors_and_drops_until_success(simulator, kind: str) -> None:
    key = uuid.uuid4().hex
    with openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=2) as client:
        raw = client.embeddings.with_raw_response.create(
            model="text-embedding-3-small",
            input="x",
            extra_headers=_fault(kind, **{"x-sim-fault-count": "1", "x-sim-fault-key": key}),
        )
    assert raw.retries_taken == 1
    assert len(raw.parse().data[0].embedding) == 1536


def test_sdk_retries_after_a_timeout(simulator) -> None:
    key = uuid.uuid4().hex
    with openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=1, timeout=0.3) as client:
        raw = client.responses.with_raw_response.create(
            model="gpt-4o-mini",
            input="hi",
            extra_headers=_fault("timeout", **{"x-sim-fault-count": "1", "x-sim-fault-key": key}),
        )
    assert raw.retries_taken == 1 and raw.parse().output_text


def test_fault_count_exhausts_retries(simulator) -> None:
    key = uuid.uuid4().hex
    with (
        openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=1) as client,
        pytest.raises(openai.RateLimitError),
    ):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers=_fault(
                "429", **{"x-sim-fault-count": "5", "x-sim-fault-key": key, "x-sim-retry-after": "0.05"}
            ),
        )
    assert len([r for r in simulator.requests if r.headers.get("x-sim-fault-key") == key]) == 2


def _outcomes(seed: int, n: int = 40) -> list[str]:
    rates = {"429": 0.15, "500": 0.15, "503": 0.1}
    with (
        start_in_thread(seed=seed, fault_rates=rates) as sim,
        openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as client,
    ):
        out = []
        for i in range(n):
            try:
                client.embeddings.create(model="text-embedding-3-small", input=f"text {i}")
                out.append("ok")
            except openai.APIStatusError as exc:
                out.append(str(exc.status_code))
        return out


def test_configured_fault_rates_are_seeded() -> None:
    first, again, other = _outcomes(7), _outcomes(7), _outcomes(8)
    assert first == again
    assert first != other
    assert {"ok", "429", "500", "503"} <= set(first) | set(other)


async def test_async_client_sees_the_same_exception_types(aclient: openai.AsyncOpenAI) -> None:
    expected = {
        "429": openai.RateLimitError,
        "500": openai.InternalServerError,
        "503": openai.InternalServerError,
    }
    for kind, exc in expected.items():
        with pytest.raises(exc):
            await aclient.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers=_fault(kind)
            )
    with pytest.raises(openai.APITimeoutError):
        await aclient.with_options(timeout=0.3).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers=_fault("timeout")
        )
    with pytest.raises(STREAM_DROP_ERROR):
        stream = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=_fault("drop")
        )
        async for _ in stream:
            pass


def test_stop_releases_requests_held_by_a_timeout_fault() -> None:
    import threading

    sim = start_in_thread(timeout_hold_s=60)
    errors: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0, timeout=30) as c:
            try:
                c.chat.completions.create(model="m", messages=MESSAGES, extra_headers=_fault("timeout"))
            except openai.APIError as exc:
                errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 10
    while not sim.requests and time.monotonic() < deadline:  # the request is in and being held
        time.sleep(0.02)
    assert sim.requests
    started = time.monotonic()
    sim.stop()
    worker.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not worker.is_alive()
    assert errors and isinstance(errors[0], openai.APIConnectionError)


def test_unknown_fault_header_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="x-sim-fault"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=_fault("418"))


def test_rate_limit_headers_count_down_within_the_window(simulator) -> None:
    with openai.OpenAI(base_url=simulator.base_url, api_key="k", max_retries=0) as client:
        remaining = [
            int(
                client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x").headers[
                    "x-ratelimit-remaining-requests"
                ]
            )
            for _ in range(3)
        ]
    limit = simulator.config.rate_limit_requests
    assert remaining == [limit - 1, limit - 2, limit - 3]


def test_enforced_rate_limit_answers_429_until_the_window_resets() -> None:
    with start_in_thread(rate_limit_requests=2, rate_limit_window_s=0.6, enforce_rate_limit=True) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as strict:
            for _ in range(2):
                strict.embeddings.create(model="text-embedding-3-small", input="x")
            with pytest.raises(openai.RateLimitError) as info:
                strict.embeddings.create(model="text-embedding-3-small", input="x")
        retry_after = float(info.value.response.headers["retry-after"])
        assert 0 < retry_after <= 0.6
        # The SDK waits out the window (Retry-After) and gets through.
        with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=2) as patient:
            raw = patient.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
        assert raw.retries_taken >= 1
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"
