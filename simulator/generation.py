"""One model "turn", independent of the wire format: prose, structured JSON, or a tool call.

Chat Completions and Responses normalise their request into `TurnSpec` and render the `Turn`
this returns, so both APIs behave alike for the same input.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tokentrail.simulator import content, tokens

_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)(?!.*-chat)")
# Hidden reasoning tokens per effort, in units of 64 (the granularity OpenAI's counts show).
_EFFORT_UNITS = {"none": (0, 0), "minimal": (0, 0), "low": (1, 2), "medium": (2, 6), "high": (6, 16)}


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model))


@dataclass
class FunctionSpec:
    name: str
    parameters: dict[str, Any]


@dataclass
class TurnSpec:
    model: str
    functions: list[FunctionSpec] = field(default_factory=list)
    tool_choice: str | None = None  # "auto" | "none" | "required" | a function name
    after_tool_result: bool = False  # the last input is a tool's output: answer in prose
    json_mode: str | None = None  # None | "json_object" | "json_schema"
    schema: dict[str, Any] | None = None
    max_output_tokens: int | None = None  # includes reasoning tokens, as OpenAI counts them
    reasoning_effort: str | None = None
    reply_tokens: tuple[int, int] = (16, 64)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Turn:
    pieces: list[str]  # the visible text, in streaming order ([] for a tool call)
    tool_calls: list[ToolCall]
    reasoning_tokens: int
    output_tokens: int  # visible + reasoning
    finish: str  # "stop" | "length" | "tool_calls"

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def generate(spec: TurnSpec, rng: random.Random, new_id: Callable[[str], str]) -> Turn:
    """Deterministic for a given `rng` state; `new_id(prefix)` names tool calls."""
    budget = spec.max_output_tokens
    reasoning = 0
    if is_reasoning_model(spec.model):
        lo, hi = _EFFORT_UNITS.get(spec.reasoning_effort or "medium", _EFFORT_UNITS["medium"])
        reasoning = 64 * rng.randint(lo, hi)
        if budget is not None and reasoning >= budget:
            return Turn([], [], budget, budget, "length")
    visible_budget = None if budget is None else budget - reasoning

    function = _pick_function(spec, rng)
    if function is not None:
        args = content.json_text(content.instance_for_schema(function.parameters, rng))
        call = ToolCall(id=new_id("call_"), name=function.name, arguments=args)
        out = tokens.count(spec.model, function.name) + tokens.count(spec.model, args)
        finish = "stop" if spec.tool_choice not in (None, "auto", "required") else "tool_calls"
        return Turn([], [call], reasoning, out + reasoning, finish)

    if spec.json_mode is not None:
        if spec.json_mode == "json_schema" and spec.schema is not None:
            value = content.instance_for_schema(spec.schema, rng)
        else:
            value = {"answer": "".join(content.prose_pieces(rng, 8))}
        text = content.json_text(value)
        ids = tokens.tokenizer_for(spec.model).encode(text)
        finish = "stop"
        if visible_budget is not None and len(ids) > visible_budget:
            text = tokens.tokenizer_for(spec.model).truncate(text, visible_budget)
            finish = "length"
        pieces = content.split_text(text)
        return Turn(pieces, [], reasoning, tokens.count(spec.model, text) + reasoning, finish)

    # The reply the model "wants" to give; a budget cuts it off mid-sentence, as max_tokens does.
    pieces = content.prose_pieces(rng, rng.randint(*spec.reply_tokens))
    finish = "stop"
    if visible_budget is not None and len(pieces) > visible_budget:
        pieces, finish = pieces[:visible_budget], "length"
    out = tokens.count(spec.model, "".join(pieces))
    return Turn(pieces, [], reasoning, out + reasoning, finish)


def _pick_function(spec: TurnSpec, rng: random.Random) -> FunctionSpec | None:
    if not spec.functions or spec.tool_choice == "none":
        return None
    if spec.tool_choice not in (None, "auto", "required"):
        for f in spec.functions:
            if f.name == spec.tool_choice:
                return f
        return None
    if spec.tool_choice != "required" and spec.after_tool_result:
        return None
    return spec.functions[rng.randrange(len(spec.functions))]
