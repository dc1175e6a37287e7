"""User price overrides from TOML: negotiated rates, fine-tuned and custom models, self-hosted GPUs.

Format (all rates USD per 1M tokens; see docs/prices.md):

    [[price]]                      # a negotiated rate, from a date
    model = "gpt-4o"               # exact name (case-insensitive) or `match = "ft:gpt-4o-mini*"` (glob)
    provider = "openai"            # optional
    valid_from = 2026-11-01        # optional; also valid_to (exclusive)
    service_tier = "batch"         # optional: only calls with this tier
    input = 2.0                    # uncached input
    cached_input = 1.0             # optional (default: input)
    cache_write = 2.5              # optional (default: input)
    output = 8.0
    reasoning = 8.0                # optional (default: output)
    # or instead of rates: discount = 0.2  (fraction off the catalogue price)

    [[self_hosted]]
    model = "llama-3.1-70b-local"
    gpu_hour_usd = 2.10
    gpus = 4
    tokens_per_second = 1500       # optional; default: observed throughput (see docs/prices.md)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tokentrail.analytics.catalogue import BEGINNING, END_OF_TIME, Rates

from tokentrail.config import read_toml


class PriceConfigError(ValueError):
    """The overrides file is malformed; the message names the entry and field."""


@dataclass(frozen=True)
class ModelSelector:
    model: str | None
    match: str | None
    provider: str | None

    def matches(self, provider: str | None, model: str | None) -> bool:
        if not model:
            return False
        if self.provider and (provider or "").lower() != self.provider.lower():
            return False
        name = model.lower()
        if self.model is not None:
            return name == self.model.lower()
        return fnmatch.fnmatchcase(name, (self.match or "").lower())

    def label(self) -> str:
        return self.model or self.match or "?"


@dataclass(frozen=True)
class PriceOverride:
    selector: ModelSelector
    valid_from: datetime
    valid_to: datetime
    service_tier: str | None
    rates: Rates | None  # explicit rates, or None when `discount` applies to the catalogue
    discount: float | None


@dataclass(frozen=True)
class SelfHosted:
    selector: ModelSelector
    valid_from: datetime
    valid_to: datetime
    gpu_hour_usd: float
    gpus: int
    tokens_per_second: float | None

    def rate_per_mtok(self, tokens_per_second: float) -> float:
        """Effective USD per 1M tokens = gpu_hour_usd x gpus / (tokens/s x 3600) x 1e6."""
        return self.gpu_hour_usd * self.gpus / (tokens_per_second * 3600.0) * 1e6


@dataclass(frozen=True)
class Overrides:
    prices: tuple[PriceOverride, ...] = ()
    self_hosted: tuple[SelfHosted, ...] = ()
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.prices or self.self_hosted)


def _when(value: Any, where: str, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone().replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise PriceConfigError(f"{where}: not a date: {value!r}") from exc
    raise PriceConfigError(f"{where}: not a date: {value!r}")


def _num(entry: dict[str, Any], key: str, where: str, required: bool = False) -> float | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise PriceConfigError(f"{where}: `{key}` is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PriceConfigError(f"{where}: `{key}` must be a non-negative number, got {value!r}")
    return float(value)


def _selector(entry: dict[str, Any], where: str) -> ModelSelector:
    model, match = entry.get("model"), entry.get("match")
    if (model is None) == (match is None):
        raise PriceConfigError(f"{where}: give exactly one of `model` or `match`")
    for v in (model, match, entry.get("provider")):
        if v is not None and not isinstance(v, str):
            raise PriceConfigError(f"{where}: model/match/provider must be strings")
    return ModelSelector(model, match, entry.get("provider"))


_PRICE_KEYS = {"model", "match", "provider", "valid_from", "valid_to", "service_tier", "input",
               "cached_input", "cache_write", "output", "reasoning", "discount", "note"}
_HOSTED_KEYS = {"model", "match", "provider", "valid_from", "valid_to", "gpu_hour_usd", "gpus",
                "tokens_per_second", "note"}


def _window(entry: dict[str, Any], where: str) -> tuple[datetime, datetime]:
    start = _when(entry.get("valid_from"), f"{where} valid_from", BEGINNING)
    stop = _when(entry.get("valid_to"), f"{where} valid_to", END_OF_TIME)
    if stop <= start:
        raise PriceConfigError(f"{where}: valid_to must be after valid_from")
    return start, stop


def parse_overrides(data: dict[str, Any], source: str | None = None) -> Overrides:
    unknown = set(data) - {"price", "self_hosted"}
    if unknown:
        raise PriceConfigError(f"unknown section(s): {', '.join(sorted(unknown))} (expected [[price]], [[self_hosted]])")
    prices: list[PriceOverride] = []
    for i, entry in enumerate(data.get("price", [])):
        where = f"[[price]] #{i + 1}"
        bad = set(entry) - _PRICE_KEYS
        if bad:
            raise PriceConfigError(f"{where}: unknown field(s) {', '.join(sorted(bad))}")
        selector = _selector(entry, where)
        start, stop = _window(entry, where)
        discount = _num(entry, "discount", where)
        if discount is not None:
            if discount >= 1:
                raise PriceConfigError(f"{where}: discount is a fraction below 1 (0.2 = 20% off)")
            if any(k in entry for k in ("input", "output", "cached_input", "cache_write", "reasoning")):
                raise PriceConfigError(f"{where}: give either rates or `discount`, not both")
            rates = None
        else:
            rates = Rates(
                input=_num(entry, "input", where, required=True),
                cache_read=_num(entry, "cached_input", where),
                cache_write=_num(entry, "cache_write", where),
                output=_num(entry, "output", where, required=True),
                reasoning=_num(entry, "reasoning", where),
            )
        tier = entry.get("service_tier")
        prices.append(PriceOverride(selector, start, stop, tier.lower() if tier else None, rates, discount))
    hosted: list[SelfHosted] = []
    for i, entry in enumerate(data.get("self_hosted", [])):
        where = f"[[self_hosted]] #{i + 1}"
        bad = set(entry) - _HOSTED_KEYS
        if bad:
            raise PriceConfigError(f"{where}: unknown field(s) {', '.join(sorted(bad))}")
        gpus = entry.get("gpus", 1)
        if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
            raise PriceConfigError(f"{where}: `gpus` must be a positive integer")
        tps = _num(entry, "tokens_per_second", where)
        if tps is not None and tps <= 0:
            raise PriceConfigError(f"{where}: `tokens_per_second` must be positive")
        start, stop = _window(entry, where)
        hosted.append(
            SelfHosted(_selector(entry, where), start, stop, _num(entry, "gpu_hour_usd", where, True), gpus, tps)
        )
    return Overrides(tuple(prices), tuple(hosted), source)


def load_overrides(path: str | Path | None = None) -> Overrides:
    """Overrides from `path`, else TOKENTRAIL_PRICES, else none."""
    if path is None:
        from tokentrail.config import settings

        path = settings().prices_file
        if path is None:
            return Overrides()
    path = Path(path)
    data = read_toml(path, PriceConfigError, "prices")
    try:
        return parse_overrides(data, str(path))
    except PriceConfigError as exc:
        raise PriceConfigError(f"{path}: {exc}") from exc
