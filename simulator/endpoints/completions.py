"""POST /v1/completions: the legacy text-completion API, plain and streamed."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from tokentrail.simulator import tokens, validate
from tokentrail.simulator.app import RequestContext
from tokentrail.simulator.errors import invalid_value, missing, wrong_type
from tokentrail.simulator.generation import TurnSpec, generate
from tokentrail.simulator.replies import JsonReply, StreamReply
from tokentrail.simulator.usage import completion_usage

DEFAULT_MAX_TOKENS = 16  # the legacy API's own default


class _Choice(NamedTuple):
    prefix: str  # the echoed prompt, if echo
    pieces: list[str]
    tokens: int
    finish: str


def handle(ctx: RequestContext) -> JsonReply | StreamReply:
    body = ctx.body
    model = validate.model(body)
    prompts = _prompts(body)
    n = validate.opt_int(body, "n", 1, 128) or 1
    stream = validate.opt_bool(body, "stream")
    include_usage = validate.stream_options(body, stream)
    validate.opt_number(body, "temperature", 0, 2)
    max_tokens = validate.opt_int(body, "max_tokens", 0)
    echo = validate.opt_bool(body, "echo")
    spec = TurnSpec(
        model=model,
        max_output_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        reply_tokens=ctx.config.reply_tokens,
    )
    tok = tokens.tokenizer_for(model)
    prompt_tokens = 0
    choices: list[_Choice] = []
    for prompt in prompts:
        if isinstance(prompt, str):
            prompt_text = prompt
            prompt_tokens += len(tok.encode(prompt))
        else:
            prompt_text = ""  # token-id prompts are echoed as nothing: we do not decode them
            prompt_tokens += len(prompt)
        for _ in range(n):
            prefix = prompt_text if echo else ""
            if not spec.max_output_tokens:
                choices.append(_Choice(prefix, [], 0, "length"))
                continue
            turn = generate(spec, ctx.rng, ctx.new_id)
            choices.append(_Choice(prefix, turn.pieces, turn.output_tokens, turn.finish))
    completion = sum(c.tokens for c in choices)
    usage = completion_usage(prompt_tokens, completion)
    head = {
        "id": ctx.new_id("cmpl-", 29),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_sim" + format(ctx.config.seed & 0xFFFFFF, "06x"),
    }
    ttft = ctx.first_token_delay(prompt_tokens)
    if not stream:
        return JsonReply(
            {
                **head,
                "choices": [
                    {
                        "text": c.prefix + "".join(c.pieces),
                        "index": i,
                        "logprobs": None,
                        "finish_reason": c.finish,
                    }
                    for i, c in enumerate(choices)
                ],
                "usage": usage,
            },
            delay_s=ttft + ctx.per_token_delay() * completion,
        )
    out = StreamReply()
    per_token = ctx.per_token_delay()
    first = True
    for i, c in enumerate(choices):
        texts = ([c.prefix] if c.prefix else []) + c.pieces
        for text in texts:
            delay, first = (ttft if first else per_token), False
            out.data(
                {**head, "choices": [{"text": text, "index": i, "logprobs": None, "finish_reason": None}]},
                delay,
            )
        out.data({**head, "choices": [{"text": "", "index": i, "logprobs": None, "finish_reason": c.finish}]})
    if include_usage:
        out.data({**head, "choices": [], "usage": usage})
    out.done()
    return out


def _prompts(body: dict[str, Any]) -> list[str | list[int]]:
    prompt = body.get("prompt")
    if prompt is None:
        raise missing("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        for i, p in enumerate(prompt):
            if not isinstance(p, str | list):
                raise wrong_type(f"prompt[{i}]", "a string or an array of token ids", p)
        return prompt
    if isinstance(prompt, list):
        raise invalid_value("prompt", "Invalid 'prompt': empty array.")
    raise wrong_type("prompt", "one of a string or array", prompt)
