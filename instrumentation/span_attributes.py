"""Setting a call's end attributes on an OpenTelemetry SDK span without the SDK's cleaning pass.

The SDK's `Span.set_attributes` runs every value through its recursive cleaner (type checks,
list-to-tuple conversion, optional truncation) and its bounded-dict bookkeeping: about 80 Python
opcodes per attribute, for a dozen values tokentrail has just built as plain `str`, `int`,
`float`, `bool` or tuples of `str`, which the cleaner would return unchanged. That pass was a fifth of
the instructions instrumenting a chat call adds (`bench/bench_instrumentation.py --instructions`).

So when the span is the SDK's own, its string values need no truncation, there is room for every
value and each value is one the cleaner leaves as it is, the values go straight into the span's
attribute dict under the same two locks the SDK takes. In every other case (another tracer
implementation, an attribute length or count limit that could apply, a value of any other type,
an ended span) the public `set_attributes` runs. The SDK internals this relies on are checked
once, on a throw-away span, when this module is imported: if they are not as expected, every
call takes the public path.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tokentrail.instrumentation")

_PLAIN = frozenset((str, int, float, bool))
_PLAIN_OR_TUPLE = _PLAIN | {tuple}
_STR = frozenset((str,))


def _sdk_span_type() -> type | None:
    """The SDK's span class, if its attribute storage is what `set_end_attributes` expects."""
    try:
        from opentelemetry.attributes import BoundedAttributes
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider, _Span
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        provider = TracerProvider(sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False)
        span = provider.get_tracer("tokentrail.probe").start_span("probe", attributes={"a": 1})
        bounded = span._attributes
        usable = (type(span) is _Span and type(bounded) is BoundedAttributes
                  and type(bounded._dict) is dict and bounded._dict == {"a": 1}
                  and bounded._immutable is False and span._end_time is None
                  and all(hasattr(bounded, name) for name in ("maxlen", "max_value_len", "_lock"))
                  and hasattr(span._lock, "__enter__") and hasattr(bounded._lock, "__enter__"))
        span.end()
        return _Span if usable else None
    except Exception:  # any SDK without these internals: the public path only
        log.debug("tokentrail: the SDK span fast path is off", exc_info=True)
        return None


_SDK_SPAN = _sdk_span_type()


def _clean(values: Any) -> bool:
    """True when the SDK's cleaner would return every value unchanged (string limits aside)."""
    if _PLAIN.issuperset(map(type, values)):
        return True
    if not _PLAIN_OR_TUPLE.issuperset(map(type, values)):
        return False
    return all(_STR.issuperset(map(type, value)) for value in values if type(value) is tuple)


def set_end_attributes(span: Any, attrs: dict[str, Any]) -> None:
    """`span.set_attributes(attrs)`, minus the SDK's cleaning of values that are already clean."""
    if type(span) is _SDK_SPAN:
        bounded = span._attributes
        maxlen = bounded.maxlen
        if (bounded.max_value_len is None and (maxlen is None or len(bounded._dict) + len(attrs) <= maxlen)
                and _clean(attrs.values())):
            with span._lock:
                if span._end_time is None:
                    with bounded._lock:
                        bounded._dict.update(attrs)
                    return
    span.set_attributes(attrs)
