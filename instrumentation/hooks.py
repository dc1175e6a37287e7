"""The wrappers installed on the openai SDK, and where they go.

One span per logical call comes from wrapping the client's `request()` — the single method
every resource method (create, parse, the `.stream()` helpers, `with_raw_response`,
`with_streaming_response`) goes through, in openai 1.x, 2.x and 3.x alike. The endpoint is
recognised by `options.url`, so calls to other endpoints (files, models, ...) pay one dict
lookup and nothing else.

Around it, three small hooks feed the call in flight (found through a ContextVar, so threads
and asyncio tasks never see each other's call):
- `_process_response`: the final HTTP response (status, and whether the response cache replayed it);
- `_sleep_for_retry`: one event per failed attempt, with the backoff the SDK actually slept;
- `close()` of streams and stream helpers: end the span on close.
A `with_streaming_response` response gets its own `read()` / `close()` shadowed on that one object.
We never patch the HTTP send method: that level belongs to the response cache.
"""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import set_span_in_context
from tokentrail.instrumentation.calls import (
    ROUTES,
    Call,
    Endpoint,
    Runtime,
    report_internal_error,
    status_error_type,
)
from tokentrail.instrumentation.patching import Patches
from tokentrail.instrumentation.streams import observe, observer_of

ACTIVE: ContextVar[Call | None] = ContextVar("tokentrail_active_call", default=None)

