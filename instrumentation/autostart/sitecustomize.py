"""Imported by Python at startup when `tokentrail run` put this directory on PYTHONPATH.

It instruments the openai SDK from the environment `tokentrail run` prepared (TOKENTRAIL_ENDPOINT,
TOKENTRAIL_DB, OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_PROTOCOL, the content-capture variable), then
runs the next `sitecustomize` on sys.path, if any, so an existing one keeps working. A failure
here prints one line and lets the program run untraced.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _instrument() -> None:
    if os.environ.get("TOKENTRAIL_AUTO_INSTRUMENT") != "1":
        return
    try:
        import tokentrail

        tokentrail.instrument()
    except Exception as exc:  # never stop the program over telemetry
        print(f"tokentrail: not instrumented: {exc}", file=sys.stderr)


def _chain() -> None:
    others = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_instrument()
_chain()
