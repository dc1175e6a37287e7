"""Opt-in LLM response cache whose hits show up in traces and reports.

    import tokentrail
    tokentrail.cache.enable("redis://127.0.0.1:6379/0", namespace="tenant-a")   # whole process
    with tokentrail.cache.enable("memory"):                                    # one block
        ...
    tokentrail.cache.disable()
    tokentrail.cache.stats()   # hits, misses, errors by kind, saved_ms, hit_rate

See docs/cache.md for the key, what is stored, failure behaviour and telemetry.
"""

from __future__ import annotations

from tokentrail.cache.api import Cache, current, disable, enable
from tokentrail.cache.counters import reset as reset_stats
from tokentrail.cache.counters import snapshot as stats

__all__ = ["Cache", "current", "disable", "enable", "reset_stats", "stats"]
