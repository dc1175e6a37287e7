"""Request field checks that fail with the same 400s OpenAI sends (param + code set)."""

from __future__ import annotations

from typing import Any

from tokentrail.simulator.errors import invalid_value, missing, wrong_type


def model(body: dict[str, Any]) -> str:
    value = body.get("model")
    if value is None or value == "":
        raise missing("model")
    if not isinstance(value, str):
        raise wrong_type("model", "a string", value)
    return value


def opt_int(body: dict[str, Any], name: str, lo: int | None = None, hi: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(name, "an integer", value)
    if lo is not None and value < lo:
        raise invalid_value(
            name,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {lo}, "
            f"but got {value} instead.",
        )
    if hi is not None and value > hi:
        raise invalid_value(
            name,
            f"Invalid '{name}': integer above maximum value. Expected a value <= {hi}, "
            f"but got {value} instead.",
        )
    return value


def opt_number(body: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(name, "a number", value)
    if not lo <= value <= hi:
        raise invalid_value(
            name, f"Invalid '{name}': expected a value between {lo:g} and {hi:g}, but got {value} instead."
        )
    return float(value)


def opt_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise wrong_type(name, "a boolean", value)
    return value


def opt_dict(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise wrong_type(name, "an object", value)
    return value


def opt_list(body: dict[str, Any], name: str) -> list[Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise wrong_type(name, "an array", value)
    return value


def stream_options(body: dict[str, Any], stream: bool) -> bool:
    """Whether the stream ends with a usage chunk; stream_options without stream is a 400 as upstream."""
    options = opt_dict(body, "stream_options")
    if options is None:
        return False
    if not stream:
        raise invalid_value(
            "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        )
    return bool(options.get("include_usage"))
