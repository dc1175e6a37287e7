"""The API surface: (method, URL path) → endpoint function."""

from __future__ import annotations

from tokentrail.simulator.endpoints import chat, completions, embeddings, models, responses

ROUTES = {
    ("POST", "/v1/chat/completions"): chat.handle,
    ("POST", "/v1/responses"): responses.handle,
    ("POST", "/v1/embeddings"): embeddings.handle,
    ("POST", "/v1/completions"): completions.handle,
    ("GET", "/v1/models"): models.handle,
}
