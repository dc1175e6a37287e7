"""`enable()` / `disable()`: process-wide switches that double as scoped context managers and decorators.

`tokentrail.cache.enable(...)` turns the cache on for the whole process and returns a `Cache`.
Used as `with tokentrail.cache.enable(...):` or `@tokentrail.cache.enable(...)`, the same call
instead scopes the cache to that block or function: entering hands the process-wide setting back
to what it was and sets a context variable, so concurrent asyncio tasks and threads outside the
block are unaffected. `disable()` works the same way (scoped: no caching inside the block).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from tokentrail.cache import counters
from tokentrail.cache.backends import Backend, open_backend
from tokentrail.cache.keys import digest, endpoint_of, is_deterministic, normalise
from tokentrail.cache.store import CacheStore

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TTL_S = 24 * 3600.0
DEFAULT_TIMEOUT_MS = 50.0


@dataclass(frozen=True)
class Plan:
    """A cacheable request: its key digest and the endpoint that decides completeness."""

    digest: str
    endpoint: str


class _Off:
    def __repr__(self) -> str:
        return "<cache disabled in this scope>"


_OFF = _Off()
_scope: contextvars.ContextVar[Cache | _Off | None] = contextvars.ContextVar("tokentrail_cache", default=None)
#: Tokens of the blocks entered in this context, innermost last. Per context (not per handle), so one
#: handle shared by concurrent tasks resets each task's own token.
_entered: contextvars.ContextVar[tuple[contextvars.Token[Any], ...]] = contextvars.ContextVar(
    "tokentrail_cache_entered", default=())
_global: Cache | None = None
_lock = threading.Lock()


def current() -> Cache | None:
    """The cache that applies here: the innermost scope, else the process-wide one."""
    scoped = _scope.get()
    if scoped is None:
        return _global
    return None if scoped is _OFF else scoped  # type: ignore[return-value]


class _Scoped:
    """Shared machinery: a value for the context variable, claimable once from the global."""

    _scope_value: Any
    _previous: Cache | None
    _claimed: bool
    _active: int  # blocks using this handle right now, across threads and tasks

    def _claim(self) -> None:
        """First scoped use: undo the process-wide switch the constructor made."""
        global _global
        with _lock:
            if not self._claimed:
                self._claimed = True
                if _global is self._global_marker():
                    _global = self._previous
                elif _global is not None and _global._previous is self:
                    # a later enable() remembered this one as the setting to restore: skip it
                    _global._previous = self._previous
            self._previous = None

    def _global_marker(self) -> Cache | None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._claim()
        _entered.set((*_entered.get(), _scope.set(self._scope_value)))
        with _lock:
            self._active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        *outer, token = _entered.get()
        _scope.reset(token)
        _entered.set(tuple(outer))
        with _lock:
            self._active -= 1

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def __call__(self, fn: F) -> F:
        """Decorate `fn` so every call runs inside this scope (sync or async functions)."""
        self._claim()
        value = self._scope_value
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _scope.set(value)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _scope.reset(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _scope.set(value)
            try:
                return fn(*args, **kwargs)
            finally:
                _scope.reset(token)

        return wrapper  # type: ignore[return-value]


class Cache(_Scoped):
    """An enabled response cache: its settings and its guarded store."""

    def __init__(self, store: CacheStore, *, ignore_keys: tuple[str, ...], only_deterministic: bool,
                 previous: Cache | None) -> None:
        self.store = store
        self.namespace = store.namespace
        self.ignore_keys = ignore_keys
        self.only_deterministic = only_deterministic
        self._previous = previous
        self._claimed = False
        self._active = 0
        self._scope_value = self

    def __repr__(self) -> str:
        return (f"<tokentrail.cache.Cache backend={self.store.backend.name} namespace={self.namespace!r} "
                f"ttl={self.store.ttl_s} only_deterministic={self.only_deterministic}>")

    def _global_marker(self) -> Cache | None:
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if not self._active:
            self.store.backend.close()

    async def __aexit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if not self._active:
            aclose = getattr(self.store.backend, "aclose", None)
            if aclose is not None:
                await aclose()
            self.store.backend.close()

    def plan(self, request: Any) -> Plan | None:
        """Key a request, or None when it is not for the cache (counted as bypassed)."""
        endpoint = endpoint_of(request.method, request.url.path)
        if endpoint is None:
            return None
        try:
            body = json.loads(request.content)
        except Exception:  # noqa: BLE001 - unread stream, not JSON, not UTF-8: not for the cache
            body = None
        if not isinstance(body, dict) or (self.only_deterministic and not is_deterministic(body)):
            counters.incr("bypassed")
            return None
        norm = normalise(body, self.ignore_keys)
        return Plan(digest(self.namespace, request.method, str(request.url), norm), endpoint)

    def clear(self) -> int:
        """Delete this namespace's entries (e.g. after a prompt or policy change); returns how many.

        An administrative call, so unlike lookups it raises when the backend is unreachable.
        """
        delete = getattr(self.store.backend, "delete_prefix", None)
        if delete is None:
            raise NotImplementedError(f"the {self.store.backend.name} backend cannot delete entries")
        return delete(self.store.key(""))

    def close(self) -> None:
        """Release the backend's connections (a later call reconnects)."""
        self.store.backend.close()


