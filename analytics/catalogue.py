"""The genai-prices catalogue, flattened into non-overlapping price rows.

genai-prices describes a model's price as a list of conditional prices (start dates, daily
off-peak windows), request variants (service tier, batch) and input-size tiers. SQL needs the
opposite shape: rows whose conditions never overlap, so a call joins to at most one row. We cut
time at every boundary the catalogue mentions and ask genai-prices itself (`ModelInfo.get_prices`)
which price holds inside each piece, so its precedence rules are reused rather than re-implemented.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from genai_prices import types as gp
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

BEGINNING = datetime(1900, 1, 1)
END_OF_TIME = datetime(9999, 12, 31)
DAY_SECONDS = 86_400
MAX_TOKENS = 2**62

# OTel GenAI `gen_ai.provider.name` values that genai-prices spells differently.
PROVIDER_ALIASES = {
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "mistral_ai": "mistral",
    "together_ai": "together",
}

# Data-side service tiers that mean "no special price".
STANDARD_TIERS = {"", "default", "auto", "standard"}


@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens. None means "not separately priced": the fallback rule in `effective` applies."""

    input: float | None
    cache_read: float | None = None
    cache_write: float | None = None
    output: float | None = None
    reasoning: float | None = None

    def effective(self) -> Rates:
        """Fill gaps the way genai-prices does: cache tokens at the input rate, reasoning at the output rate."""
        return Rates(
            input=self.input,
            cache_read=self.cache_read if self.cache_read is not None else self.input,
            cache_write=self.cache_write if self.cache_write is not None else self.input,
            output=self.output,
            reasoning=self.reasoning if self.reasoning is not None else self.output,
        )

    def scaled(self, factor: float) -> Rates:
        def s(v: float | None) -> float | None:
            return None if v is None else v * factor

        return Rates(s(self.input), s(self.cache_read), s(self.cache_write), s(self.output), s(self.reasoning))


@dataclass(frozen=True)
class Segment:
    """One price row: rates valid for ts in [valid_from, valid_to), UTC second-of-day in
    [tod_start, tod_end), and total input tokens in (input_above, input_upto]."""

    valid_from: datetime
    valid_to: datetime
    rates: Rates
    source: str  # catalogue | override | self-hosted
    price_provider: str
    price_model: str
    tod_start: int = 0
    tod_end: int = DAY_SECONDS
    input_above: int = -1
    input_upto: int = MAX_TOKENS


def provider_id(provider: str | None) -> str | None:
    if not provider:
        return None
    p = provider.lower().strip()
    return PROVIDER_ALIASES.get(p, p)


def price_context(service_tier: str | None) -> dict[str, str] | None:
    """genai-prices request context for a recorded service tier (`batch` is a processing mode there)."""
    tier = (service_tier or "").lower()
    if tier in STANDARD_TIERS:
        return None
    if tier == "batch":
        return {"processing": "batch"}
    return {"service_tier": tier}


@functools.lru_cache(maxsize=4096)
def find_model(provider: str | None, model_ref: str) -> tuple[gp.Provider, gp.ModelInfo] | None:
    """genai-prices' own matching: by provider when it knows the provider, else by model name alone."""
    snap = get_snapshot()
    pid = provider_id(provider)
    if pid and find_provider_by_id(snap.providers, pid) is not None:
        try:
            return snap.find_provider_model(model_ref, None, pid, None)
        except LookupError:
            pass  # e.g. a proxy reporting provider=openai for another vendor's model
    try:
        return snap.find_provider_model(model_ref, None, None, None)
    except LookupError:
        return None


def _dec(v: Decimal | gp.TieredPrices | None, input_tokens: int) -> float | None:
    if v is None:
        return None
    if isinstance(v, gp.TieredPrices):
        price = v.base
        for tier in reversed(v.tiers):
            if input_tokens > tier.start:
                price = tier.price
                break
        return float(price)
    return float(v)


