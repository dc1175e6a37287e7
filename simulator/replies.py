"""What an endpoint hands back to the HTTP layer: a JSON body, or a paced list of SSE frames."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = b"data: [DONE]\n\n"


@dataclass
class JsonReply:
    body: dict[str, Any]
    delay_s: float = 0.0  # the whole generation time, spent before answering
    status: int = 200


@dataclass
class Frame:
    data: bytes
    delay_s: float = 0.0  # wait before sending this frame


@dataclass
class StreamReply:
    frames: list[Frame] = field(default_factory=list)

    def data(self, obj: dict[str, Any], delay_s: float = 0.0) -> None:
        """A chat/completions style frame: `data: {json}`."""
        self.frames.append(Frame(b"data: " + _dumps(obj) + b"\n\n", delay_s))

    def event(self, obj: dict[str, Any], delay_s: float = 0.0) -> None:
        """A Responses API frame: `event: <type>` then `data: {json}`."""
        head = b"event: " + obj["type"].encode() + b"\n"
        self.frames.append(Frame(head + b"data: " + _dumps(obj) + b"\n\n", delay_s))

    def done(self) -> None:
        self.frames.append(Frame(DONE))


def dumps(obj: Any) -> bytes:
    return _dumps(obj)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
