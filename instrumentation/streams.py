"""Observers slipped into the SDK's own stream objects.

Rather than proxying the `Stream` the caller receives, we replace its private `_iterator`
with a generator that forwards every item and notes it for the call. The object the caller
holds is therefore the SDK's own `Stream` — same type, attributes, `.response`, `close()`,
context-manager protocol and (async) iteration — and the SDK's helpers (`.stream()`,
`ChatCompletionStream`) that iterate it see the same items.

The sync forwarding is a plain generator because it runs once per streamed item: resuming a
generator is cheaper than calling a Python `__next__` method. Items that can wait are only timed
and buffered there (`_forward_batched`); the async forwarder and calls that need each item at once
hand it to `Watch.note`. What must outlive the loop sits in the `Watch`, referenced only by the
forwarder (the caller's `Stream` gets no attribute), so dropping the stream drops the watch with
it.

The span ends when the stream is exhausted or fails (in the generator), when the caller closes
it (the patched `close()` calls `closed()`), or when it is garbage collected unfinished (the
watch's `__del__`, which runs once the forwarder is gone, started or not; the span then ends at
the time of the last item received, not at GC time).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from types import GeneratorType
from typing import Any

from tokentrail.instrumentation.calls import Call, report_internal_error

_perf_ns = time.perf_counter_ns
_BATCH = 256  # bounds the items held before folding


class Watch:
    """One observed stream: the call, the items not yet folded into it, and how it ended.

    Items are buffered and folded into the call in batches (at the end, or every _BATCH items)
    rather than one by one: between two items the SDK's own decoding evicts our code and data
    from the CPU caches, so per-item work costs several times what the same work costs in one
    tight loop. Calls whose timing depends on the item type (Responses) fold each item at once.
    The call folds the batches itself (`Call.fold`); told it is the last, it may read only the
    items the span needs.
    """

    __slots__ = ("call", "ok", "buffer")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.ok = True
        self.buffer: list[Any] | None = None if call.per_item else []

    def note(self, item: Any) -> None:
        """One item arrived: time it and fold it (now, or with the next batch)."""
        call = self.call
        now = _perf_ns()
        call.last_ns = now
        if not call.first_ns:
            call.first_ns = now
        buffer = self.buffer
        try:
            if buffer is None:
                call.on_chunk(item)
            else:
                buffer.append(item)
                if len(buffer) >= _BATCH:
                    self.fold_batch()
        except Exception:
            self.broken()

    def fold(self, last: bool) -> None:
        buffer = self.buffer
        if buffer:
            self.call.fold(buffer, last)
            buffer.clear()

    def fold_batch(self) -> None:
        """A full buffer mid-stream: fold it; a failure stops the observing, not the stream."""
        try:
            if self.ok:
                self.fold(last=False)
        except Exception:
            self.broken()
        self.buffer.clear()

    def fold_rest(self) -> None:
        """Fold the items still buffered, the stream's last; a failure here must not keep the span
        from ending."""
        try:
            if self.ok:
                self.fold(last=True)
        except Exception:
            report_internal_error("stream chunk")

    def end(self, how: str) -> None:
        self.fold_rest()
        try:
            self.call.stream_end(how)
        except Exception:
            report_internal_error("stream end")

    def fail(self, exc: BaseException) -> None:
        self.fold_rest()
        try:
            self.call.fail(exc)
        except Exception:
            report_internal_error("stream error")

    def broken(self) -> None:
        """Our per-item code raised: stop observing items, keep forwarding them."""
        self.ok = False
        report_internal_error("stream chunk")

    def closed(self) -> None:
        self.end("closed")

    def __del__(self) -> None:
        if not self.call.done:
            self.end("abandoned")


def _forward_each(inner: Iterator[Any], watch: Watch) -> Iterator[Any]:
    """Hand each item to the call as it arrives (calls whose timing depends on the item)."""
    note = watch.note
    try:
        for item in inner:
            if watch.ok:
                note(item)
            yield item
    except GeneratorExit:  # closed or collected: close() or the watch ends the span
        raise
    except BaseException as exc:
        watch.fail(exc)
        raise
    watch.end("completed")


def _forward_batched(inner: Iterator[Any], watch: Watch) -> Iterator[Any]:
    """Buffer the items for `Watch.fold`, keeping the per-item work to a clock read and an append.

    This runs between two items the SDK decodes, when little of our code or data is still in the
    CPU caches, so it touches nothing but its own frame and the buffer: the time of the latest
    item stays a local and reaches the call only when the stream stops (an ended generator,
    closed or collected, still runs its `except GeneratorExit`).
    """
    call = watch.call
    buffer = watch.buffer
    assert buffer is not None  # a batched watch
    append = buffer.append
    last = 0
    items = iter(inner)
    try:
        for item in items:  # the first: time to first chunk
            call.first_ns = last = _perf_ns()
            append(item)
            yield item
            break
        for item in items:
            last = _perf_ns()
            append(item)
            if len(buffer) >= _BATCH:
                watch.fold_batch()
            yield item
    except GeneratorExit:  # closed or collected: close() or the watch ends the span
        if last:
            call.last_ns = last
        raise
    except BaseException as exc:
        watch.fail(exc)
        raise
    watch.end("completed")


class _AsyncForward:
    """The async counterpart of `_forward_each`, as a class with `__del__`. Dropped unfinished, the
    SDK's inner async generator is resurrected by asyncio's finalizer hook until the event loop
    next runs, and keeps this object alive with it; `__del__` still runs at that collection, so
    an abandoned stream's span ends then, not whenever the loop runs again.
    """

    __slots__ = ("_anext", "_watch")

    def __init__(self, inner: AsyncIterator[Any], watch: Watch) -> None:
        self._anext = inner.__anext__
        self._watch = watch

    def __aiter__(self) -> _AsyncForward:
        return self

    async def __anext__(self) -> Any:
        watch = self._watch
        try:
            item = await self._anext()
        except StopAsyncIteration:
            watch.end("completed")
            raise
        except BaseException as exc:
            watch.fail(exc)
            raise
        if watch.ok:
            watch.note(item)
        return item

    def __del__(self) -> None:
        watch = self._watch
        if not watch.call.done:
            watch.end("abandoned")


_FORWARD_CODES = (_forward_each.__code__, _forward_batched.__code__)


def watch_of(iterator: Any) -> Watch | None:
    """The watch of one of our forwarders, else None.

    A sync forwarder is a plain generator: its watch is read from the generator's frame (only
    on `close()`, so the per-item path carries no registry); a finished generator has no frame
    any more, and its span has ended already.
    """
    kind = type(iterator)
    if kind is _AsyncForward:
        return iterator._watch
    if kind is GeneratorType and iterator.gi_code in _FORWARD_CODES:
        frame = iterator.gi_frame
        return frame.f_locals.get("watch") if frame is not None else None
    return None


def observe(stream: Any, call: Call) -> None:
    """Route `stream`'s items through an observer for `call` (once; idempotent)."""
    inner = stream.__dict__.get("_iterator")
    if inner is None or type(inner) is _AsyncForward or getattr(inner, "gi_code", None) in _FORWARD_CODES:
        return
    watch = Watch(call)
    if hasattr(inner, "__anext__"):
        stream._iterator = _AsyncForward(inner, watch)
    elif watch.buffer is None:
        stream._iterator = _forward_each(inner, watch)
    else:
        stream._iterator = _forward_batched(inner, watch)


def observer_of(stream: Any) -> Watch | None:
    """The watch of a stream we observe (for its `close()`), else None."""
    inner = getattr(stream, "__dict__", {}).get("_iterator")
    return watch_of(inner) if inner is not None else None
