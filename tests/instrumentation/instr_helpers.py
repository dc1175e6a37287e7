"""Independent token counts for the instrumentation tests (tiktoken used directly, not via tokentrail)."""

from __future__ import annotations

import importlib
from types import ModuleType

import openai
import tiktoken

API_KEY = "sk-test-tokentrail-0123456789abcdef"


def chat_prompt_tokens(messages: list[dict[str, str]], encoding: str = "o200k_base") -> int:
    """Independent count of chat prompt tokens: OpenAI's recipe (3 per message, 3 for the reply)."""
    enc = tiktoken.get_encoding(encoding)
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(enc.encode(value))
            if key == "name":
                total += 1
    return total


def text_tokens(text: str, encoding: str = "o200k_base") -> int:
    return len(tiktoken.get_encoding(encoding).encode(text))


def http_module() -> ModuleType:
    """The httpx flavour this openai SDK is built on (httpx2 for 3.x, httpx for 1.x/2.x)."""
    for base in openai.DefaultHttpxClient.__mro__:
        root = base.__module__.split(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    raise RuntimeError("cannot tell which httpx the openai SDK uses")


def cache_write(details: object) -> dict[str, int]:
    """`gen_ai.usage.cache_creation.input_tokens` as expected: present only when the API reported it."""
    value = getattr(details, "cache_write_tokens", None)
    return {} if value is None else {"gen_ai.usage.cache_creation.input_tokens": value}
