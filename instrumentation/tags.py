"""`tokentrail.tags(...)`: attach user, session, feature and free tags to every LLM span inside.

Tags live in a ContextVar holding an already-converted attribute mapping, so the per-call cost
in the instrumentation is one `ContextVar.get` and a dict merge. ContextVars follow `await`,
are copied into asyncio tasks at creation, and into threads started with a copied context
(`contextvars.copy_context().run`, `asyncio.to_thread`, OTel-aware executors).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, TypeVar

from tokentrail.instrumentation import semconv

_EMPTY: Mapping[str, Any] = MappingProxyType({})
CURRENT_TAGS: ContextVar[Mapping[str, Any]] = ContextVar("tokentrail_tags", default=_EMPTY)

F = TypeVar("F", bound=Callable[..., Any])


def _value(value: Any) -> str | bool | int | float:
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def tag_attributes(
    user_id: Any = None, session_id: Any = None, feature: Any = None, **free: Any
) -> dict[str, Any]:
    """Span attributes for the given tags; None values are left out."""
    attrs: dict[str, Any] = {}
    if user_id is not None:
        attrs[semconv.USER_ID] = str(user_id)
    if session_id is not None:
        attrs[semconv.SESSION_ID] = str(session_id)
    if feature is not None:
        attrs[semconv.FEATURE] = str(feature)
    for key, value in free.items():
        if value is not None:
            attrs[semconv.TAG_PREFIX + key] = _value(value)
    return attrs


class tags:  # noqa: N801 - used like a function: `with tokentrail.tags(...)`, `@tokentrail.tags(...)`
    """Context manager and decorator setting tags on every LLM span created inside.

    Nested blocks merge, the inner value winning per key. The decorator works on sync and
    async functions (and re-enters the tags on every call, so it is safe across threads).
    """

    def __init__(self, user_id: Any = None, session_id: Any = None, feature: Any = None, **free: Any) -> None:
        self._attrs = tag_attributes(user_id, session_id, feature, **free)
        self._tokens: list[Token[Mapping[str, Any]]] = []

    def _push(self) -> Token[Mapping[str, Any]]:
        merged = {**CURRENT_TAGS.get(), **self._attrs}
        return CURRENT_TAGS.set(MappingProxyType(merged))

    def __enter__(self) -> tags:
        self._tokens.append(self._push())
        return self

    def __exit__(self, *exc: object) -> None:
        CURRENT_TAGS.reset(self._tokens.pop())

    async def __aenter__(self) -> tags:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = self._push()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    CURRENT_TAGS.reset(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = self._push()
            try:
                return fn(*args, **kwargs)
            finally:
                CURRENT_TAGS.reset(token)

        return wrapper  # type: ignore[return-value]


def current_tags() -> dict[str, Any]:
    """The tag attributes in force here (a copy)."""
    return dict(CURRENT_TAGS.get())
