"""Trim a long conversation to fit the model's context window, with exact token counts.

Counting characters (or words) misjudges by 20-40%; the API then either rejects the request or
silently truncates. `tokentrail.count_tokens` counts what OpenAI bills, including the per-message
framing and tool definitions, so the trimmed request fits exactly.

    OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=sk-test python examples/context_trimming.py
"""

from __future__ import annotations

import openai

import tokentrail


def trim(messages: list[dict], model: str, budget: int) -> list[dict]:
    """Keep the system prompt and the newest turns whose total fits in `budget` prompt tokens."""
    system, turns = messages[:1], messages[1:]
    kept: list[dict] = []
    for message in reversed(turns):
        if tokentrail.count_tokens(system + [message] + kept, model) > budget:
            break
        kept.insert(0, message)
    return system + kept


def main() -> None:
    tokentrail.instrument(service_name="trimming-example")
    model = "gpt-4o-mini"
    history = [{"role": "system", "content": "You are a concise assistant."}]
    for i in range(200):
        history.append({"role": "user", "content": f"Question {i}: tell me about topic {i} in detail. " * 5})
        history.append({"role": "assistant", "content": f"Answer {i}: topic {i} is interesting because ... " * 5})
    history.append({"role": "user", "content": "Summarise our conversation."})

    budget = 4_000  # leave room for the answer and keep the bill predictable
    before = tokentrail.count_tokens(history, model)
    trimmed = trim(history, model, budget)
    after = tokentrail.count_tokens(trimmed, model)
    print(f"{len(history)} messages, {before} tokens -> {len(trimmed)} messages, {after} tokens (budget {budget})")
    estimate = tokentrail.estimate_cost(trimmed, model, max_output_tokens=300)
    print(f"worst-case cost of this request: ${estimate.max_cost_usd:.6f}")
    reply = openai.OpenAI().chat.completions.create(model=model, messages=trimmed, max_tokens=300)
    print(f"the API billed {reply.usage.prompt_tokens} prompt tokens; we counted {after}")
    tokentrail.uninstrument()


if __name__ == "__main__":
    main()
