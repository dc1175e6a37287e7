"""A stored response and its byte encoding, with enough checks to refuse corrupt data.

Layout: magic `TTC1`, 4-byte big-endian length of a JSON header, the header, then the body bytes.
The header carries the status, the response headers worth replaying, the chunk lengths of a stream
(so a replay hands the SDK the same chunks it saw), the original call's duration, the key digest
and a CRC-32 of the body. A value that fails any check (wrong magic, lengths, CRC, or a digest of
another key) is corrupt: the caller treats it as a miss and counts it, it never reaches the SDK.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"TTC1"
_HEADER_LEN = struct.Struct(">I")

#: Response headers never stored: hop-by-hop and length/encoding headers (the stored body is
#: already decoded), cookies, the account identifiers some providers echo back, and (by prefix)
#: rate-limit headers, which describe the account at the original call, not at the replay.
DROPPED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "date",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "x-tokentrail-cache",
        "x-tokentrail-cache-original-ms",
        "x-tokentrail-cache-age-s",
    }
)


DROPPED_PREFIXES = ("x-ratelimit-",)


def _kept(name: str) -> bool:
    return name not in DROPPED_HEADERS and not name.startswith(DROPPED_PREFIXES)


class CorruptEntry(ValueError):
    """A stored value that cannot be trusted."""


@dataclass(frozen=True)
class Entry:
    digest: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    chunks: tuple[int, ...] | None  # chunk lengths for a stream; None for a plain body
    original_ms: float
    created: float  # unix seconds

    @property
    def is_stream(self) -> bool:
        return self.chunks is not None

    def iter_chunks(self) -> Iterable[bytes]:
        if self.chunks is None:
            yield self.body
            return
        pos = 0
        for n in self.chunks:
            yield self.body[pos : pos + n]
            pos += n


def make_entry(
    digest: str,
    status: int,
    headers: Iterable[tuple[str, str]],
    chunks: list[bytes] | None,
    body: bytes | None,
    original_ms: float,
) -> Entry:
    """Build an entry from what the SDK received: either stream chunks or a whole body."""
    kept = tuple((k.lower(), v) for k, v in headers if _kept(k.lower()))
    if chunks is not None:
        lengths = tuple(len(c) for c in chunks if c)
        return Entry(digest, status, kept, b"".join(chunks), lengths, original_ms, time.time())
    return Entry(digest, status, kept, body or b"", None, original_ms, time.time())


def encode(entry: Entry) -> bytes:
    header = json.dumps(
        {
            "k": entry.digest,
            "s": entry.status,
            "h": entry.headers,
            "c": entry.chunks,
            "ms": entry.original_ms,
            "t": entry.created,
            "crc": zlib.crc32(entry.body),
            "n": len(entry.body),
        },
        separators=(",", ":"),
    ).encode()
    return b"".join((MAGIC, _HEADER_LEN.pack(len(header)), header, entry.body))


def decode(data: bytes, expected_digest: str) -> Entry:
    """Parse and verify a stored value; raise CorruptEntry on anything unexpected."""
    try:
        if data[:4] != MAGIC:
            raise CorruptEntry("bad magic")
        (hlen,) = _HEADER_LEN.unpack_from(data, 4)
        start = 8 + hlen
        if start > len(data):
            raise CorruptEntry("truncated header")
        meta = json.loads(data[8:start])
        body = data[start:]
        if meta["k"] != expected_digest:
            raise CorruptEntry("entry belongs to another key")
        if meta["n"] != len(body) or zlib.crc32(body) != meta["crc"]:
            raise CorruptEntry("body length or checksum mismatch")
        chunks = meta["c"]
        if chunks is not None:
            chunks = tuple(int(n) for n in chunks)
            if sum(chunks) != len(body) or any(n < 0 for n in chunks):
                raise CorruptEntry("chunk lengths do not add up")
        status = int(meta["s"])
        if not 200 <= status < 300:
            raise CorruptEntry(f"stored status {status} is not a success")
        headers = tuple((str(k), str(v)) for k, v in meta["h"])
        return Entry(expected_digest, status, headers, body, chunks, float(meta["ms"]), float(meta["t"]))
    except CorruptEntry:
        raise
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as err:
        raise CorruptEntry(f"unreadable entry: {type(err).__name__}") from err
