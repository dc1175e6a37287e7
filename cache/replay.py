"""Turn a stored entry back into a real httpx response the SDK parses as if it came off the wire.

The response is an instance of the same httpx flavour as the request (openai 3.x uses `httpx2`,
1.x and 2.x use `httpx`; 3.x also accepts a legacy `httpx.Client`), its body a byte stream that
yields the stored chunks one by one. The SDK therefore builds its own `Stream`/`AsyncStream` (or
parsed model) from it. The caller sees the `x-tokentrail-cache` headers on it; instrumentation
reads the same fact from the response's `extensions`, one dict lookup instead of a header scan.
"""

from __future__ import annotations

import datetime
import sys
import time
from types import ModuleType
from typing import Any

from tokentrail.cache.entry import Entry
from tokentrail.instrumentation.semconv import CACHE_EXTENSION

HIT_HEADER = "x-tokentrail-cache"
ORIGINAL_MS_HEADER = "x-tokentrail-cache-original-ms"
AGE_HEADER = "x-tokentrail-cache-age-s"

_stream_classes: dict[str, type] = {}


def http_module(obj: Any) -> ModuleType:
    """`httpx` or `httpx2`: the package the SDK's request (or response) object comes from."""
    return sys.modules[type(obj).__module__.partition(".")[0]]


def _stream_class(mod: ModuleType) -> type:
    cls = _stream_classes.get(mod.__name__)
    if cls is None:

        class ReplayStream(mod.SyncByteStream, mod.AsyncByteStream):  # type: ignore[name-defined,misc]
            """Yields stored chunks, sync or async; nothing to release."""

            def __init__(self, chunks: list[bytes]) -> None:
                self._chunks = chunks

            def __iter__(self):  # type: ignore[no-untyped-def]
                yield from self._chunks

            async def __aiter__(self):  # type: ignore[no-untyped-def]
                for chunk in self._chunks:
                    yield chunk

            def close(self) -> None:
                pass

            async def aclose(self) -> None:
                pass

        cls = _stream_classes[mod.__name__] = ReplayStream
    return cls


def build_response(request: Any, entry: Entry, started: float) -> Any:
    """An unread streaming response for `request` carrying the entry's status, headers and chunks."""
    mod = http_module(request)
    headers = [
        *entry.headers,
        (HIT_HEADER, "hit"),
        (ORIGINAL_MS_HEADER, f"{entry.original_ms:.3f}"),
        (AGE_HEADER, f"{max(0.0, time.time() - entry.created):.3f}"),
    ]
    response = mod.Response(
        entry.status,
        headers=headers,
        stream=_stream_class(mod)(list(entry.iter_chunks())),
        request=request,
        extensions={"http_version": b"HTTP/1.1", "reason_phrase": b"OK", CACHE_EXTENSION: round(entry.original_ms, 3)},
    )
    response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
    return response
