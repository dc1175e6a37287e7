"""tokentrail: LLM observability and cost analytics, stored in your own DuckDB file.

The public entry points are resolved lazily so that `import tokentrail` stays cheap: an
application that only calls `tokentrail.instrument()` should not pay for pandas or DuckDB.
"""

from __future__ import annotations

import importlib
from typing import Any

from tokentrail._version import __version__

_LAZY = {
    "instrument": ("tokentrail.instrumentation", "instrument"),
    "uninstrument": ("tokentrail.instrumentation", "uninstrument"),
    "tags": ("tokentrail.instrumentation", "tags"),
    "count_tokens": ("tokentrail.analytics", "count_tokens"),
    "estimate_cost": ("tokentrail.analytics", "estimate_cost"),
}
_SUBMODULES = {"cache", "instrumentation", "collector", "analytics", "dashboards", "simulator"}

__all__ = ["__version__", *sorted(_LAZY), *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"tokentrail.{name}")
    raise AttributeError(f"module 'tokentrail' has no attribute {name!r}")
