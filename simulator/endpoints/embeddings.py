"""POST /v1/embeddings: deterministic unit vectors, as float lists or base64 float32."""

from __future__ import annotations

import base64
import hashlib
from array import array
from typing import Any

import numpy as np
from tokentrail.simulator import tokens, validate
from tokentrail.simulator.app import RequestContext
from tokentrail.simulator.errors import bad_request, invalid_value, missing, wrong_type
from tokentrail.simulator.replies import JsonReply
from tokentrail.simulator.usage import embeddings_usage

NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_MAX_INPUTS = 2048


def handle(ctx: RequestContext) -> JsonReply:
    body = ctx.body
    model = validate.model(body)
    inputs = _inputs(body)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise invalid_value(
            "encoding_format", f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'."
        )
    native = NATIVE_DIMENSIONS.get(model, 1536)
    dims = validate.opt_int(body, "dimensions", 1, native)
    if dims is not None and model == "text-embedding-ada-002":
        raise bad_request("This model does not support specifying dimensions.", param="dimensions")
    dims = dims or native

    tok = tokens.tokenizer_for(model)
    prompt_tokens = 0
    data = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            prompt_tokens += len(tok.encode(item))
            key = item.encode("utf-8")
        else:
            prompt_tokens += len(item)
            key = array("q", item).tobytes() + b"\0tokens"
        vector = _vector(ctx.config.seed, model, key, dims)
        encoded: Any = (
            base64.b64encode(vector.tobytes()).decode() if encoding == "base64" else vector.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    body_out = {"object": "list", "data": data, "model": model, "usage": embeddings_usage(prompt_tokens)}
    return JsonReply(body_out, delay_s=ctx.first_token_delay(prompt_tokens))


def _inputs(body: dict[str, Any]) -> list[str | list[int]]:
    """Normalise `input` (a string, strings, a token array or token arrays) to a list of items."""
    inp = body.get("input")
    if inp is None:
        raise missing("input")
    if isinstance(inp, str):
        items: list[Any] = [inp]
    elif isinstance(inp, list) and inp and all(isinstance(t, int) and not isinstance(t, bool) for t in inp):
        items = [inp]
    elif isinstance(inp, list):
        items = inp
    else:
        raise wrong_type("input", "one of a string or array", inp)
    if not items:
        raise invalid_value("input", "'$.input' is invalid: expected at least one input.")
    if len(items) > _MAX_INPUTS:
        raise invalid_value("input", f"'$.input' is invalid: at most {_MAX_INPUTS} inputs per request.")
    for i, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise invalid_value(f"input[{i}]", "'$.input' is invalid: inputs must not be empty strings.")
        elif not (isinstance(item, list) and item and all(isinstance(t, int) for t in item)):
            raise wrong_type(f"input[{i}]", "a string or an array of token ids", item)
    return items


def _vector(seed: int, model: str, key: bytes, dims: int) -> np.ndarray:
    """A float32 unit vector that depends only on (seed, model, input): the same text embeds the same.

    Little-endian float32 is also exactly what `encoding_format="base64"` carries on the wire.
    """
    raw = hashlib.shake_256(f"{seed}\0{model}\0".encode() + key).digest(2 * dims)
    values = np.frombuffer(raw, dtype="<i2").astype("<f4")
    norm = float(np.sqrt(np.dot(values, values))) or 1.0
    return values / np.float32(norm)