class _Disabler(_Scoped):
    def __init__(self, previous: Cache | None) -> None:
        self._previous = previous
        self._claimed = False
        self._active = 0
        self._scope_value = _OFF

    def _global_marker(self) -> Cache | None:
        return None


def enable(
    backend: str | Backend = "memory",
    *,
    ttl: float | None = DEFAULT_TTL_S,
    namespace: str = "default",
    ignore_keys: Iterable[str] | str = (),
    only_deterministic: bool = True,
    timeout_ms: float = DEFAULT_TIMEOUT_MS,
    max_entries: int = 1024,
    max_bytes: int = 64 * 1024 * 1024,
    max_entry_bytes: int = 4 * 1024 * 1024,
    breaker_cooldown_s: float = 1.0,
) -> Cache:
    """Cache `chat.completions.create` and `responses.create` answers of every openai client.

    backend: "memory" (bounded in-process LRU) or "redis://host:port/db"; ttl: seconds an entry
    lives (None: until evicted); namespace: keeps tenants apart; ignore_keys: request body keys
    (dotted for nested ones, e.g. "metadata.trace") left out of the key; only_deterministic:
    cache only temperature-0 or seeded requests; timeout_ms: the most a backend call may add;
    breaker_cooldown_s: after a backend failure, skip the backend this long before one probe
    (doubling while it keeps failing, up to 30 s); max_entries/max_bytes bound the memory
    backend; max_entry_bytes skips storing larger responses.
    """
    global _global
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be a positive number of seconds or None, not {ttl!r}")
    if not isinstance(namespace, str) or not namespace:
        raise ValueError("namespace must be a non-empty string")
    if not breaker_cooldown_s > 0:
        raise ValueError(f"breaker_cooldown_s must be positive, not {breaker_cooldown_s!r}")
    if not timeout_ms > 0:
        raise ValueError(f"timeout_ms must be positive, not {timeout_ms!r}")
    keys = (ignore_keys,) if isinstance(ignore_keys, str) else tuple(ignore_keys)
    if not all(isinstance(k, str) and k for k in keys):
        raise ValueError("ignore_keys must be non-empty strings")

    from tokentrail.cache.sdk_patch import install

    install()
    store = CacheStore(
        open_backend(backend, timeout_ms=timeout_ms, max_entries=max_entries, max_bytes=max_bytes),
        namespace=namespace, ttl_s=ttl, max_entry_bytes=max_entry_bytes,
        breaker_cooldown_s=breaker_cooldown_s,
    )
    with _lock:
        previous = _global
        if previous is not None:
            previous._previous = None  # keep at most one generation reachable
        cache = Cache(store, ignore_keys=keys, only_deterministic=only_deterministic, previous=previous)
        _global = cache
    return cache


def disable() -> _Disabler:
    """Turn the process-wide cache off; as a context manager or decorator, only inside the block."""
    global _global
    with _lock:
        disabler = _Disabler(_global)
        _global = None
    return disabler
