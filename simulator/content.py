"""Deterministic model output: prose, JSON that satisfies a JSON Schema, and tool-call arguments.

Everything is drawn from a `random.Random` the caller seeds from (server seed, request), so the same
request to a server with the same seed always produces the same output, streamed or not.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

# Each word is a single token (with its leading space, and capitalised) in both o200k_base and
# cl100k_base, so a reply of N pieces is N completion tokens and `max_tokens` truncation is exact.
_WORD_TEXT = (
    "the of and to in is that for it as with was on be by this are from at or have an not but which all "
    "they were their one can has more been there also will would about if we so some other into its time "
    "than only new these two may first any like out could then them what over such our when most use made "
    "data model system token cost request response value trace span call query user report result number "
    "price budget cache stream batch error retry server client network agent tool answer question context "
    "window prompt simple quick small large fast slow good great clear early late high low long short open "
    "close next last same different important possible available common single total daily weekly monthly "
    "final ready signal sample metric record table column row event service product project team city river "
    "mountain ocean forest market bridge road light water stone paper music story letter door house room "
    "field plant animal bird fish tree season summer winter spring morning night day week month year today "
    "every each many much few several another between through during before after under above across along "
    "around behind beyond within without because while where until although however therefore thus indeed "
    "perhaps often always never sometimes usually again already still just even almost quite rather very "
    "really well"
)
WORDS = tuple(_WORD_TEXT.split())


def prose_pieces(rng: random.Random, n_tokens: int) -> list[str]:
    """`n_tokens` text pieces (one token each) forming sentences; joined they are the reply text."""
    words = iter(rng.choices(WORDS, k=n_tokens))
    pieces: list[str] = []
    while len(pieces) < n_tokens:
        length = min(rng.randint(6, 16), n_tokens - len(pieces))  # words + the full stop
        first = next(words).capitalize()
        pieces.append(" " + first if pieces else first)
        if length == 1:
            break
        pieces.extend(" " + next(words) for _ in range(length - 2))
        pieces.append(".")
    return pieces


def split_text(text: str, size: int = 6) -> list[str]:
    """Stream pieces for text that is not made of prose pieces (JSON, tool arguments)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# ---------------------------------------------------------------- JSON Schema → instance


# Below this nesting depth a nullable value is always filled in; from it on, it is null.
_NULL_FROM_DEPTH = 4


class SchemaError(ValueError):
    """The schema uses something we can't satisfy (reported to the client as a 400)."""


def instance_for_schema(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value valid against `schema` (the subset OpenAI structured outputs and Pydantic emit)."""
    return _Gen(schema, rng).value(schema, depth=0)


class _Gen:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise SchemaError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"unresolvable $ref {ref!r}")
            node = node[part]
        return node

    def value(self, schema: Any, depth: int) -> Any:
        rng = self.rng
        if schema is True or schema == {}:
            return self.words(2)
        if not isinstance(schema, dict):
            raise SchemaError("schema nodes must be objects")
        if depth > 12:
            return None
        if "$ref" in schema:
            return self.value(self.resolve(schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")]
                if not options or (len(options) < len(schema[key]) and depth >= _NULL_FROM_DEPTH):
                    return None  # nullable and deep: stop here (recursive models end this way)
                return self.value(options[0], depth + 1)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self.resolve(part["$ref"]) if "$ref" in part else part
                merged.update(part)
            return self.value(merged, depth + 1)
        typ = schema.get("type")
        if isinstance(typ, list):
            non_null = [t for t in typ if t != "null"]
            typ = non_null[0] if non_null else "null"
        if typ is None:
            typ = "object" if "properties" in schema else ("array" if "items" in schema else "string")
        if typ == "object":
            return self.obj(schema, depth)
        if typ == "array":
            if "prefixItems" in schema:  # a tuple: one value per position
                return [self.value(item, depth + 1) for item in schema["prefixItems"]]
            lo = int(schema.get("minItems", 1))
            hi = max(lo, min(int(schema.get("maxItems", 3)), lo + 2))
            items = schema.get("items", {})
            return [self.value(items, depth + 1) for _ in range(rng.randint(lo, hi))]
        if typ == "string":
            return self.string(schema)
        if typ == "integer":
            lo = (
                int(schema["minimum"]) if "minimum" in schema else int(schema.get("exclusiveMinimum", -1)) + 1
            )
            hi = (
                int(schema["maximum"])
                if "maximum" in schema
                else int(schema.get("exclusiveMaximum", lo + 101)) - 1
            )
            return rng.randint(lo, max(lo, hi))
        if typ == "number":
            lo = float(schema.get("minimum", schema.get("exclusiveMinimum", 0.0)))
            hi = float(schema.get("maximum", schema.get("exclusiveMaximum", lo + 100.0)))
            # Stay clear of the bounds, so exclusive ones hold too (and rounding can't cross them).
            return round(lo + (max(lo, hi) - lo) * rng.uniform(0.05, 0.95), 4)
        if typ == "boolean":
            return rng.random() < 0.5
        if typ == "null":
            return None
        raise SchemaError(f"unsupported schema type {typ!r}")

    def obj(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {}) or {}
        required = schema.get("required")
        # Strict schemas list every property as required; otherwise fill required ones plus the rest.
        names = list(props) if required is None else list(dict.fromkeys([*required, *props]))
        out: dict[str, Any] = {}
        for name in names:
            sub = props.get(name, {})
            out[name] = self.value(sub, depth + 1)
        return out

    def string(self, schema: dict[str, Any]) -> str:
        rng = self.rng
        fmt = schema.get("format")
        if fmt == "date-time":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
        if fmt == "date":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if fmt == "time":
            return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
        if fmt == "email":
            return f"{rng.choice(WORDS)}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/{rng.choice(WORDS)}"
        if fmt == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        text = self.words(rng.randint(1, 4))
        min_len = int(schema.get("minLength", 0))
        max_len = schema.get("maxLength")
        while len(text) < min_len:
            text += " " + rng.choice(WORDS)
        if max_len is not None:
            text = text[: int(max_len)]
        return text

    def words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
