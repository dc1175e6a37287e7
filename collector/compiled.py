"""Which of the decoder's modules run compiled, and the plain-Python build of them for comparison.

setup.py compiles `MODULES` with Cython: the same .py sources, with C types from the .pxd beside
each. bench/bench_collector.py: decoding a span into its Arrow rows takes ~11 µs of CPU compiled
against ~14 µs as plain Python (~36 % fewer instructions under callgrind), and the collector's
throughput rose from ~48-52k to ~52-58k spans/s. Without a C compiler the install goes on without
them and they run as plain Python, with the same rows; the collector then says so when it starts.

This module imports nothing from tokentrail at load time: setup.py reads `MODULES` from it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULES = ("wire", "values", "normalise", "decode")
PACKAGE = "tokentrail.collector"
_SOURCES = Path(__file__).resolve().parent


def is_compiled(name: str) -> bool:
    """Whether `tokentrail.collector.<name>` was loaded from an extension module."""
    spec = importlib.import_module(f"{PACKAGE}.{name}").__spec__
    return isinstance(getattr(spec, "loader", None), importlib.machinery.ExtensionFileLoader)


def all_compiled() -> bool:
    return all(is_compiled(name) for name in MODULES)


class _SourceOnly(importlib.abc.MetaPathFinder):
    """Finds the decoder modules' .py files, never their extension modules."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != PACKAGE or name not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, _SOURCES / f"{name}.py")


def plain_python(name: str = "decode") -> ModuleType:
    """A separate, plain-Python instance of `tokentrail.collector.<name>` and of the decoder
    modules it imports (own caches included). The modules already imported stay as they were."""
    saved = {m: sys.modules.pop(f"{PACKAGE}.{m}") for m in MODULES if f"{PACKAGE}.{m}" in sys.modules}
    finder = _SourceOnly()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.meta_path.remove(finder)
        package = sys.modules[PACKAGE]
        for m in MODULES:  # the import also set the package's attributes: put both back
            sys.modules.pop(f"{PACKAGE}.{m}", None)
            if m in saved:
                sys.modules[f"{PACKAGE}.{m}"] = saved[m]
                setattr(package, m, saved[m])
            elif hasattr(package, m):
                delattr(package, m)
