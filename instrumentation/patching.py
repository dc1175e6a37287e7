"""Replace class attributes and put back exactly what was there.

We patch with plain functions rather than wrapt proxies: the wrappers sit on the hot path of
every API call, and a plain function closing over its original is the cheapest wrapper Python
has. Each replacement is recorded with what the class's own `__dict__` held before (or that it
held nothing and inherited), so `restore()` returns every class to its exact prior state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

_MISSING = object()
MARKER = "__tokentrail_wrapped__"


class Patches:
    """The set of live patches, restorable in reverse order."""

    def __init__(self) -> None:
        self._applied: list[tuple[type, str, Any]] = []

    def wrap(self, owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
        """Replace `owner.name` with `make(original)`; False (and no change) when absent."""
        original = getattr(owner, name, _MISSING)
        if original is _MISSING:
            return False
        if getattr(original, MARKER, False):
            return False  # already ours (e.g. instrumented through another entry point)
        own = owner.__dict__.get(name, _MISSING)
        wrapper = make(original)
        functools.update_wrapper(wrapper, original)
        setattr(wrapper, MARKER, True)
        setattr(owner, name, wrapper)
        self._applied.append((owner, name, own))
        return True

    def restore(self) -> None:
        while self._applied:
            owner, name, own = self._applied.pop()
            if own is _MISSING:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
            else:
                setattr(owner, name, own)

    def __len__(self) -> int:
        return len(self._applied)
