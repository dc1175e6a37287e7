"""One logical LLM call: its span, what the request asked and what the response said.

A `Call` is created by the `request()` hook when a request to a known GenAI endpoint starts,
collects the final HTTP response, the SDK's retries and the streamed chunks, and ends the
span exactly once. Subclasses know the shape of each endpoint (chat completions, responses,
embeddings, completions). Everything here runs on the caller's thread, so it is written for
speed: attributes are gathered in one dict, set once, and the SDK objects are read by plain
attribute access (pydantic models, dicts only on the rare raw-response paths).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from tokentrail.instrumentation import semconv as sc
from tokentrail.instrumentation import tokencount
from tokentrail.instrumentation.context_windows import context_window
from tokentrail.instrumentation.span_attributes import set_end_attributes
from tokentrail.instrumentation.tags import CURRENT_TAGS

log = logging.getLogger("tokentrail.instrumentation")

_CLIENT = SpanKind.CLIENT
_perf_ns = time.perf_counter_ns
_time_ns = time.time_ns

_STATUS_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+[^\s\"']+)")

_reported = False


def report_internal_error(where: str) -> None:
    """Log an instrumentation bug once with its traceback (later ones at debug level)."""
    global _reported
    if not _reported:
        _reported = True
        log.warning("tokentrail: internal error in %s; the call proceeds untraced from here", where,
                    exc_info=True)
    else:
        log.debug("tokentrail: internal error in %s", where, exc_info=True)


def status_error_type(status: int) -> str:
    """The openai exception class the SDK raises for `status` (used for retried attempts)."""
    name = _STATUS_ERRORS.get(status)
    if name:
        return name
    return "InternalServerError" if status >= 500 else "APIStatusError"


_MISSING = object()


def _field(model: Any, name: str) -> Any:
    """`getattr(model, name, None)` for a field that SDK versions in use don't all declare yet
    (`cache_write_tokens` is in openai 3.x, not in 1.x).

    pydantic keeps declared fields in the instance `__dict__` and undeclared ones the API sent in
    `__pydantic_extra__`; plain getattr of an absent name goes through pydantic's Python-level
    `__getattr__`, which raises and catches an AttributeError: about 25 times dearer than this.
    """
    values = getattr(model, "__dict__", None)
    if values is None:
        return getattr(model, name, None)
    value = values.get(name, _MISSING)
    if value is not _MISSING:
        return value
    extra = getattr(model, "__pydantic_extra__", _MISSING)
    if extra is _MISSING:  # not a pydantic v2 model: let getattr decide
        return getattr(model, name, None)
    return extra.get(name) if extra else None


@dataclass
class Instruments:
    """The three GenAI client histograms."""

    token_usage: Any
    duration: Any
    ttfc: Any


class Endpoint:
    """What is constant for every call of one route on one client: computed once, then shared.

    `attrs` are the span attributes every such call starts with (operation, provider, server,
    API type); `metric_sets` caches the metric attribute dicts per (request model, response
    model, error), so recording a metric builds no dict on the hot path.
    """

    __slots__ = ("attrs", "metric_sets")

    _MAX_METRIC_SETS = 256  # bound for applications that send arbitrary model names

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self.metric_sets: dict[tuple[str, Any, str | None], tuple[dict[str, Any], ...]] = {}

    def metric_attributes(self, model: str, response_model: Any, error: str | None) -> tuple[dict[str, Any], ...]:
        """(common, input tokens, output tokens) attribute dicts; never mutated once made."""
        key = (model, response_model, error)
        sets = self.metric_sets.get(key)
        if sets is None:
            attrs = self.attrs
            common = {sc.OPERATION: attrs[sc.OPERATION], sc.PROVIDER: attrs[sc.PROVIDER], sc.REQUEST_MODEL: model,
                      sc.SERVER_ADDRESS: attrs[sc.SERVER_ADDRESS], sc.SERVER_PORT: attrs[sc.SERVER_PORT]}
            if response_model:
                common[sc.RESPONSE_MODEL] = response_model
            if error:
                common[sc.ERROR_TYPE] = error
            sets = (common, {**common, sc.TOKEN_TYPE: "input"}, {**common, sc.TOKEN_TYPE: "output"})
            if len(self.metric_sets) >= self._MAX_METRIC_SETS:
                self.metric_sets.clear()
            self.metric_sets[key] = sets
        return sets


@dataclass
class Runtime:
    """Everything a call needs, resolved once at instrument() time."""

    tracer: Tracer
    instruments: Instruments | None
    capture_content: bool
    redact: Callable[[str], str] | None
    azure_types: tuple[type, ...]


class Call:
    """Span lifecycle and attribute collection for one logical API call (retries included)."""

    operation = "chat"
    api_type: str | None = None
    per_item = False  # True: the stream observer must hand over each item as it arrives

    # Per-call state starts as these class-level defaults and only what a call touches is written
    # on the instance: fewer stores on the hot path than initialising every field.
    http: Any = None
    retries = 0
    retry_wait_ms = 0.0
    done = False
    first_ns = 0
    last_ns = 0
    parts: list[str] | None = None
    finish: dict[int, str] | None = None
    usage: Any = None
    response_id: str | None = None
    response_model: str | None = None
    service_tier: str | None = None
    final: Any = None
    tool_args: list[str] | None = None

    def __init__(self, rt: Runtime, client: Any, body: Any, stream: bool, endpoint: Endpoint) -> None:
        if type(body) is not dict:
            body = {}
        self.rt = rt
        self.client = client
        self.body = body
        self.endpoint = endpoint
        model = body.get("model")
        if not isinstance(model, str):
            model = str(model) if model is not None else "unknown"
        self.model = model
        attrs = endpoint.attrs.copy()
        attrs[sc.REQUEST_MODEL] = model
        attrs[sc.REQUEST_STREAM] = stream
        self.request_attributes(body, attrs)
        tags = CURRENT_TAGS.get()
        if tags:
            attrs.update(tags)
        if rt.capture_content:
            try:
                self.capture_input(body, attrs)
            except Exception:
                report_internal_error("content capture")
        self.start_ns = start_ns = _time_ns()
        self.t0 = self.last_ns = _perf_ns()
        self.span = rt.tracer.start_span(f"{self.operation} {model}", kind=_CLIENT, attributes=attrs,
                                         start_time=start_ns)

    @classmethod
    def endpoint_attributes(cls, provider: str, host: str, port: int) -> dict[str, Any]:
        """The span attributes shared by every call of this route to one server."""
        attrs = {sc.OPERATION: cls.operation, sc.PROVIDER: provider, sc.SERVER_ADDRESS: host, sc.SERVER_PORT: port}
        if cls.api_type:
            attrs[sc.OPENAI_API_TYPE] = cls.api_type
        return attrs

    # ----- per-endpoint hooks (overridden) -----------------------------------------------------
    def request_attributes(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        """Add `gen_ai.request.*` attributes read from the request body."""

    def response_attributes(self, result: Any, attrs: dict[str, Any]) -> None:
        """Add response attributes and usage from a parsed (non-streamed) result."""

    def on_chunk(self, chunk: Any) -> None:
        """Fold one streamed item into the call's state."""

    def fold(self, items: list[Any], last: bool) -> None:
        """Fold buffered streamed items into the call's state (`last`: the stream's final batch)."""
        on_chunk = self.on_chunk
        for item in items:
            on_chunk(item)

    def stream_attributes(self, attrs: dict[str, Any]) -> None:
        """Add response attributes and usage gathered from the streamed items."""

    def count_input(self, enc: Any) -> int:
        return 0

    def capture_input(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        """Record request content (opt-in only)."""

    def output_text(self) -> str:
        return "".join(self.parts) if self.parts else ""

    # ----- shared helpers ----------------------------------------------------------------------
    def streamed_identity(self, attrs: dict[str, Any]) -> None:
        """Response id, model and finish reasons as gathered from the streamed items."""
        if self.response_id is not None:
            attrs[sc.RESPONSE_ID] = self.response_id
            attrs[sc.RESPONSE_MODEL] = self.response_model
        finish = self.finish
        if finish:
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple([finish[i] for i in sorted(finish)])

    def _redact(self, text: str) -> str:
        redact = self.rt.redact
        return redact(text) if redact is not None else text

    def set_usage(self, attrs: dict[str, Any], inp: int | None, out: int | None, in_details: Any = None,
                  out_details: Any = None) -> None:
        """Usage as the API reported it, with the SDK's token-detail objects when it sent them (cache
        reads and writes in, reasoning out); on a response-cache hit the provider spent nothing."""
        if in_details is not None:
            cached = getattr(in_details, "cached_tokens", None)
            cache_write = _field(in_details, "cache_write_tokens")
        else:
            cached = cache_write = None
        reasoning = getattr(out_details, "reasoning_tokens", None) if out_details is not None else None
        http = self.http
        original_ms = http.extensions.get(sc.CACHE_EXTENSION) if http is not None else None
        if original_ms is not None:
            attrs[sc.CACHE_HIT] = True
            attrs[sc.CACHE_SAVED_INPUT] = inp or 0
            attrs[sc.CACHE_SAVED_OUTPUT] = out or 0
            attrs[sc.CACHE_SAVED_MS] = float(original_ms)
            window = context_window(self.model)
            if window and inp:
                attrs[sc.CONTEXT_UTILIZATION] = inp / window
            attrs[sc.USAGE_INPUT] = 0
            attrs[sc.USAGE_OUTPUT] = 0
            attrs[sc.USAGE_CACHE_READ] = 0
            attrs[sc.USAGE_REASONING] = 0
            if cache_write is not None:
                attrs[sc.USAGE_CACHE_CREATION] = 0
            attrs[sc.USAGE_SOURCE] = sc.SOURCE_API
            return
        attrs[sc.CACHE_HIT] = False
        if inp is not None:
            attrs[sc.USAGE_INPUT] = inp
            window = context_window(self.model)
            if window:
                attrs[sc.CONTEXT_UTILIZATION] = inp / window
        if out is not None:
            attrs[sc.USAGE_OUTPUT] = out
        if cached is not None:
            attrs[sc.USAGE_CACHE_READ] = cached
        if reasoning is not None:
            attrs[sc.USAGE_REASONING] = reasoning
        if cache_write is not None:
            attrs[sc.USAGE_CACHE_CREATION] = cache_write
        attrs[sc.USAGE_SOURCE] = sc.SOURCE_API

    def fallback_usage(self, attrs: dict[str, Any], with_output: bool) -> None:
        """Count tokens with tiktoken when the API gave none; say so on the span."""
        if sc.USAGE_INPUT in attrs:
            return
        name = tokencount.encoding_name(self.model)
        enc = tokencount.get_encoding(name)
        if enc is None:
            attrs[sc.USAGE_SOURCE] = sc.SOURCE_NONE
            return
        inp = self.count_input(enc)
        out = tokencount.count_text(enc, self.output_text()) if with_output else 0
        # set_usage also handles a response-cache hit: counted tokens become saved.*, provider usage 0.
        self.set_usage(attrs, inp, out)
        attrs[sc.USAGE_SOURCE] = sc.SOURCE_TIKTOKEN
        attrs[sc.USAGE_ENCODING] = name

    def add_retry(self, status: int | None, error_type: str, waited_s: float) -> None:
        """One failed attempt the SDK retried on its own, with the backoff it actually slept."""
        self.retries += 1
        backoff_ms = waited_s * 1000.0
        self.retry_wait_ms += backoff_ms
        event = {sc.RETRY_ATTEMPT: self.retries, sc.ERROR_TYPE: error_type, sc.RETRY_BACKOFF_MS: backoff_ms}
        if status is not None:
            event[sc.HTTP_STATUS] = status
        self.span.add_event(sc.RETRY_EVENT, event)

    def _end(self, attrs: dict[str, Any], end_perf_ns: int, error: str | None) -> None:
        """Add what every ending shares (HTTP status, retries, time to first chunk), end the span
        at `end_perf_ns` and record the metrics."""
        http = self.http
        if http is not None and sc.HTTP_STATUS not in attrs:
            attrs[sc.HTTP_STATUS] = http.status_code
        attrs[sc.RETRY_COUNT] = self.retries
        attrs[sc.RETRY_WAIT_MS] = self.retry_wait_ms
        first_ns = self.first_ns
        if first_ns:
            attrs[sc.RESPONSE_TTFC] = (first_ns - self.t0) / 1e9
        span = self.span
        set_end_attributes(span, attrs)
        span.end(end_time=self.start_ns + (end_perf_ns - self.t0))
        ins = self.rt.instruments
        # Skipped while the instruments are proxies of the global API with no MeterProvider
        # installed yet: recording would be thrown away.
        if ins is not None and getattr(ins.duration, "_real_instrument", ins) is not None:
            try:
                self._record_metrics(ins, attrs, end_perf_ns, error)
            except Exception:
                report_internal_error("metrics")

    def _record_metrics(self, ins: Instruments, attrs: dict[str, Any], end_perf_ns: int, error: str | None) -> None:
        common, inp_attrs, out_attrs = self.endpoint.metric_attributes(self.model, attrs.get(sc.RESPONSE_MODEL), error)
        t0 = self.t0
        ins.duration.record((end_perf_ns - t0) / 1e9, common)
        if self.first_ns:
            ins.ttfc.record((self.first_ns - t0) / 1e9, common)
        inp = attrs.get(sc.USAGE_INPUT)
        if inp is not None:
            ins.token_usage.record(inp, inp_attrs)
        out = attrs.get(sc.USAGE_OUTPUT)
        if out is not None and self.operation != "embeddings":
            ins.token_usage.record(out, out_attrs)

    # ----- endings -----------------------------------------------------------------------------
    def finish_response(self, result: Any) -> None:
        """A non-streamed call answered: read the parsed result and end the span."""
        if self.done:
            return
        self.done = True
        end = _perf_ns()
        attrs: dict[str, Any] = {}
        try:
            self.response_attributes(result, attrs)
            if sc.USAGE_INPUT not in attrs:
                self.fallback_usage(attrs, with_output=True)
            if self.rt.capture_content:
                self.capture_output(result, attrs)
        except Exception:
            report_internal_error("response attributes")
        self._end(attrs, end, None)

    def finish_without_body(self) -> None:
        """A raw streaming response was closed without its body being parsed."""
        if self.done:
            return
        self.done = True
        end = _perf_ns()
        attrs: dict[str, Any] = {}
        try:
            self.fallback_usage(attrs, with_output=False)
        except Exception:
            report_internal_error("usage fallback")
        self._end(attrs, end, None)

    def fail(self, exc: BaseException) -> None:
        """The call raised: record the error (scrubbed of secrets), keep what is known."""
        if self.done:
            return
        self.done = True
        end = _perf_ns()
        error_type = type(exc).__qualname__
        attrs: dict[str, Any] = {sc.ERROR_TYPE: error_type}
        try:
            status = getattr(exc, "status_code", None)
            if isinstance(status, int):
                attrs[sc.HTTP_STATUS] = status
            arrived = self.response_id is not None or bool(self.parts) or self.usage is not None
            if arrived:  # interrupted stream: keep what arrived
                self.stream_attributes(attrs)
            self.fallback_usage(attrs, with_output=arrived)
        except Exception:
            report_internal_error("error attributes")
        message = self._scrub(str(exc))
        self.span.add_event("exception", {
            "exception.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "exception.message": message,
        })
        self.span.set_status(Status(StatusCode.ERROR, message))
        self._end(attrs, end, error_type)

    def _scrub(self, text: str) -> str:
        key = getattr(self.client, "api_key", None)
        if isinstance(key, str) and len(key) >= 8:
            text = text.replace(key, "[REDACTED]")
        return _SECRET.sub("[REDACTED]", text)

    def stream_end(self, how: str) -> None:
        """The stream finished (`completed`), was `closed` by the caller, or was `abandoned` (GC)."""
        if self.done:
            return
        self.done = True
        end = self.last_ns if how == "abandoned" else _perf_ns()
        attrs: dict[str, Any] = {sc.STREAM_END: how}
        try:
            self.stream_attributes(attrs)
            if sc.USAGE_INPUT not in attrs:
                self.fallback_usage(attrs, with_output=True)
            if self.rt.capture_content:
                self.capture_stream_output(attrs)
        except Exception:
            report_internal_error("stream attributes")
        self._end(attrs, end, None)

    def capture_output(self, result: Any, attrs: dict[str, Any]) -> None:
        """Record response content (opt-in only)."""

    def capture_stream_output(self, attrs: dict[str, Any]) -> None:
        text = self.output_text()
        attrs[sc.OUTPUT_MESSAGES] = json.dumps([{
            "role": "assistant",
            "parts": [{"type": "text", "content": self._redact(text)}],
            "finish_reason": (self.finish or {}).get(0, ""),
        }])


def _floats(body: dict[str, Any], pairs: tuple[tuple[str, str], ...], attrs: dict[str, Any]) -> None:
    """Numeric request parameters as float attributes, several in one call (one frame, not one each)."""
    for key, attr in pairs:
        value = body.get(key)
        if value is not None and isinstance(value, (int, float)):
            attrs[attr] = float(value)


_TEMPERATURE_TOP_P = (("temperature", sc.REQUEST_TEMPERATURE), ("top_p", sc.REQUEST_TOP_P))
_PENALTIES = (("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY), ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY))


def _stop(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        return [str(v) for v in value]
    return None


def _rarer_sampling_attributes(body: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Penalties, seed, stop sequences and choice count, shared by chat and text completions."""
    _floats(body, _PENALTIES, attrs)
    seed = body.get("seed")
    if isinstance(seed, int):
        attrs[sc.REQUEST_SEED] = seed
    stop = _stop(body.get("stop"))
    if stop:
        attrs[sc.REQUEST_STOP] = stop
    n = body.get("n")
    if isinstance(n, int) and n != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = n


def _output_type(fmt: Any) -> str | None:
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind in ("json_object", "json_schema"):
            return "json"
        if kind == "text":
            return "text"
    return None


def _messages_json(messages: Any, redact: Callable[[str], str]) -> tuple[str, str | None]:
    """Chat messages as the semconv `gen_ai.input.messages` JSON (system prompts split out)."""
    out, system = [], []
    for message in messages or ():
        if not isinstance(message, dict):
            continue
        role = message.get("role", "user")
        text = tokencount._content_text(message.get("content"))
        if role in ("system", "developer"):
            system.append({"type": "text", "content": redact(text)})
            continue
        parts: list[dict[str, Any]] = []
        if text:
            parts.append({"type": "text", "content": redact(text)})
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                fn = call.get("function") or {}
                parts.append({"type": "tool_call", "id": call.get("id"), "name": fn.get("name"),
                              "arguments": redact(str(fn.get("arguments", "")))})
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": redact(text)}]
        out.append({"role": role, "parts": parts})
    return json.dumps(out), (json.dumps(system) if system else None)


class ChoicesCall(Call):
    """Chat and text completions: streamed chunks carry `choices` (index, finish reason, text) and,
    when asked for, the usage in the last chunk."""

    def fold(self, items: list[Any], last: bool) -> None:
        """At the end of a stream whose last chunk carries the usage, with content not captured, the
        span needs only the first chunk (id, model), the finish reasons and that usage: read those,
        scanning back from the end, and leave the other chunks unread. Their text is needed only
        for a tiktoken count or captured content, and reading every chunk again at the end, each
        cold in the CPU caches by then, was a fifth of what a 20-chunk stream cost us."""
        usage = getattr(items[-1], "usage", None) if last else None
        if usage is None or usage.completion_tokens is None or self.rt.capture_content:
            super().fold(items, last)
            return
        self.on_chunk(items[0])
        n = self.body.get("n")
        wanted = n if isinstance(n, int) and n > 1 else 1
        finish: dict[int, str] = {}
        for item in reversed(items):
            for choice in item.choices:
                reason = choice.finish_reason
                if reason and choice.index not in finish:
                    finish[choice.index] = reason
            if len(finish) >= wanted:
                break
        if finish:
            if self.finish is None:
                self.finish = finish
            else:
                self.finish.update(finish)
        self.usage = usage


# Keys nearly every chat request has; anything else sends the body through the full parameter read.
_COMMON_CHAT_KEYS = frozenset(("model", "messages", "stream", "stream_options", "max_tokens",
                               "max_completion_tokens", "temperature", "top_p"))


class ChatCall(ChoicesCall):
    """`POST /chat/completions` (create, parse, stream helpers)."""

    operation = "chat"
    api_type = "chat_completions"

    def request_attributes(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(max_tokens, int):
            attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
        _floats(body, _TEMPERATURE_TOP_P, attrs)
        if not _COMMON_CHAT_KEYS.issuperset(body):  # only the usual keys: skip the rarer parameters
            _rarer_sampling_attributes(body, attrs)
            out_type = _output_type(body.get("response_format"))
            if out_type:
                attrs[sc.OUTPUT_TYPE] = out_type
            tier = body.get("service_tier")
            if isinstance(tier, str):
                attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = tier

    def response_attributes(self, result: Any, attrs: dict[str, Any]) -> None:
        attrs[sc.RESPONSE_ID] = result.id
        attrs[sc.RESPONSE_MODEL] = result.model
        attrs[sc.RESPONSE_FINISH_REASONS] = tuple([c.finish_reason or "" for c in result.choices])
        tier = getattr(result, "service_tier", None)
        if tier:
            attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
        usage = result.usage
        if usage is not None:
            self.set_usage(attrs, usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details,
                           usage.completion_tokens_details)

    def on_chunk(self, chunk: Any) -> None:
        if self.response_id is None:
            self.response_id = chunk.id
            self.response_model = chunk.model
            self.service_tier = getattr(chunk, "service_tier", None)
        for choice in chunk.choices:
            delta = choice.delta
            if delta is not None:
                content = delta.content
                if content:
                    parts = self.parts
                    if parts is None:
                        self.parts = [content]
                    else:
                        parts.append(content)
                if delta.tool_calls:
                    for call in delta.tool_calls:
                        fn = call.function
                        if fn is not None:
                            args = self.tool_args
                            if args is None:
                                args = self.tool_args = []
                            args.append((fn.name or "") + (fn.arguments or ""))
            reason = choice.finish_reason
            if reason:
                finish = self.finish
                if finish is None:
                    finish = self.finish = {}
                finish[choice.index] = reason
        usage = chunk.usage
        if usage is not None:
            self.usage = usage

    def output_text(self) -> str:
        text = "".join(self.parts) if self.parts else ""
        if self.tool_args:
            text += "".join(self.tool_args)
        return text

    def stream_attributes(self, attrs: dict[str, Any]) -> None:
        self.streamed_identity(attrs)
        if self.service_tier:
            attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] = self.service_tier
        usage = self.usage
        if usage is not None:
            self.set_usage(attrs, usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details,
                           usage.completion_tokens_details)

    def count_input(self, enc: Any) -> int:
        return tokencount.count_chat_input(enc, self.body.get("messages"))

    def capture_input(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        messages, system = _messages_json(body.get("messages"), self._redact)
        attrs[sc.INPUT_MESSAGES] = messages
        if system:
            attrs[sc.SYSTEM_INSTRUCTIONS] = system

    def capture_output(self, result: Any, attrs: dict[str, Any]) -> None:
        out = []
        for choice in result.choices:
            message = choice.message
            parts: list[dict[str, Any]] = []
            if message.content:
                parts.append({"type": "text", "content": self._redact(message.content)})
            for call in message.tool_calls or ():
                fn = getattr(call, "function", None)
                if fn is not None:
                    parts.append({"type": "tool_call", "id": call.id, "name": fn.name,
                                  "arguments": self._redact(fn.arguments or "")})
            out.append({"role": "assistant", "parts": parts, "finish_reason": choice.finish_reason or ""})
        attrs[sc.OUTPUT_MESSAGES] = json.dumps(out)


_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


class ResponsesCall(Call):
    """`POST /responses` (create, parse, stream helper). Reported as operation `chat`."""

    operation = "chat"
    api_type = "responses"
    per_item = True  # time to first chunk depends on the event type

    def request_attributes(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        max_tokens = body.get("max_output_tokens")
        if isinstance(max_tokens, int):
            attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
        _floats(body, _TEMPERATURE_TOP_P, attrs)
        tier = body.get("service_tier")
        if isinstance(tier, str):
            attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = tier
        text = body.get("text")
        if isinstance(text, dict):
            out_type = _output_type(text.get("format"))
            if out_type:
                attrs[sc.OUTPUT_TYPE] = out_type

    @staticmethod
    def _finish_reason(response: Any) -> str:
        status = getattr(response, "status", None)
        if status == "incomplete":
            details = getattr(response, "incomplete_details", None)
            reason = getattr(details, "reason", None) if details is not None else None
            return _INCOMPLETE_REASONS.get(reason, reason or "incomplete")
        if status == "failed":
            return "error"
        for item in getattr(response, "output", None) or ():
            if getattr(item, "type", None) == "function_call":
                return "tool_calls"
        return "stop" if status in (None, "completed") else str(status)

    def response_attributes(self, result: Any, attrs: dict[str, Any]) -> None:
        attrs[sc.RESPONSE_ID] = result.id
        attrs[sc.RESPONSE_MODEL] = result.model
        attrs[sc.RESPONSE_FINISH_REASONS] = (self._finish_reason(result),)
        tier = getattr(result, "service_tier", None)
        if tier:
            attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
        usage = result.usage
        if usage is not None:
            self.set_usage(attrs, usage.input_tokens, usage.output_tokens, usage.input_tokens_details,
                           usage.output_tokens_details)

    def on_chunk(self, event: Any) -> None:
        # Time to first chunk counts from the first generated content, not from the bookkeeping
        # events (`response.created`, `response.in_progress`) that precede generation: the
        # observer stamps every item, so we undo its stamp for those.
        kind = event.type
        if self.parts is None and not kind.endswith(".delta"):
            self.first_ns = 0
        if kind == "response.output_text.delta" or kind == "response.function_call_arguments.delta":
            parts = self.parts
            if parts is None:
                self.parts = [event.delta]
            else:
                parts.append(event.delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = event.response
        elif kind == "response.created":
            response = event.response
            self.response_id = response.id
            self.response_model = response.model

    def stream_attributes(self, attrs: dict[str, Any]) -> None:
        if self.final is not None:
            self.response_attributes(self.final, attrs)
        else:
            self.streamed_identity(attrs)

    def count_input(self, enc: Any) -> int:
        return tokencount.count_responses_input(enc, self.body)

    def capture_input(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        value = body.get("input")
        if isinstance(value, str):
            messages = [{"role": "user", "content": value}]
        elif isinstance(value, list):
            messages = [m for m in value if isinstance(m, dict) and "role" in m]
        else:
            messages = []
        encoded, system = _messages_json(messages, self._redact)
        attrs[sc.INPUT_MESSAGES] = encoded
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            attrs[sc.SYSTEM_INSTRUCTIONS] = json.dumps([{"type": "text", "content": self._redact(instructions)}])
        elif system:
            attrs[sc.SYSTEM_INSTRUCTIONS] = system

    def capture_output(self, result: Any, attrs: dict[str, Any]) -> None:
        text = getattr(result, "output_text", "") or ""
        attrs[sc.OUTPUT_MESSAGES] = json.dumps([{
            "role": "assistant", "parts": [{"type": "text", "content": self._redact(text)}],
            "finish_reason": self._finish_reason(result),
        }])


class EmbeddingsCall(Call):
    """`POST /embeddings`."""

    operation = "embeddings"

    def request_attributes(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        fmt = body.get("encoding_format")
        if isinstance(fmt, str):
            attrs[sc.REQUEST_ENCODING_FORMATS] = [fmt]
        dims = body.get("dimensions")
        if isinstance(dims, int):
            attrs[sc.EMBEDDINGS_DIMENSIONS] = dims

    def response_attributes(self, result: Any, attrs: dict[str, Any]) -> None:
        attrs[sc.RESPONSE_MODEL] = result.model
        usage = result.usage
        if usage is not None:
            self.set_usage(attrs, usage.prompt_tokens, None)

    def fallback_usage(self, attrs: dict[str, Any], with_output: bool) -> None:
        super().fallback_usage(attrs, with_output=False)
        attrs.pop(sc.USAGE_OUTPUT, None)

    def count_input(self, enc: Any) -> int:
        return tokencount.count_text_input(enc, self.body.get("input"))


class CompletionsCall(ChoicesCall):
    """`POST /completions` (legacy text completions)."""

    operation = "text_completion"

    def request_attributes(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int):
            attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
        _floats(body, _TEMPERATURE_TOP_P, attrs)
        _rarer_sampling_attributes(body, attrs)

    def response_attributes(self, result: Any, attrs: dict[str, Any]) -> None:
        attrs[sc.RESPONSE_ID] = result.id
        attrs[sc.RESPONSE_MODEL] = result.model
        attrs[sc.RESPONSE_FINISH_REASONS] = tuple([c.finish_reason or "" for c in result.choices])
        usage = result.usage
        if usage is not None:
            self.set_usage(attrs, usage.prompt_tokens, usage.completion_tokens)

    def on_chunk(self, chunk: Any) -> None:
        if self.response_id is None:
            self.response_id = chunk.id
            self.response_model = chunk.model
        for choice in chunk.choices:
            if choice.text:
                if self.parts is None:
                    self.parts = [choice.text]
                else:
                    self.parts.append(choice.text)
            if choice.finish_reason:
                if self.finish is None:
                    self.finish = {}
                self.finish[choice.index] = choice.finish_reason
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage

    def stream_attributes(self, attrs: dict[str, Any]) -> None:
        self.streamed_identity(attrs)
        if self.usage is not None:
            self.set_usage(attrs, self.usage.prompt_tokens, self.usage.completion_tokens)

    def count_input(self, enc: Any) -> int:
        return tokencount.count_text_input(enc, self.body.get("prompt"))

    def capture_input(self, body: dict[str, Any], attrs: dict[str, Any]) -> None:
        prompt = body.get("prompt")
        text = prompt if isinstance(prompt, str) else json.dumps(prompt)
        attrs[sc.INPUT_MESSAGES] = json.dumps([{"role": "user", "parts": [{"type": "text",
                                                                            "content": self._redact(text)}]}])

    def capture_output(self, result: Any, attrs: dict[str, Any]) -> None:
        attrs[sc.OUTPUT_MESSAGES] = json.dumps([{
            "role": "assistant", "parts": [{"type": "text", "content": self._redact(c.text or "")}],
            "finish_reason": c.finish_reason or "",
        } for c in result.choices])


ROUTES: dict[str, type[Call]] = {
    "/chat/completions": ChatCall,
    "/responses": ResponsesCall,
    "/embeddings": EmbeddingsCall,
    "/completions": CompletionsCall,
}
