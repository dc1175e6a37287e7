"""Price resolution: catalogue rows overlaid with the user's overrides, per model seen in the data.

Matching a model name to a price is done here in Python, once per distinct
(provider, model, response_model, service_tier) in the data, with genai-prices' own matching
rules; the result is a small table the `llm_calls` view joins on equality plus a time range. The
per-row work in SQL is then a hash join, never a per-row rule evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import pyarrow as pa
from tokentrail.analytics.catalogue import (
    BEGINNING,
    END_OF_TIME,
    Rates,
    Segment,
    catalogue_segments,
    find_model,
)
from tokentrail.analytics.overrides import Overrides, SelfHosted

PRICE_SCHEMA = pa.schema(
    [
        ("provider", pa.string()),
        ("model", pa.string()),
        ("response_model", pa.string()),
        ("service_tier", pa.string()),
        ("price_source", pa.string()),
        ("price_provider", pa.string()),
        ("price_model", pa.string()),
        ("valid_from", pa.timestamp("us")),
        ("valid_to", pa.timestamp("us")),
        ("tod_start_s", pa.int32()),
        ("tod_end_s", pa.int32()),
        ("input_above", pa.int64()),
        ("input_upto", pa.int64()),
        ("input_per_mtok", pa.float64()),
        ("cache_read_per_mtok", pa.float64()),
        ("cache_write_per_mtok", pa.float64()),
        ("output_per_mtok", pa.float64()),
        ("reasoning_per_mtok", pa.float64()),
        ("context_window", pa.int64()),
    ]
)


@dataclass(frozen=True)
class CallKey:
    """The columns of a call that decide its price ('' stands for NULL)."""

    provider: str
    model: str
    response_model: str
    service_tier: str


ThroughputFn = Callable[[SelfHosted, CallKey], "float | None"]


def _clip(seg: Segment, start: datetime, stop: datetime) -> Segment | None:
    lo, hi = max(seg.valid_from, start), min(seg.valid_to, stop)
    return replace(seg, valid_from=lo, valid_to=hi) if lo < hi else None


def _paint(base: list[Segment], start: datetime, stop: datetime, new: Iterable[Segment]) -> list[Segment]:
    """`new` replaces whatever `base` said inside [start, stop)."""
    out: list[Segment] = []
    for seg in base:
        for part in (_clip(seg, BEGINNING, start), _clip(seg, stop, END_OF_TIME)):
            if part is not None:
                out.append(part)
    out.extend(new)
    return sorted(out, key=lambda s: (s.valid_from, s.tod_start, s.input_above))


def _names(key: CallKey) -> list[str]:
    """Model names to try, most specific first: the model that answered, then the one requested."""
    names = [n for n in (key.response_model, key.model) if n]
    return list(dict.fromkeys(names))


def catalogue_for(key: CallKey) -> list[Segment]:
    for name in _names(key):
        found = find_model(key.provider or None, name)
        if found is not None:
            return catalogue_segments(found[0], found[1], key.service_tier or None)
    return []


def context_window_for(key: CallKey) -> int | None:
    for name in _names(key):
        found = find_model(key.provider or None, name)
        if found is not None:
            return found[1].context_window
    return None


def resolve(key: CallKey, overrides: Overrides, throughput: ThroughputFn | None = None) -> list[Segment]:
    """All price rows for one call key: catalogue, then self-hosted, then overrides by start date."""
    segments = catalogue_for(key)
    names = _names(key)
    for hosted in overrides.self_hosted:
        if not any(hosted.selector.matches(key.provider, n) for n in names):
            continue
        tps = hosted.tokens_per_second or (throughput(hosted, key) if throughput else None)
        if not tps:
            # No throughput known yet: say "unpriced" rather than invent a rate.
            segments = _paint(segments, hosted.valid_from, hosted.valid_to, [])
            continue
        rate = hosted.rate_per_mtok(tps)
        seg = Segment(hosted.valid_from, hosted.valid_to, Rates(rate, rate, rate, rate, rate), "self-hosted",
                      "self-hosted", hosted.selector.label())
        segments = _paint(segments, hosted.valid_from, hosted.valid_to, [seg])
    applicable = [
        o for o in overrides.prices
        if any(o.selector.matches(key.provider, n) for n in names)
        and (o.service_tier is None or o.service_tier == key.service_tier.lower())
    ]
    for o in sorted(applicable, key=lambda o: o.valid_from):  # stable: later entries win ties
        if o.rates is not None:
            new = [Segment(o.valid_from, o.valid_to, o.rates, "override", key.provider or "custom",
                           o.selector.label())]
        else:
            factor = 1.0 - (o.discount or 0.0)
            new = [
                replace(clipped, rates=clipped.rates.scaled(factor), source="override")
                for seg in segments
                if (clipped := _clip(seg, o.valid_from, o.valid_to)) is not None
            ]
        segments = _paint(segments, o.valid_from, o.valid_to, new)
    return segments


def price_table(rows: Iterable[tuple[CallKey, list[Segment]]]) -> pa.Table:
    cols: dict[str, list] = {f.name: [] for f in PRICE_SCHEMA}
    for key, segments in rows:
        window = context_window_for(key) if segments else None
        for s in segments:
            r = s.rates.effective()
            # Keys keep the data's NULLs (the view joins NULL-safely); rates are never NULL so that
            # a NULL cost always means "no price row", never "a rate was missing".
            values = (
                key.provider or None, key.model or None, key.response_model or None, key.service_tier or None,
                s.source, s.price_provider, s.price_model, s.valid_from, s.valid_to, s.tod_start, s.tod_end,
                s.input_above, s.input_upto, r.input or 0.0, r.cache_read or 0.0, r.cache_write or 0.0,
                r.output or 0.0, r.reasoning or 0.0, window,
            )
            for name, value in zip(cols, values, strict=False):
                cols[name].append(value)
    return pa.table(cols, schema=PRICE_SCHEMA)


@dataclass(frozen=True)
class PriceAt:
    """The rates in force for one model at one moment (what `tokentrail prices show` prints)."""

    model: str
    at: datetime
    source: str
    price_provider: str
    price_model: str
    valid_from: datetime
    valid_to: datetime
    rates: Rates
    tiers: tuple[tuple[int, int, Rates], ...]  # (input_above, input_upto, rates) when size-tiered
    time_of_day: tuple[int, int] | None


def price_at(
    model: str,
    at: datetime,
    *,
    provider: str | None = None,
    service_tier: str | None = None,
    overrides: Overrides | None = None,
    input_tokens: int = 0,
) -> PriceAt | None:
    """Rates in force for `model` at `at` (UTC), or None when nothing prices it."""
    key = CallKey(provider or "", model, "", service_tier or "")
    segments = resolve(key, overrides or Overrides())
    sod = at.hour * 3600 + at.minute * 60 + at.second
    live = [s for s in segments if s.valid_from <= at < s.valid_to and s.tod_start <= sod < s.tod_end]
    if not live:
        return None
    chosen = next((s for s in live if s.input_above < input_tokens <= s.input_upto), live[0])
    tiers = tuple((s.input_above, s.input_upto, s.rates.effective()) for s in live) if len(live) > 1 else ()
    tod = None if (chosen.tod_start, chosen.tod_end) == (0, 86_400) else (chosen.tod_start, chosen.tod_end)
    return PriceAt(model, at, chosen.source, chosen.price_provider, chosen.price_model, chosen.valid_from,
                   chosen.valid_to, chosen.rates.effective(), tiers, tod)
