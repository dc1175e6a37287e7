"""POST /v1/chat/completions: non-streaming, SSE streaming (with the usage chunk), n>1, tools, JSON."""

from __future__ import annotations

import time
from typing import Any

from tokentrail.simulator import validate
from tokentrail.simulator.app import RequestContext
from tokentrail.simulator.errors import bad_request, invalid_value, missing, wrong_type
from tokentrail.simulator.generation import FunctionSpec, Turn, TurnSpec, generate
from tokentrail.simulator.prompt_cache import prompt_usage
from tokentrail.simulator.replies import JsonReply, StreamReply
from tokentrail.simulator.usage import chat_usage

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def handle(ctx: RequestContext) -> JsonReply | StreamReply:
    body = ctx.body
    model = validate.model(body)
    messages = _messages(body)
    n = validate.opt_int(body, "n", 1, 128) or 1
    stream = validate.opt_bool(body, "stream")
    include_usage = validate.stream_options(body, stream)
    validate.opt_number(body, "temperature", 0, 2)
    validate.opt_number(body, "top_p", 0, 1)
    validate.opt_int(body, "seed")
    max_tokens = validate.opt_int(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = validate.opt_int(body, "max_tokens", 1)
    spec = TurnSpec(
        model=model,
        functions=_functions(body),
        tool_choice=_tool_choice(body),
        after_tool_result=messages[-1].get("role") in ("tool", "function"),
        max_output_tokens=max_tokens,
        reasoning_effort=body.get("reasoning_effort"),
        reply_tokens=ctx.config.reply_tokens,
    )
    spec.json_mode, spec.schema = _response_format(body)

    prompt_tokens, cached = prompt_usage(ctx.sim.prompt_cache, model, messages, body.get("tools"))

    turns = [generate(spec, ctx.rng, ctx.new_id) for _ in range(n)]
    completion = sum(t.output_tokens for t in turns)
    reasoning = sum(t.reasoning_tokens for t in turns)
    usage = chat_usage(prompt_tokens, completion, cached=cached, reasoning=reasoning)
    head = {
        "id": ctx.new_id("chatcmpl-", 29),
        "created": int(time.time()),
        "model": model,
        "service_tier": _service_tier(body),
        "system_fingerprint": "fp_sim" + format(ctx.config.seed & 0xFFFFFF, "06x"),
    }
    ttft = ctx.first_token_delay(prompt_tokens, reasoning)
    if not stream:
        delay = ttft + ctx.per_token_delay() * max(0, completion - reasoning)
        return JsonReply(
            {
                **head,
                "object": "chat.completion",
                "choices": [_choice(i, t) for i, t in enumerate(turns)],
                "usage": usage,
            },
            delay_s=delay,
        )
    return _stream(ctx, head, turns, usage if include_usage else None, ttft)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise wrong_type("messages", "an array", messages)
    if not messages:
        raise invalid_value(
            "messages",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
        )
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise wrong_type(param, "an object", message)
        role = message.get("role")
        if role is None:
            raise missing(f"{param}.role")
        if role not in _ROLES:
            raise invalid_value(
                f"{param}.role",
                f"Invalid value: '{role}'. Supported values are: "
                + ", ".join(f"'{r}'" for r in sorted(_ROLES))
                + ".",
            )
        content = message.get("content")
        if content is None and role != "assistant":
            raise missing(f"{param}.content")
        if content is not None and not isinstance(content, str | list):
            raise wrong_type(f"{param}.content", "one of a string or array", content)
    return messages


def _functions(body: dict[str, Any]) -> list[FunctionSpec]:
    tools = validate.opt_list(body, "tools") or []
    out = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or tool.get("type", "function") != "function":
            raise invalid_value(
                f"tools[{i}]",
                f"Invalid 'tools[{i}]': expected a function tool "
                "({'type': 'function', 'function': {...}}).",
            )
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise missing(f"tools[{i}].function.name")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise wrong_type(f"tools[{i}].function.parameters", "an object", params)
        out.append(FunctionSpec(name, params))
    return out


def _tool_choice(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not body.get("tools") and choice != "none":
        raise invalid_value(
            "tool_choice",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        )
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if isinstance(name, str) and any(
            (t.get("function") or {}).get("name") == name for t in body.get("tools") or []
        ):
            return name
        raise invalid_value(
            "tool_choice", f"Invalid value for 'tool_choice': function {name!r} is not in 'tools'."
        )
    raise invalid_value(
        "tool_choice",
        "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}.",
    )


def _response_format(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    fmt = validate.opt_dict(body, "response_format")
    if fmt is None or fmt.get("type") == "text":
        return None, None
    if fmt.get("type") == "json_object":
        return "json_object", None
    if fmt.get("type") == "json_schema":
        js = fmt.get("json_schema")
        if not isinstance(js, dict):
            raise missing("response_format.json_schema")
        if not js.get("name"):
            raise missing("response_format.json_schema.name")
        schema = js.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise wrong_type("response_format.json_schema.schema", "an object", schema)
        return "json_schema", schema or {"type": "object", "properties": {}}
    raise bad_request(
        f"Invalid value: {fmt.get('type')!r}. Supported values are: 'text', 'json_object' and 'json_schema'.",
        param="response_format.type",
        code="invalid_value",
    )


def _service_tier(body: dict[str, Any]) -> str:
    tier = body.get("service_tier")
    return "default" if tier in (None, "auto") else str(tier)


def _message(turn: Turn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if turn.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in turn.tool_calls
        ]
    else:
        message["content"] = turn.text
    return message


def _choice(index: int, turn: Turn) -> dict[str, Any]:
    return {"index": index, "message": _message(turn), "logprobs": None, "finish_reason": turn.finish}


def _stream(
    ctx: RequestContext, head: dict[str, Any], turns: list[Turn], usage: dict[str, Any] | None, ttft: float
) -> StreamReply:
    out = StreamReply()
    per_token = ctx.per_token_delay()
    base = {**head, "object": "chat.completion.chunk"}
    if usage is not None:
        base["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None, delay: float = 0.0) -> None:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        out.data({**base, "choices": [choice]}, delay)

    for i, turn in enumerate(turns):
        chunk(
            i,
            {"role": "assistant", "content": "" if not turn.tool_calls else None, "refusal": None},
            delay=ttft if i == 0 else 0.0,
        )
        for piece in turn.pieces:
            chunk(i, {"content": piece}, delay=per_token)
        for k, call in enumerate(turn.tool_calls):
            chunk(
                i,
                {
                    "tool_calls": [
                        {
                            "index": k,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                },
                delay=per_token,
            )
            for part in _split(call.arguments):
                chunk(i, {"tool_calls": [{"index": k, "function": {"arguments": part}}]}, delay=per_token)
        chunk(i, {}, turn.finish)
    if usage is not None:
        out.data({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    out.done()
    return out


def _split(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
