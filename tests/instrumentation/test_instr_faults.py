"""Faults and the SDK's own retries, seen through the span: one event per failed attempt with the
status, error type and the backoff the SDK really slept; final errors reach the caller unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import openai
import pytest
from instr_helpers import API_KEY, chat_prompt_tokens
from opentelemetry.trace import StatusCode

import tokentrail

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Retry me."}]


def fault(kind: str, count: int | None = None, **extra: str) -> dict[str, str]:
    headers = {"x-sim-fault": kind, "x-sim-fault-key": uuid.uuid4().hex, **extra}
    if count is not None:
        headers["x-sim-fault-count"] = str(count)
    return headers


def retry_events(span: Any) -> list[dict[str, Any]]:
    return [dict(e.attributes) for e in span.events if e.name == "tokentrail.retry"]


def check_retry_totals(attrs: dict[str, Any], events: list[dict[str, Any]]) -> None:
    assert attrs["tokentrail.retry.count"] == len(events)
    assert attrs["tokentrail.retry.wait_ms"] == pytest.approx(sum(e["tokentrail.retry.backoff_ms"] for e in events))
    assert [e["tokentrail.retry.attempt"] for e in events] == list(range(1, len(events) + 1))


def test_429_retried_then_ok(traced, client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                       extra_headers=fault("429", 1, **{"x-sim-retry-after": "0.3"}))
    span = traced.one()
    attrs = dict(span.attributes)
    events = retry_events(span)
    assert span.status.status_code is StatusCode.UNSET
    assert len(events) == 1
    event = events[0]
    assert event["http.response.status_code"] == 429
    assert event["error.type"] == "RateLimitError"
    assert 300 <= event["tokentrail.retry.backoff_ms"] < 1500  # the SDK honoured Retry-After: 0.3 s
    check_retry_totals(attrs, events)
    assert attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.response.id"] == r.id
    assert attrs["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens


async def test_5xx_retried_twice_async(traced, aclient):
    r = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=fault("503", 2))
    span = traced.one()
    events = retry_events(span)
    assert [(e["http.response.status_code"], e["error.type"]) for e in events] == [
        (503, "InternalServerError"), (503, "InternalServerError")]
    assert all(e["tokentrail.retry.backoff_ms"] > 0 for e in events)
    check_retry_totals(dict(span.attributes), events)
    assert span.attributes["gen_ai.response.id"] == r.id


def test_timeout_retried_then_ok(traced, simulator):
    with openai.OpenAI(base_url=simulator.base_url, api_key=API_KEY, timeout=0.5, max_retries=1) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                       extra_headers=fault("timeout", 1, **{"x-sim-timeout": "3"}))
    span = traced.one()
    events = retry_events(span)
    assert len(events) == 1
    assert "http.response.status_code" not in events[0]
    assert events[0]["error.type"] == "APITimeoutError"
    check_retry_totals(dict(span.attributes), events)
    assert span.status.status_code is StatusCode.UNSET


async def test_dropped_connection_retried_async(traced, aclient):
    await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=fault("drop", 1))
    span = traced.one()
    events = retry_events(span)
    assert len(events) == 1
    assert "http.response.status_code" not in events[0]
    assert events[0]["error.type"] == "APIConnectionError"
    check_retry_totals(dict(span.attributes), events)


def _uninstrumented_error(client: openai.OpenAI, headers: dict[str, str]) -> BaseException:
    tokentrail.uninstrument()
    try:
        client.with_options(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                                   extra_headers=headers)
    except openai.APIError as exc:
        return exc
    raise AssertionError("expected an error")


def test_final_error_reaches_caller_unchanged(traced, client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=fault("500", 5))
    span = traced.one()
    attrs = dict(span.attributes)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs["error.type"] == "InternalServerError"
    assert attrs["http.response.status_code"] == 500
    events = retry_events(span)
    assert len(events) == 2  # max_retries=2: two retried attempts, the third one raised
    check_retry_totals(attrs, events)
    exceptions = [e for e in span.events if e.name == "exception"]
    assert exceptions[0].attributes["exception.type"] == "openai.InternalServerError"
    # tokens of a failed call are counted, and say so
    assert attrs["tokentrail.usage.source"] == "tiktoken"
    assert attrs["gen_ai.usage.input_tokens"] == chat_prompt_tokens(MESSAGES)
    assert attrs["gen_ai.usage.output_tokens"] == 0
    plain = _uninstrumented_error(client, fault("500"))
    assert type(info.value) is type(plain)
    assert str(info.value) == str(plain)
    assert info.value.status_code == plain.status_code


async def test_rate_limited_without_retries_async(traced, aclient):
    with pytest.raises(openai.RateLimitError):
        await aclient.with_options(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                                          extra_headers=fault("429"))
    span = traced.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["http.response.status_code"] == 429
    assert span.attributes["tokentrail.retry.count"] == 0


def test_stream_interrupted_mid_way(traced, client):
    stream = client.with_options(max_retries=0).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_headers=fault("drop"))
    received = []
    # openai 3.x wraps the transport error in APIConnectionError; 1.x lets httpx's error through
    with pytest.raises(Exception) as info:  # noqa: B017 - the type depends on the SDK version
        for chunk in stream:
            received.append(chunk)
    assert type(info.value).__name__ in ("APIConnectionError", "RemoteProtocolError")
    assert received  # half the stream arrived before the hang-up
    span = traced.one()
    attrs = dict(span.attributes)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs["error.type"] == type(info.value).__qualname__
    assert attrs["gen_ai.response.id"] == received[0].id
    assert attrs["tokentrail.usage.source"] == "tiktoken"
    assert attrs["gen_ai.usage.input_tokens"] == chat_prompt_tokens(MESSAGES)
    assert attrs["gen_ai.usage.output_tokens"] > 0


def test_api_key_never_recorded(traced, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers=fault("429", 1))
    with pytest.raises(openai.APIStatusError):
        client.with_options(max_retries=0).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                                   extra_headers=fault("500"))
    for span in traced.spans():
        blob = repr(dict(span.attributes)) + repr([(e.name, dict(e.attributes)) for e in span.events])
        blob += repr(span.status.description) + repr(dict(span.resource.attributes))
        assert API_KEY not in blob
        assert "Bearer" not in blob
        assert "authorization" not in blob.lower()