_PROVIDER_BY_HOST = {
    "api.openai.com": "openai",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.x.ai": "x_ai",
    "api.mistral.ai": "mistral_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.anthropic.com": "anthropic",
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
}
_PROVIDER_BY_SUFFIX = (
    (".openai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    (".amazonaws.com", "aws.bedrock"),
)
# Any other server (vLLM, Ollama, LiteLLM, a gateway, the simulator) speaks OpenAI's API: we
# report provider "openai" and let server.address say which server it was. Prices are then
# matched by model name, which is right for gateways in front of OpenAI and harmlessly unknown
# for self-hosted models.
DEFAULT_PROVIDER = "openai"


def provider_for(host: str, is_azure: bool) -> str:
    if is_azure:
        return "azure.ai.openai"
    name = _PROVIDER_BY_HOST.get(host)
    if name:
        return name
    for suffix, provider in _PROVIDER_BY_SUFFIX:
        if host.endswith(suffix):
            return provider
    return DEFAULT_PROVIDER


class Endpoints:
    """The `Endpoint` (constant span attributes) of each (client, route), found in two dict lookups.

    Keyed by the identity of the client's base URL object, which the entry holds, so the key
    cannot be reused by another object while the entry lives; setting `client.base_url` makes
    a new URL object and therefore a new entry. The client class is checked too (Azure or not).
    A WeakKeyDictionary would make a weak reference per lookup; this bounded dict doesn't.
    """

    _MAX_ENTRIES = 256

    def __init__(self, azure_types: tuple[type, ...]) -> None:
        self._azure = azure_types
        self._cache: dict[int, tuple[Any, type, dict[type[Call], Endpoint]]] = {}

    def __call__(self, client: Any, route: type[Call]) -> Endpoint:
        base = client._base_url
        entry = self._cache.get(id(base))
        if entry is None or entry[0] is not base or entry[1] is not type(client):
            entry = self._add(client, base)
        endpoint = entry[2].get(route)
        if endpoint is None:
            endpoint = entry[2][route] = Endpoint(route.endpoint_attributes(*self.server(client)))
        return endpoint

    def server(self, client: Any) -> tuple[str, str, int]:
        """(provider, host, port) of the client's current base URL."""
        base = client._base_url
        host = base.host or ""
        port = base.port or (443 if base.scheme == "https" else 80)
        return provider_for(host, isinstance(client, self._azure)), host, port

    def _add(self, client: Any, base: Any) -> tuple[Any, type, dict[type[Call], Endpoint]]:
        cache = self._cache
        if len(cache) >= self._MAX_ENTRIES:
            cache.clear()
        entry: tuple[Any, type, dict[type[Call], Endpoint]] = (base, type(client), {})
        cache[id(base)] = entry
        return entry


_ENDPOINTS: Endpoints | None = None
_KINDS: dict[type, int] = {}  # result class -> kind; classes never change, so kept across installs


def _endpoints(azure_types: tuple[type, ...]) -> Endpoints:
    global _ENDPOINTS
    if _ENDPOINTS is None or _ENDPOINTS._azure != azure_types:
        _ENDPOINTS = Endpoints(azure_types)
    return _ENDPOINTS


@dataclass
class Sdk:
    """openai SDK classes resolved once at instrument time (no per-call imports or checks)."""

    sync_client: type
    async_client: type
    stream: type
    async_stream: type
    api_response: type | None
    async_api_response: type | None
    legacy_response: type | None
    base_model: type
    helper_streams: tuple[type, ...]
    async_helper_streams: tuple[type, ...]
    azure_types: tuple[type, ...]


def resolve_sdk() -> Sdk:
    """Import the openai SDK pieces we hook; raises ImportError when openai is missing."""
    import openai
    from openai import _base_client, _streaming

    def optional(module: str, name: str) -> type | None:
        try:
            mod = __import__(module, fromlist=[name])
            return getattr(mod, name)
        except Exception:
            return None

    helpers = tuple(t for t in (
        optional("openai.lib.streaming.chat._completions", "ChatCompletionStream"),
        optional("openai.lib.streaming.responses._responses", "ResponseStream"),
    ) if t is not None)
    async_helpers = tuple(t for t in (
        optional("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream"),
        optional("openai.lib.streaming.responses._responses", "AsyncResponseStream"),
    ) if t is not None)
    azure = tuple(t for t in (getattr(openai, "AzureOpenAI", None), getattr(openai, "AsyncAzureOpenAI", None))
                  if t is not None)
    return Sdk(
        sync_client=_base_client.SyncAPIClient,
        async_client=_base_client.AsyncAPIClient,
        stream=_streaming.Stream,
        async_stream=_streaming.AsyncStream,
        api_response=optional("openai._response", "APIResponse"),
        async_api_response=optional("openai._response", "AsyncAPIResponse"),
        legacy_response=optional("openai._legacy_response", "LegacyAPIResponse"),
        base_model=openai.BaseModel,
        helper_streams=helpers,
        async_helper_streams=async_helpers,
        azure_types=azure,
    )


# kinds of request() results
_MODEL, _STREAM, _LEGACY, _API_RESPONSE, _ASYNC_API_RESPONSE, _OTHER = range(6)


def _retry_cause(response: Any) -> tuple[int | None, str]:
    if response is not None:
        status = response.status_code
        return status, status_error_type(status)
    exc = sys.exc_info()[1]  # _sleep_for_retry runs inside the SDK's `except` block
    name = type(exc).__name__ if exc is not None else ""
    return None, ("APITimeoutError" if "Timeout" in name else "APIConnectionError")


def _unpend(response: Any) -> Call | None:
    """Take back what `pend` put on a with_streaming_response response; its pending call, if any."""
    values = response.__dict__
    values.pop("read", None)
    values.pop("close", None)
    return values.pop("_tokentrail_call", None)


def install(patches: Patches, rt: Runtime, sdk: Sdk) -> None:
    """Install every hook; originals are kept in `patches` for `uninstrument()`."""
    endpoints = _endpoints(sdk.azure_types)
    routes_get = ROUTES.get
    active_get = ACTIVE.get
    active_set = ACTIVE.set
    active_reset = ACTIVE.reset
    attach = otel_context.attach
    detach = otel_context.detach
    kinds = _KINDS

    def classify(cls: type) -> int:
        kind = _OTHER
        if issubclass(cls, (sdk.stream, sdk.async_stream)):
            kind = _STREAM
        elif sdk.legacy_response is not None and issubclass(cls, sdk.legacy_response):
            kind = _LEGACY
        elif sdk.api_response is not None and issubclass(cls, sdk.api_response):
            kind = _API_RESPONSE
        elif sdk.async_api_response is not None and issubclass(cls, sdk.async_api_response):
            kind = _ASYNC_API_RESPONSE
        elif issubclass(cls, sdk.base_model):
            kind = _MODEL
        kinds[cls] = kind
        return kind

    def begin(route: type[Call], client: Any, options: Any, kwargs: dict[str, Any]) -> tuple[Call, Any, Any]:
        call = route(rt, client, options.json_data, bool(kwargs.get("stream")), endpoints(client, route))
        return call, active_set(call), attach(set_span_in_context(call.span))

    # ---- with_streaming_response: end when the body is read, or when the response is closed --
    # Shadowed on that one response object rather than patched on the class, so the read() of
    # every other response (each non-streamed call makes one) runs the SDK's own code.
    def finish_pending(response: Any, parse: bool) -> None:
        call = _unpend(response)
        if call is None:
            return
        try:
            if parse:
                call.finish_response(response.parse())
            else:
                call.finish_without_body()
        except Exception:
            report_internal_error("streamed response")

    async def afinish_pending(response: Any, parse: bool) -> None:
        call = _unpend(response)
        if call is None:
            return
        try:
            if parse:
                call.finish_response(await response.parse())
            else:
                call.finish_without_body()
        except Exception:
            report_internal_error("streamed response")

    def pend(response: Any, call: Call) -> None:
        orig_read, orig_close = response.read, response.close

        def read() -> Any:
            data = orig_read()
            finish_pending(response, parse=True)
            return data

        def close() -> Any:
            finish_pending(response, parse=False)
            return orig_close()

        response.__dict__.update(_tokentrail_call=call, read=read, close=close)

    def apend(response: Any, call: Call) -> None:
        orig_read, orig_close = response.read, response.close

        async def read() -> Any:
            data = await orig_read()
            await afinish_pending(response, parse=True)
            return data

        async def close() -> Any:
            await afinish_pending(response, parse=False)
            return await orig_close()

        response.__dict__.update(_tokentrail_call=call, read=read, close=close)

    def complete(call: Call, result: Any) -> None:
        cls = type(result)
        kind = kinds.get(cls)
        if kind is None:
            kind = classify(cls)
        if kind == _MODEL:
            call.finish_response(result)
        elif kind == _STREAM:
            observe(result, call)
        elif kind == _LEGACY:
            # with_raw_response: the body is already read (or is an SSE stream that parse() only
            # wraps), and parse() caches, so parsing here costs the caller nothing later.
            parsed = result.parse()
            if result._stream:
                observe(parsed, call)
            else:
                call.finish_response(parsed)
        elif kind == _API_RESPONSE:
            if result._is_sse_stream:
                observe(result.parse(), call)
            elif result.http_response.is_stream_consumed:
                call.finish_response(result.parse())
            else:  # with_streaming_response: the span ends when the body is read or the response closed
                pend(result, call)
        else:
            call.finish_without_body()

    async def acomplete(call: Call, result: Any) -> None:
        cls = type(result)
        kind = kinds.get(cls)
        if kind is None:
            kind = classify(cls)
        if kind != _ASYNC_API_RESPONSE:
            complete(call, result)
        elif result._is_sse_stream:
            observe(await result.parse(), call)
        elif result.http_response.is_stream_consumed:
            call.finish_response(await result.parse())
        else:  # with_streaming_response: the span ends when the body is read or the response closed
            apend(result, call)

    def end_quietly(call: Call) -> None:
        """After an instrumentation error: still end the span, so none stays open forever."""
        try:
            call.finish_without_body()
        except Exception:
            pass

    # ---- request(): one span per logical call -------------------------------------------------
    def make_request(orig: Any) -> Any:
        def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            route = routes_get(getattr(options, "url", None))
            if route is None or active_get() is not None:
                return orig(self, cast_to, options, *args, **kwargs)
            try:
                call, token, ctx_token = begin(route, self, options, kwargs)
            except Exception:
                report_internal_error("request start")
                return orig(self, cast_to, options, *args, **kwargs)
            try:
                result = orig(self, cast_to, options, *args, **kwargs)
            except BaseException as exc:
                active_reset(token)
                detach(ctx_token)
                try:
                    call.fail(exc)
                except Exception:
                    report_internal_error("request error")
                raise
            active_reset(token)
            detach(ctx_token)
            try:
                if kinds.get(type(result)) == _MODEL:  # the common case, without a further call
                    call.finish_response(result)
                else:
                    complete(call, result)
            except Exception:
                report_internal_error("request end")
                end_quietly(call)
            return result

        return request

    def make_async_request(orig: Any) -> Any:
        async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
            route = routes_get(getattr(options, "url", None))
            if route is None or active_get() is not None:
                return await orig(self, cast_to, options, *args, **kwargs)
            try:
                call, token, ctx_token = begin(route, self, options, kwargs)
            except Exception:
                report_internal_error("request start")
                return await orig(self, cast_to, options, *args, **kwargs)
            try:
                result = await orig(self, cast_to, options, *args, **kwargs)
            except BaseException as exc:
                active_reset(token)
                detach(ctx_token)
                try:
                    call.fail(exc)
                except Exception:
                    report_internal_error("request error")
                raise
            active_reset(token)
            detach(ctx_token)
            try:
                await acomplete(call, result)
            except Exception:
                report_internal_error("request end")
                end_quietly(call)
            return result

        return request

    patches.wrap(sdk.sync_client, "request", make_request)
    patches.wrap(sdk.async_client, "request", make_async_request)

    # ---- _process_response(): the final HTTP response ----------------------------------------
    def note_response(kwargs: dict[str, Any]) -> None:
        call = active_get()
        if call is not None:
            call.http = kwargs.get("response")
            taken = kwargs.get("retries_taken")
            if type(taken) is int and taken > call.retries:  # SDKs without _sleep_for_retry
                call.retries = taken

    def make_process(orig: Any) -> Any:
        def _process_response(self: Any, *args: Any, **kwargs: Any) -> Any:
            note_response(kwargs)
            return orig(self, *args, **kwargs)

        return _process_response

    def make_async_process(orig: Any) -> Any:
        async def _process_response(self: Any, *args: Any, **kwargs: Any) -> Any:
            note_response(kwargs)
            return await orig(self, *args, **kwargs)

        return _process_response

    patches.wrap(sdk.sync_client, "_process_response", make_process)
    patches.wrap(sdk.async_client, "_process_response", make_async_process)

    # ---- _sleep_for_retry(): one event per failed attempt -------------------------------------
    def record_retry(call: Call, cause: tuple[int | None, str], started: float) -> None:
        try:
            call.add_retry(cause[0], cause[1], time.perf_counter() - started)
        except Exception:
            report_internal_error("retry event")

    def make_sleep(orig: Any) -> Any:
        def _sleep_for_retry(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = active_get()
            if call is None:
                return orig(self, *args, **kwargs)
            cause = _retry_cause(kwargs.get("response"))
            started = time.perf_counter()
            try:
                return orig(self, *args, **kwargs)
            finally:
                record_retry(call, cause, started)

        return _sleep_for_retry

    def make_async_sleep(orig: Any) -> Any:
        async def _sleep_for_retry(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = active_get()
            if call is None:
                return await orig(self, *args, **kwargs)
            cause = _retry_cause(kwargs.get("response"))
            started = time.perf_counter()
            try:
                return await orig(self, *args, **kwargs)
            finally:
                record_retry(call, cause, started)

        return _sleep_for_retry

    patches.wrap(sdk.sync_client, "_sleep_for_retry", make_sleep)
    patches.wrap(sdk.async_client, "_sleep_for_retry", make_async_sleep)

    # ---- close(): end the span when the caller closes a stream early ---------------------------
    def closed(stream: Any) -> None:
        try:
            observer = observer_of(stream)
            if observer is not None:
                observer.closed()
        except Exception:
            report_internal_error("stream close")

    def make_close(orig: Any) -> Any:
        def close(self: Any) -> Any:
            closed(self)
            return orig(self)

        return close

    def make_async_close(orig: Any) -> Any:
        async def close(self: Any) -> Any:
            closed(self)
            return await orig(self)

        return close

    def make_helper_close(orig: Any) -> Any:
        def close(self: Any) -> Any:
            closed(getattr(self, "_raw_stream", None))
            return orig(self)

        return close

    def make_async_helper_close(orig: Any) -> Any:
        async def close(self: Any) -> Any:
            closed(getattr(self, "_raw_stream", None))
            return await orig(self)

        return close

    patches.wrap(sdk.stream, "close", make_close)
    patches.wrap(sdk.async_stream, "close", make_async_close)
    for helper in sdk.helper_streams:
        patches.wrap(helper, "close", make_helper_close)
    for helper in sdk.async_helper_streams:
        patches.wrap(helper, "close", make_async_helper_close)

