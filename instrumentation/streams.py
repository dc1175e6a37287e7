"""Observers slipped into the SDK's own stream objects.

Rather than proxying the `Stream` the caller receives, we replace its private `_iterator`
with an observer that forwards every item and tells the call about it. The object the caller
holds is therefore the SDK's own `Stream` — same type, attributes, `.response`, `close()`,
context-manager protocol and (async) iteration — and the SDK's helpers (`.stream()`,
`ChatCompletionStream`) that iterate it see the same items.

The span ends when the stream is exhausted or fails (`__next__`), when the caller closes it
(the patched `close()` calls `closed()`), or when it is garbage collected unfinished
(`__del__`; the span then ends at the time of the last item received, not at GC time).
"""

from __future__ import annotations

import time
from typing import Any

from tokentrail.instrumentation.calls import Call, report_internal_error

_perf_ns = time.perf_counter_ns
_BATCH = 256  # bounds the items held before folding


class SyncObserver:
    # Items are buffered and folded into the call in batches (at the end, or every _BATCH items)
    # rather than one by one: between two items the SDK's own decoding evicts our code and data
    # from the CPU caches, so per-item work costs several times what the same work costs in one
    # tight loop. Calls whose timing depends on the item type (Responses) fold each item at once.
    __slots__ = ("_next", "_call", "_ok", "_buffer")

    def __init__(self, inner: Any, call: Call) -> None:
        self._next = inner.__next__
        self._call = call
        self._ok = True
        self._buffer: list[Any] | None = None if call.per_item else []

    def __iter__(self) -> SyncObserver:
        return self

    def __next__(self) -> Any:
        try:
            item = self._next()
        except StopIteration:
            self._end("completed")
            raise
        except BaseException as exc:
            self._fail(exc)
            raise
        if self._ok:
            self._observe(item)
        return item

    def _observe(self, item: Any) -> None:
        call = self._call
        now = _perf_ns()
        call.last_ns = now
        if not call.first_ns:
            call.first_ns = now
        buffer = self._buffer
        try:
            if buffer is None:
                call.on_chunk(item)
            else:
                buffer.append(item)
                if len(buffer) >= _BATCH:
                    self._fold()
        except Exception:
            self._ok = False
            report_internal_error("stream chunk")

    def _fold(self) -> None:
        buffer = self._buffer
        if buffer:
            on_chunk = self._call.on_chunk
            for item in buffer:
                on_chunk(item)
            buffer.clear()

    def _end(self, how: str) -> None:
        try:
            if self._ok:
                self._fold()
        except Exception:
            report_internal_error("stream chunk")
        try:
            self._call.stream_end(how)
        except Exception:
            report_internal_error("stream end")

    def _fail(self, exc: BaseException) -> None:
        try:
            if self._ok:
                self._fold()
        except Exception:
            report_internal_error("stream chunk")
        try:
            self._call.fail(exc)
        except Exception:
            report_internal_error("stream error")

    def closed(self) -> None:
        self._end("closed")

    def __del__(self) -> None:
        call = self._call
        if not call.done:
            self._end("abandoned")


class AsyncObserver:
    __slots__ = ("_anext", "_call", "_ok", "_buffer")

    def __init__(self, inner: Any, call: Call) -> None:
        self._anext = inner.__anext__
        self._call = call
        self._ok = True
        self._buffer: list[Any] | None = None if call.per_item else []

    def __aiter__(self) -> AsyncObserver:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self._anext()
        except StopAsyncIteration:
            self._end("completed")
            raise
        except BaseException as exc:
            self._fail(exc)
            raise
        if self._ok:
            self._observe(item)
        return item

    _observe = SyncObserver._observe
    _fold = SyncObserver._fold
    _end = SyncObserver._end
    _fail = SyncObserver._fail
    closed = SyncObserver.closed
    __del__ = SyncObserver.__del__


def observe(stream: Any, call: Call) -> None:
    """Route `stream`'s items through an observer for `call` (once; idempotent)."""
    inner = stream.__dict__.get("_iterator")
    if inner is None or type(inner) in (SyncObserver, AsyncObserver):
        return
    if hasattr(inner, "__anext__"):
        stream._iterator = AsyncObserver(inner, call)
    else:
        stream._iterator = SyncObserver(inner, call)


def observer_of(stream: Any) -> SyncObserver | AsyncObserver | None:
    inner = getattr(stream, "__dict__", {}).get("_iterator")
    return inner if type(inner) in (SyncObserver, AsyncObserver) else None
