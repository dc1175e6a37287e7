"""OTLP/JSON → protobuf bytes, so JSON requests share the protobuf decoder.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that matters: trace and span
ids are hex strings, while `json_format` would decode `bytes` fields as base64 (silently giving
wrong ids). Ids are therefore converted from hex here before `ParseDict`. An id that is not valid
hex is blanked, so that span is rejected individually (partial success) rather than the request.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tokentrail.collector.decode import DecodeError

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_to_b64(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return ""
    return base64.b64encode(raw).decode("ascii")


def _fix_ids(obj: dict[str, Any]) -> None:
    for name in _ID_FIELDS:
        if name in obj:
            obj[name] = _hex_to_b64(obj[name])


def _list(obj: Any, *names: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise DecodeError("malformed OTLP/JSON: expected an object")
    for name in names:
        value = obj.get(name)
        if value is not None:
            if not isinstance(value, list):
                raise DecodeError(f"malformed OTLP/JSON: {name} must be an array")
            return value
    return []


def json_to_protobuf(body: bytes) -> bytes:
    """Serialized ExportTraceServiceRequest for an OTLP/JSON body; DecodeError if malformed."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("malformed OTLP/JSON: the body must be an object")
    for resource_spans in _list(doc, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                if not isinstance(span, dict):
                    raise DecodeError("malformed OTLP/JSON: a span must be an object")
                _fix_ids(span)
                for link in _list(span, "links"):
                    if isinstance(link, dict):
                        _fix_ids(link)
    message = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True, max_recursion_depth=64)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise DecodeError(f"malformed OTLP/JSON: {exc}") from None
    return message.SerializeToString()
