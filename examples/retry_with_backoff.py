"""Retry with backoff, done right, and visible.

The openai SDK already retries 429s, 5xx and dropped connections with exponential backoff and
honours Retry-After. Wrapping it in a second retry loop multiplies attempts (3 x 3 = 9 calls for
one request) and hides the cost. So: set the SDK's own `max_retries` and `timeout`, and handle what
is left once it gives up. tokentrail records every hidden attempt: `retry_count`, `retry_wait_ms`
and one `tokentrail.retry` event per failed attempt.

Run against the simulator:
    tokentrail simulate --port 8787 &
    OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=sk-test python examples/retry_with_backoff.py
"""

from __future__ import annotations

import openai

import tokentrail


def ask(client: openai.OpenAI, question: str, fault: dict[str, str] | None = None) -> str | None:
    try:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], extra_headers=fault or {}
        )
        return reply.choices[0].message.content
    except openai.RateLimitError:
        return None  # still limited after the SDK's retries: shed load here, don't loop again
    except openai.APIStatusError as exc:
        print(f"gave up after the SDK's retries: HTTP {exc.status_code}")
        return None


def main() -> None:
    tokentrail.instrument(service_name="retry-example")
    # Three retries with the SDK's backoff (0.5 s doubling, jittered, capped; Retry-After wins).
    client = openai.OpenAI(max_retries=3, timeout=20.0)
    with tokentrail.tags(feature="retry-example"):
        # The simulator fails the first two attempts with 429 + Retry-After; the SDK waits and succeeds.
        limited = {"x-sim-fault": "429", "x-sim-fault-count": "2", "x-sim-fault-key": "example-429"}
        print("after two 429s:", ask(client, "What is backoff?", limited))
        # A 500 on every attempt: the SDK retries three times, then raises; we handle it once.
        broken = {"x-sim-fault": "500", "x-sim-fault-count": "99", "x-sim-fault-key": "example-500"}
        print("after persistent 500s:", ask(client, "Will this work?", broken))
    tokentrail.uninstrument()  # flush spans before exit


if __name__ == "__main__":
    main()
