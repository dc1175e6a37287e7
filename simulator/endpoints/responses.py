"""POST /v1/responses: non-streaming, and streaming with the typed events through response.completed."""

from __future__ import annotations

import json
import time
from typing import Any

from tokentrail.simulator import tokens, validate
from tokentrail.simulator.app import RequestContext
from tokentrail.simulator.errors import bad_request, invalid_value, missing, wrong_type
from tokentrail.simulator.generation import FunctionSpec, Turn, TurnSpec, generate, is_reasoning_model
from tokentrail.simulator.prompt_cache import prompt_usage
from tokentrail.simulator.replies import JsonReply, StreamReply
from tokentrail.simulator.usage import responses_usage


def handle(ctx: RequestContext) -> JsonReply | StreamReply:
    body = ctx.body
    model = validate.model(body)
    messages, after_tool_result = _input_messages(body)
    stream = validate.opt_bool(body, "stream")
    validate.opt_number(body, "temperature", 0, 2)
    validate.opt_number(body, "top_p", 0, 1)
    max_output = validate.opt_int(body, "max_output_tokens", 16)
    reasoning_cfg = validate.opt_dict(body, "reasoning") or {}
    spec = TurnSpec(
        model=model,
        functions=_functions(body),
        tool_choice=_tool_choice(body),
        after_tool_result=after_tool_result,
        max_output_tokens=max_output,
        reasoning_effort=reasoning_cfg.get("effort"),
        reply_tokens=ctx.config.reply_tokens,
    )
    text_cfg, spec.json_mode, spec.schema = _text_format(body)

    input_tokens, cached = prompt_usage(ctx.sim.prompt_cache, model, messages, body.get("tools"))

    turn = generate(spec, ctx.rng, ctx.new_id)
    usage = responses_usage(input_tokens, turn.output_tokens, cached=cached, reasoning=turn.reasoning_tokens)
    reasoning = is_reasoning_model(model)
    items = _output_items(ctx, turn, reasoning)
    incomplete = turn.finish == "length"
    response = {
        "id": ctx.new_id("resp_", 48),
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": max_output,
        "metadata": body.get("metadata") or {},
        "model": model,
        "output": items,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {
            "effort": reasoning_cfg.get("effort", "medium" if reasoning else None),
            "summary": None,
        },
        "service_tier": "default" if body.get("service_tier") in (None, "auto") else body["service_tier"],
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text_cfg,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": usage,
        "user": body.get("user"),
    }
    ttft = ctx.first_token_delay(input_tokens, turn.reasoning_tokens)
    if not stream:
        visible = turn.output_tokens - turn.reasoning_tokens
        return JsonReply(response, delay_s=ttft + ctx.per_token_delay() * visible)
    return _stream(ctx, response, turn, ttft)


# ---------------------------------------------------------------- request


