"""The demo's live traffic: real `openai` SDK calls, instrumented by tokentrail, against the simulator.

Each job is one realistic request of one feature, tagged with its user and feature. Failures are
injected with the simulator's `x-sim-fault` headers, so what the spans show (SDK retries on 429,
5xx errors, timeouts) is what the real SDK did.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any

import openai

import tokentrail
from tokentrail.demo.scenario import SELF_HOSTED_MODEL, UNPRICED_MODEL, USERS

# A long, stable system prompt: repeated prefixes of 1024+ tokens hit the provider's prompt cache.
POLICY = " ".join(
    f"Rule {i}: answer politely, cite the help-centre article for topic {i}, never promise refunds over ${i * 5}."
    for i in range(1, 90)
)
QUESTIONS = (
    "How do I reset my password?", "Can I change the billing currency?", "Where is my invoice for October?",
    "Why was my card declined?", "How do I export my data?", "Is there an API rate limit?",
    "How do I add a teammate?", "Can I pause my subscription?",
)


@dataclass(frozen=True)
class Job:
    feature: str
    user: str
    run: Callable[[openai.OpenAI], Any]


def _fault(kind: str, key: str, count: int) -> dict[str, str]:
    return {"x-sim-fault": kind, "x-sim-fault-key": key, "x-sim-fault-count": str(count)}


def build_jobs(n: int, seed: int = 11) -> list[Job]:
    """`n` jobs across features, endpoints, streaming and failure modes, in a seeded order."""
    rng = random.Random(seed)
    jobs: list[Job] = []
    for i in range(n):
        user = rng.choice(USERS[:12])
        question = rng.choice(QUESTIONS)
        roll = rng.random()
        kind = i % 10
        headers: dict[str, str] = {}
        if roll < 0.08:
            headers = _fault("429", f"demo-{seed}-{i}", rng.choice((1, 2)))  # the SDK retries, then succeeds
        elif roll < 0.11:
            headers = _fault("500", f"demo-{seed}-{i}", 99)  # fails after the SDK's retries
        if kind in (0, 1, 2):
            jobs.append(Job("chat-assistant", user, _chat(question, headers, stream=kind != 0)))
        elif kind == 3:
            jobs.append(Job("support-bot", user, _support(question, headers)))
        elif kind == 4:
            jobs.append(Job("summarizer", user, _responses(question, headers, stream=rng.random() < 0.5)))
        elif kind == 5:
            jobs.append(Job("search", user, _embed(question, headers)))
        elif kind == 6:
            jobs.append(Job("faq-cache", user, _cached_faq(rng.choice(QUESTIONS[:3]))))
        elif kind == 7:
            jobs.append(Job("batch-enrichment", user, _simple(SELF_HOSTED_MODEL, question)))
        elif kind == 8:
            jobs.append(Job("internal-tools", user, _simple(UNPRICED_MODEL, question)))
        else:
            jobs.append(Job("chat-assistant", user, _timeout(question) if roll < 0.3 else _chat(question, {}, True)))
    return jobs


def _chat(question: str, headers: dict[str, str], stream: bool) -> Callable[[openai.OpenAI], Any]:
    def run(client: openai.OpenAI) -> Any:
        messages = [{"role": "system", "content": POLICY}, {"role": "user", "content": question}]
        if not stream:
            return client.chat.completions.create(model="gpt-4o-mini", messages=messages, extra_headers=headers)
        chunks = client.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True},
            extra_headers=headers,
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return run


def _support(question: str, headers: dict[str, str]) -> Callable[[openai.OpenAI], Any]:
    def run(client: openai.OpenAI) -> Any:
        return client.chat.completions.create(
            model="o3-mini", messages=[{"role": "user", "content": question}], extra_headers=headers,
        )
    return run


def _responses(question: str, headers: dict[str, str], stream: bool) -> Callable[[openai.OpenAI], Any]:
    def run(client: openai.OpenAI) -> Any:
        text = f"Summarise this support ticket in two sentences: {question} " + POLICY[:2000]
        if stream:
            with client.responses.stream(model="gpt-4.1-mini", input=text, extra_headers=headers) as events:
                return events.get_final_response()
        return client.responses.create(model="gpt-4.1-mini", input=text, extra_headers=headers)
    return run


def _embed(question: str, headers: dict[str, str]) -> Callable[[openai.OpenAI], Any]:
    def run(client: openai.OpenAI) -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input=[question], extra_headers=headers)
    return run


def _cached_faq(question: str) -> Callable[[openai.OpenAI], Any]:
    """Deterministic FAQ answers: repeats are served by tokentrail's response cache."""
    def run(client: openai.OpenAI) -> Any:
        return client.chat.completions.create(
            model="gpt-4o", temperature=0, messages=[{"role": "user", "content": f"FAQ: {question}"}]
        )
    return run


def _simple(model: str, question: str) -> Callable[[openai.OpenAI], Any]:
    def run(client: openai.OpenAI) -> Any:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
    return run


def _timeout(question: str) -> Callable[[openai.OpenAI], Any]:
    def run(client: openai.OpenAI) -> Any:
        return client.with_options(timeout=0.5, max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}],
            extra_headers={"x-sim-fault": "timeout", "x-sim-timeout": "2"},
        )
    return run


def run_jobs(client: openai.OpenAI, jobs: list[Job], on_done: Callable[[], None], workers: int = 8) -> dict[str, int]:
    """Run the jobs on a thread pool, each inside its tags; returns counts of outcomes."""
    counts = {"ok": 0, "failed": 0}

    def one(job: Job) -> bool:
        with tokentrail.tags(user_id=job.user, feature=job.feature, session_id=f"{job.user}-demo"):
            try:
                job.run(client)
                return True
            except openai.OpenAIError:
                return False  # the span recorded it; a real app would handle it here

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each job runs in a copy of this context, as a web framework would per request.
        for ok in pool.map(lambda job: copy_context().run(one, job), jobs):
            counts["ok" if ok else "failed"] += 1
            on_done()
    return counts
