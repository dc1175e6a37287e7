"""Settings shared by every stage, read from the environment at call time.

Reading at call time (not import time) lets tests and `tokentrail run` change the environment
before the first call without reloading modules.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DB = "tokentrail.duckdb"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_SIMULATOR_PORT = 8787
# Picked up from the working directory when the variables are unset, so a project can keep its
# price overrides and budgets next to its database without exporting anything.
DEFAULT_PRICES_FILE = "tokentrail-prices.toml"
DEFAULT_BUDGETS_FILE = "tokentrail-budgets.toml"


@dataclass(frozen=True)
class Settings:
    """Where data lives and how the stages find each other."""

    db_path: Path
    endpoint: str | None
    collector_url: str | None
    token: str | None
    prices_file: Path | None
    budgets_file: Path | None


def _path(value: str | None, default: str) -> Path | None:
    if value:
        return Path(value).expanduser()
    return Path(default) if Path(default).is_file() else None


def settings() -> Settings:
    """Current settings: `TOKENTRAIL_*` variables over the documented defaults."""
    env = os.environ
    return Settings(
        db_path=Path(env.get("TOKENTRAIL_DB") or DEFAULT_DB).expanduser(),
        endpoint=env.get("TOKENTRAIL_ENDPOINT") or None,
        collector_url=env.get("TOKENTRAIL_COLLECTOR") or None,
        token=env.get("TOKENTRAIL_TOKEN") or None,
        prices_file=_path(env.get("TOKENTRAIL_PRICES"), DEFAULT_PRICES_FILE),
        budgets_file=_path(env.get("TOKENTRAIL_BUDGETS"), DEFAULT_BUDGETS_FILE),
    )


def read_toml(path: Path, error: type[Exception], kind: str) -> dict[str, Any]:
    """Parse a user's TOML file; a missing or malformed file raises `error` naming the file."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{kind} file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: {exc}") from exc