def _input_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The input as chat-like messages (for token counting), and whether it ends with a tool result."""
    inp = body.get("input")
    if inp is None:
        raise missing("input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise wrong_type("instructions", "a string", instructions)
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "developer", "content": instructions})
    if isinstance(inp, str):
        messages.append({"role": "user", "content": inp})
        return messages, False
    if not isinstance(inp, list):
        raise wrong_type("input", "one of a string or array", inp)
    if not inp:
        raise invalid_value("input", "Invalid 'input': empty array. Expected at least one input item.")
    last_type = None
    for i, item in enumerate(inp):
        if not isinstance(item, dict):
            raise wrong_type(f"input[{i}]", "an object", item)
        kind = item.get("type", "message")
        last_type = kind
        if kind == "message":
            if "role" not in item:
                raise missing(f"input[{i}].role")
            if "content" not in item:
                raise missing(f"input[{i}].content")
            messages.append({"role": item["role"], "content": item["content"]})
        elif kind == "function_call_output":
            if "call_id" not in item:
                raise missing(f"input[{i}].call_id")
            messages.append({"role": "tool", "content": tokens.flatten(item.get("output", ""))})
        else:  # function_call, reasoning, ...: the model sees them as structured text
            fields = {k: v for k, v in item.items() if k not in ("id", "status", "type")}
            messages.append({"role": "assistant", "content": json.dumps(fields, sort_keys=True)})
    return messages, last_type == "function_call_output"


def _functions(body: dict[str, Any]) -> list[FunctionSpec]:
    out = []
    for i, tool in enumerate(validate.opt_list(body, "tools") or []):
        if not isinstance(tool, dict):
            raise wrong_type(f"tools[{i}]", "an object", tool)
        if tool.get("type") != "function":
            continue  # hosted tools (web_search, file_search, ...) are accepted and never called
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise missing(f"tools[{i}].name")
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        out.append(FunctionSpec(name, params))
    return out


def _tool_choice(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return choice["name"]
    if isinstance(choice, dict):
        return "auto"  # a hosted tool forced: we never call hosted tools, answer in text
    raise invalid_value("tool_choice", f"Invalid value for 'tool_choice': {choice!r}.")


def _text_format(body: dict[str, Any]) -> tuple[dict[str, Any], str | None, dict[str, Any] | None]:
    text = validate.opt_dict(body, "text") or {}
    fmt = text.get("format") or {"type": "text"}
    if not isinstance(fmt, dict):
        raise wrong_type("text.format", "an object", fmt)
    kind = fmt.get("type")
    echoed = {**text, "format": fmt}
    if kind == "text":
        return echoed, None, None
    if kind == "json_object":
        return echoed, "json_object", None
    if kind == "json_schema":
        if not fmt.get("name"):
            raise missing("text.format.name")
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise missing("text.format.schema")
        return echoed, "json_schema", schema
    raise bad_request(
        f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and 'json_schema'.",
        param="text.format.type",
        code="invalid_value",
    )


# ---------------------------------------------------------------- response


def _output_items(ctx: RequestContext, turn: Turn, reasoning: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reasoning:
        items.append({"id": ctx.new_id("rs_", 48), "type": "reasoning", "summary": []})
    for call in turn.tool_calls:
        items.append(
            {
                "id": ctx.new_id("fc_", 48),
                "type": "function_call",
                "status": "completed",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
    if not turn.tool_calls and (turn.pieces or not reasoning):
        items.append(
            {
                "id": ctx.new_id("msg_", 48),
                "type": "message",
                "status": "incomplete" if turn.finish == "length" else "completed",
                "role": "assistant",
                "content": [_text_part(turn.text)],
            }
        )
    return items


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _stream(ctx: RequestContext, response: dict[str, Any], turn: Turn, ttft: float) -> StreamReply:
    out = StreamReply()
    seq = 0
    per_token = ctx.per_token_delay()

    def emit(event: dict[str, Any], delay: float = 0.0) -> None:
        nonlocal seq
        out.event({**event, "sequence_number": seq}, delay)
        seq += 1

    pending = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    emit({"type": "response.created", "response": pending})
    emit({"type": "response.in_progress", "response": pending})
    first = True
    for index, item in enumerate(response["output"]):
        delay = ttft if first else 0.0
        first = False
        base = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            emit(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "content": []},
                },
                delay,
            )
            emit({"type": "response.content_part.added", **base, "content_index": 0, "part": _text_part("")})
            for piece in turn.pieces:
                emit(
                    {
                        "type": "response.output_text.delta",
                        **base,
                        "content_index": 0,
                        "delta": piece,
                        "logprobs": [],
                    },
                    per_token,
                )
            emit(
                {
                    "type": "response.output_text.done",
                    **base,
                    "content_index": 0,
                    "text": turn.text,
                    "logprobs": [],
                }
            )
            emit(
                {
                    "type": "response.content_part.done",
                    **base,
                    "content_index": 0,
                    "part": _text_part(turn.text),
                }
            )
        elif item["type"] == "function_call":
            emit(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "arguments": ""},
                },
                delay,
            )
            args = item["arguments"]
            for i in range(0, len(args), 8):
                emit(
                    {"type": "response.function_call_arguments.delta", **base, "delta": args[i : i + 8]},
                    per_token,
                )
            emit(
                {
                    "type": "response.function_call_arguments.done",
                    **base,
                    "name": item["name"],
                    "arguments": args,
                }
            )
        else:
            emit({"type": "response.output_item.added", "output_index": index, "item": item}, delay)
        emit({"type": "response.output_item.done", "output_index": index, "item": item})
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    emit({"type": final, "response": response})
    return out
