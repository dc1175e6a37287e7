"""Record a miss's response while the SDK consumes it, and store it once it proved complete.

A plain response is already read when the send returns. A streamed one is recorded chunk by chunk
by shadowing `iter_bytes`/`aiter_bytes` (the decoded bytes every SDK reader goes through) and
`close`/`aclose` on that one response object. The entry is stored when the stream ends: at the end
of the body, or when the SDK closes the response after `[DONE]`. Whether it is stored at all is
decided by `completeness.is_complete`, so an abandoned or broken stream is never cached.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from tokentrail.cache import counters
from tokentrail.cache.completeness import is_complete
from tokentrail.cache.entry import Entry, make_entry

if TYPE_CHECKING:
    from tokentrail.cache.api import Plan
    from tokentrail.cache.store import CacheStore


def _entry(plan: Plan, response: Any, chunks: list[bytes] | None, body: bytes | None,
           started: float, ended: float) -> Entry | None:
    data = b"".join(chunks) if chunks is not None else (body or b"")
    if not is_complete(plan.endpoint, response.headers.get("content-type", ""), data):
        counters.incr("not_stored")
        return None
    return make_entry(plan.digest, response.status_code, response.headers.multi_items(), chunks, body,
                      (ended - started) * 1000.0)


def _storable(response: Any) -> bool:
    if response.status_code == 200:
        return True
    counters.incr("not_stored")
    return False


def record_sync(store: CacheStore, plan: Plan, response: Any, *, streamed: bool, started: float) -> Any:
    if not _storable(response):
        return response
    if not streamed:
        entry = _entry(plan, response, None, response.content, started, time.perf_counter())
        if entry is not None:
            store.save(entry)
        return response
    _Recorder(store, plan, response, started).attach_sync()
    return response


async def record_async(store: CacheStore, plan: Plan, response: Any, *, streamed: bool,
                       started: float) -> Any:
    if not _storable(response):
        return response
    if not streamed:
        entry = _entry(plan, response, None, response.content, started, time.perf_counter())
        if entry is not None:
            await store.asave(entry)
        return response
    _Recorder(store, plan, response, started).attach_async()
    return response


class _Recorder:
    """Per-response tee. `suspended` tells an external close (the SDK done with the stream) from
    the close that httpx itself issues at end of body while the recorder is still draining."""

    def __init__(self, store: CacheStore, plan: Plan, response: Any, started: float) -> None:
        self.store = store
        self.plan = plan
        self.response = response
        self.started = started
        self.last = started
        self.chunks: list[bytes] = []
        self.suspended = False
        self.started_iterating = False
        self.finished = False

    def _take(self) -> Entry | None:
        if self.finished:
            return None
        self.finished = True
        try:
            return _entry(self.plan, self.response, self.chunks, None, self.started, self.last)
        except Exception:  # noqa: BLE001 - recording must never break the application's stream
            counters.incr("not_stored")
            return None

    def finish_sync(self) -> None:
        entry = self._take()
        if entry is not None:
            self.store.save(entry)

    async def finish_async(self) -> None:
        entry = self._take()
        if entry is not None:
            await self.store.asave(entry)

    def attach_sync(self) -> None:
        response = self.response
        orig_iter, orig_close = response.iter_bytes, response.close

        def iter_bytes(chunk_size: int | None = None) -> Iterator[bytes]:
            self.started_iterating = True
            try:
                for chunk in orig_iter(chunk_size):
                    self.chunks.append(chunk)
                    self.last = time.perf_counter()
                    self.suspended = True
                    try:
                        yield chunk
                    finally:
                        self.suspended = False
            finally:
                self.finish_sync()

        def close() -> None:
            try:
                orig_close()
            finally:
                if self.suspended or not self.started_iterating:
                    self.finish_sync()

        response.iter_bytes = iter_bytes
        response.close = close

    def attach_async(self) -> None:
        response = self.response
        orig_iter, orig_close = response.aiter_bytes, response.aclose

        async def aiter_bytes(chunk_size: int | None = None) -> AsyncIterator[bytes]:
            self.started_iterating = True
            try:
                async with contextlib.aclosing(orig_iter(chunk_size)) as source:
                    async for chunk in source:
                        self.chunks.append(chunk)
                        self.last = time.perf_counter()
                        self.suspended = True
                        try:
                            yield chunk
                        finally:
                            self.suspended = False
            finally:
                await self.finish_async()

        async def aclose() -> None:
            try:
                await orig_close()
            finally:
                if self.suspended or not self.started_iterating:
                    await self.finish_async()

        response.aiter_bytes = aiter_bytes
        response.aclose = aclose
