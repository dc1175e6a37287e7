"""A minimal protobuf wire-format reader for OTLP traces.

Why not the generated classes: with the upb backend, parsing is fast but every field access from
Python builds a wrapper object, so walking 25 attributes of a span costs ~90 µs. Reading the wire
format directly lets the decoder slice each `KeyValue` as raw bytes and memoise its decoded form
(LLM spans repeat most attribute pairs verbatim: operation, provider, model, host ...). The same
code runs as plain Python or compiled (collector/compiled.py).

Every function here takes `(buf, pos, end)` and raises `WireError` on malformed input; callers
never see IndexError or struct.error.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")
_U64_MASK = (1 << 64) - 1


class WireError(ValueError):
    """The bytes are not a valid protobuf encoding of the expected message."""


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos`; return (value, next position)."""
    if pos >= end:
        raise WireError("truncated varint")
    byte = buf[pos]
    pos += 1
    if byte < 0x80:
        return byte, pos
    result = byte & 0x7F
    shift = 7
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _U64_MASK, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field number, wire type, value, position after the field) for each field.

    For wire type 2 (length-delimited) `value` is the start of the payload and the returned
    position is its end, so the caller slices `buf[value:next_pos]`. For varints it is the
    decoded integer, for fixed64/fixed32 the raw unsigned integer.
    """
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number = key >> 3
        wire_type = key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == 2:
            length, pos = read_varint(buf, pos, end)
            stop = pos + length
            if stop > end:
                raise WireError("length-delimited field runs past the end of its message")
            yield number, 2, pos, stop
            pos = stop
        elif wire_type == 0:
            value, pos = read_varint(buf, pos, end)
            yield number, 0, value, pos
        elif wire_type == 1:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield number, 1, _FIXED64.unpack_from(buf, pos)[0], pos + 8
            pos += 8
        elif wire_type == 5:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield number, 5, _FIXED32.unpack_from(buf, pos)[0], pos + 4
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")


def as_double(raw: int) -> float:
    """Reinterpret the raw fixed64 bits of a `double` field."""
    return _DOUBLE.unpack(_FIXED64.pack(raw))[0]


def as_int64(raw: int) -> int:
    """Two's-complement view of a varint carrying an `int64`."""
    raw &= 0xFFFFFFFFFFFFFFFF
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def as_text(buf: bytes, start: int, stop: int) -> str:
    """UTF-8 text of a string field; invalid bytes become U+FFFD instead of failing the batch."""
    return buf[start:stop].decode("utf-8", "replace")
