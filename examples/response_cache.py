"""A response cache with a correct key, and its savings in your reports.

Caching on an md5 of the prompt returns wrong answers when the model, tools, response format or
sampling parameters change. tokentrail's cache keys on the whole normalised request, caches only
deterministic requests (temperature 0 or a seed) by default, and marks every hit in the trace
(`cache_hit`, `saved_input_tokens`, `saved_output_tokens`, `saved_ms`, `saved_cost_usd`).

    OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=sk-test python examples/response_cache.py
    # with Redis: TOKENTRAIL_CACHE=redis://127.0.0.1:6379/0 python examples/response_cache.py
"""

from __future__ import annotations

import os
import time

import openai

import tokentrail


def main() -> None:
    tokentrail.instrument(service_name="cache-example")
    tokentrail.cache.enable(os.environ.get("TOKENTRAIL_CACHE", "memory"), ttl=3600, namespace="faq-bot")
    client = openai.OpenAI()
    question = [{"role": "user", "content": "What are your opening hours?"}]
    with tokentrail.tags(feature="faq"):
        for attempt in range(3):
            started = time.perf_counter()
            reply = client.chat.completions.create(model="gpt-4o", messages=question, temperature=0)
            took_ms = (time.perf_counter() - started) * 1000
            print(f"call {attempt + 1}: {took_ms:7.1f} ms  {reply.choices[0].message.content[:40]!r}")
        # A different temperature is a different request: never served from the entry above.
        client.chat.completions.create(model="gpt-4o", messages=question, temperature=0, max_tokens=5)
    print("cache stats:", tokentrail.cache.stats())
    tokentrail.cache.disable()
    tokentrail.uninstrument()


if __name__ == "__main__":
    main()
