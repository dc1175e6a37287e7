"""GET /v1/models: the model names the simulator is usually asked for (any name is accepted anyway)."""

from __future__ import annotations

from tokentrail.simulator.app import RequestContext
from tokentrail.simulator.replies import JsonReply

KNOWN_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "o3",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
)


def handle(ctx: RequestContext) -> JsonReply:
    data = [
        {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "tokentrail-simulator"}
        for m in KNOWN_MODELS
    ]
    return JsonReply({"object": "list", "data": data})
