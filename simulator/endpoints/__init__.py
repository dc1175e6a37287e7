"""The API surface: URL path → endpoint function."""

from __future__ import annotations

from tokentrail.simulator.endpoints import chat

ROUTES = {
    "/v1/chat/completions": chat.handle,
}