def _price_keys(mp: gp.ModelPrice) -> dict[str, Decimal | gp.TieredPrices | None]:
    return {
        "input": getattr(mp, "input_mtok", None),
        "cache_read": getattr(mp, "cache_read_mtok", None),
        "cache_write": getattr(mp, "cache_write_mtok", None),
        "output": getattr(mp, "output_mtok", None),
        "reasoning": getattr(mp, "output_reasoning_mtok", None),
    }


def _tier_splits(mp: gp.ModelPrice) -> list[tuple[int, int, Rates]]:
    """Input-size tiers as (input_above, input_upto, rates); crossing a tier reprices all tokens."""
    keys = _price_keys(mp)
    starts = sorted({t.start for v in keys.values() if isinstance(v, gp.TieredPrices) for t in v.tiers})
    bounds = [-1, *starts, MAX_TOKENS]
    out = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        probe = lo + 1
        out.append((lo, hi, Rates(**{k: _dec(v, probe) for k, v in keys.items()})))
    return out


def _constraints(model: gp.ModelInfo, with_variants: bool) -> list[object]:
    found: list[object] = []
    if not isinstance(model.prices, gp.ModelPrice):
        found += [c.constraint for c in model.prices if c.constraint is not None]
    if with_variants:
        found += [v.constraint for v in model.price_variants or () if v.constraint is not None]
    return found


def _utc_seconds(t: time) -> int:
    if t.tzinfo is not None:
        t = datetime.combine(date(2000, 1, 1), t).astimezone(timezone.utc).time()
    return t.hour * 3600 + t.minute * 60 + t.second


def catalogue_segments(
    provider: gp.Provider, model: gp.ModelInfo, service_tier: str | None
) -> list[Segment]:
    """Every price row of one catalogue model for one service tier, oldest first."""
    ctx = price_context(service_tier)
    # genai-prices ignores variants when the model was found through a fallback provider.
    if ctx and not any(model is m for m in provider.models):
        ctx = None
    constraints = _constraints(model, ctx is not None)
    dates = sorted({c.start_date for c in constraints if isinstance(c, gp.StartDateConstraint)})
    tods = sorted(
        {0, DAY_SECONDS}
        | {_utc_seconds(c.start_time) for c in constraints if isinstance(c, gp.TimeOfDateConstraint)}
        | {_utc_seconds(c.end_time) for c in constraints if isinstance(c, gp.TimeOfDateConstraint)}
    )
    day_starts = [BEGINNING, *(datetime.combine(d, time()) for d in dates), END_OF_TIME]
    segments: list[Segment] = []
    for start, stop in zip(day_starts, day_starts[1:], strict=False):
        pieces: list[tuple[int, int, gp.ModelPrice]] = []
        for lo, hi in zip(tods, tods[1:], strict=False):
            at = (start + timedelta(seconds=lo)).replace(tzinfo=timezone.utc)
            mp = model.get_prices(at, ctx)
            if pieces and pieces[-1][2] == mp:
                pieces[-1] = (pieces[-1][0], hi, mp)
            else:
                pieces.append((lo, hi, mp))
        for lo, hi, mp in pieces:
            for above, upto, rates in _tier_splits(mp):
                if rates.input is None and rates.output is None:
                    continue  # priced per request/audio only: not a token price we can apply
                segments.append(
                    Segment(start, stop, rates, "catalogue", provider.id, model.id, lo, hi, above, upto)
                )
    return _merge_dates(segments)


def _merge_dates(segments: list[Segment]) -> list[Segment]:
    """Join consecutive date pieces whose prices did not change (keeps the table small and readable)."""
    out: list[Segment] = []
    for seg in segments:
        for i in range(len(out) - 1, -1, -1):
            prev = out[i]
            if (
                prev.valid_to == seg.valid_from
                and (prev.tod_start, prev.tod_end, prev.input_above, prev.input_upto, prev.rates)
                == (seg.tod_start, seg.tod_end, seg.input_above, seg.input_upto, seg.rates)
            ):
                out[i] = replace(prev, valid_to=seg.valid_to)
                break
        else:
            out.append(seg)
    return sorted(out, key=lambda s: (s.valid_from, s.tod_start, s.input_above))


def context_window(provider: str | None, model: str) -> int | None:
    found = find_model(provider, model)
    return found[1].context_window if found else None
