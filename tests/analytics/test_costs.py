"""Costs in the llm_calls view, checked against arithmetic from the providers' published prices.

Rates (USD per 1M tokens) as published: gpt-4o $2.50 input / $1.25 cached input / $10 output;
o3 $10 / $40 until 2025-06-10, then $2 / $8 ($0.50 cached); claude-sonnet-4 $3 input / $3.75
cache write / $0.30 cache read / $15 output; gpt-4o Batch API $1.25 / $5.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from tokentrail.analytics import Rates, connect, query
from tokentrail.analytics.overrides import Overrides, parse_overrides

from tokentrail.columns import COLUMN_NAMES

M = 1_000_000


def costs(path, overrides: Overrides | None = None):
    src = connect(db=path, overrides=overrides or Overrides())
    return src.query(
        "SELECT model, ts, input_tokens, cost_usd, input_cost_usd, output_cost_usd, price_known, saved_cost_usd"
        " FROM llm_calls ORDER BY ts, model"
    ).to_dict("records")


def test_view_has_exactly_the_contract_columns(make_db):
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "gpt-4o"}])
    cols = list(connect(db=path, overrides=Overrides()).query("SELECT * FROM llm_calls").columns)
    assert cols == list(COLUMN_NAMES)


def test_cached_input_is_carved_out_of_input_not_added(make_db):
    path = make_db([{"ts": datetime(2026, 11, 2, 9), "model": "gpt-4o", "input_tokens": 1_000_000,
                     "cached_input_tokens": 400_000, "output_tokens": 200_000}])
    (row,) = costs(path)
    expected_in = 600_000 * 2.50 / M + 400_000 * 1.25 / M  # 1.50 + 0.50
    expected_out = 200_000 * 10.0 / M
    assert row["input_cost_usd"] == pytest.approx(expected_in)
    assert row["output_cost_usd"] == pytest.approx(expected_out)
    assert row["cost_usd"] == pytest.approx(4.0)
    assert row["price_known"]


def test_reasoning_tokens_are_part_of_output_and_priced_once(make_db):
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "o3", "input_tokens": 10_000,
                     "output_tokens": 100_000, "reasoning_tokens": 60_000}])
    (row,) = costs(path)
    assert row["output_cost_usd"] == pytest.approx(100_000 * 8.0 / M)  # not (100k + 60k) x $8
    assert row["input_cost_usd"] == pytest.approx(10_000 * 2.0 / M)


def test_cache_writes_and_reads_each_at_their_own_rate(make_db):
    path = make_db([{"ts": datetime(2026, 11, 2), "provider": "anthropic", "model": "claude-sonnet-4-0",
                     "input_tokens": 100_000, "cache_write_tokens": 20_000, "cached_input_tokens": 30_000,
                     "output_tokens": 10_000}])
    (row,) = costs(path)
    expected_in = (50_000 * 3.0 + 20_000 * 3.75 + 30_000 * 0.30) / M
    assert row["input_cost_usd"] == pytest.approx(expected_in)
    assert row["output_cost_usd"] == pytest.approx(10_000 * 15.0 / M)


def test_price_change_at_a_date_boundary(make_db):
    path = make_db([
        {"ts": datetime(2025, 6, 9, 23, 59, 59), "model": "o3", "input_tokens": 1_000_000, "output_tokens": 1_000_000},
        {"ts": datetime(2025, 6, 10, 0, 0, 0), "model": "o3", "input_tokens": 1_000_000, "output_tokens": 1_000_000},
    ])
    before, after = costs(path)
    assert before["cost_usd"] == pytest.approx(10.0 + 40.0)
    assert after["cost_usd"] == pytest.approx(2.0 + 8.0)


def test_batch_tier_uses_batch_prices(make_db):
    path = make_db([
        {"ts": datetime(2026, 11, 2), "model": "gpt-4o", "service_tier": "batch", "input_tokens": M, "output_tokens": M},
        {"ts": datetime(2026, 11, 3), "model": "gpt-4o", "service_tier": "default", "input_tokens": M,
         "output_tokens": M},
    ])
    batch, default = costs(path)
    assert batch["cost_usd"] == pytest.approx(1.25 + 5.0)
    assert default["cost_usd"] == pytest.approx(2.50 + 10.0)


def test_response_model_is_priced_before_the_requested_alias(make_db):
    # gpt-4o-2024-05-13 is a dated snapshot with its own, higher price ($5 / $15).
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "gpt-4o", "response_model": "gpt-4o-2024-05-13",
                     "input_tokens": M, "output_tokens": M}])
    (row,) = costs(path)
    assert row["cost_usd"] == pytest.approx(5.0 + 15.0)


def test_unknown_model_is_null_never_zero(make_db):
    path = make_db([
        {"ts": datetime(2026, 11, 2), "model": "my-own-model-7b", "input_tokens": 1000, "output_tokens": 10},
        {"ts": datetime(2026, 11, 2), "model": "gpt-4o", "input_tokens": M, "output_tokens": 0},
    ])
    rows = costs(path)
    unknown = next(r for r in rows if r["model"] == "my-own-model-7b")
    assert not unknown["price_known"]
    for col in ("cost_usd", "input_cost_usd", "output_cost_usd"):
        assert unknown[col] != unknown[col]  # NaN in pandas = SQL NULL
    daily = query("SELECT sum(unpriced_calls) AS u, sum(cost_usd) AS c FROM llm_calls_daily", db=path)
    assert int(daily["u"][0]) == 1
    assert daily["c"][0] == pytest.approx(2.50)


def test_call_without_any_token_count_has_unknown_cost_not_zero(make_db):
    """usage_source 'none' (no usage from the API and no vocabulary to count with)."""
    path = make_db([
        {"ts": datetime(2026, 11, 2), "model": "gpt-4o", "usage_source": "none"},
        {"ts": datetime(2026, 11, 2, 1), "model": "gpt-4o", "input_tokens": M, "output_tokens": 0},
    ])
    unknown, counted = costs(path)
    assert unknown["price_known"]  # the model has a price; the usage is what is missing
    for col in ("cost_usd", "input_cost_usd", "output_cost_usd"):
        assert unknown[col] != unknown[col]  # NaN in pandas = SQL NULL
    assert counted["cost_usd"] == pytest.approx(2.50)


def test_response_cache_hit_costs_nothing_and_reports_savings(make_db):
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "gpt-4o-mini", "input_tokens": 0, "output_tokens": 0,
                     "cache_hit": True, "saved_input_tokens": 2_000_000, "saved_output_tokens": 500_000,
                     "saved_ms": 1500.0}])
    (row,) = costs(path)
    assert row["cost_usd"] == 0
    assert row["saved_cost_usd"] == pytest.approx(2_000_000 * 0.15 / M + 500_000 * 0.60 / M)


def test_negotiated_override_from_a_date(make_db):
    overrides = parse_overrides({"price": [{"model": "gpt-4o", "valid_from": datetime(2026, 11, 15),
                                            "input": 2.0, "output": 8.0}]})
    path = make_db([
        {"ts": datetime(2026, 11, 14, 23), "model": "gpt-4o", "input_tokens": M, "output_tokens": M},
        {"ts": datetime(2026, 11, 15, 1), "model": "gpt-4o", "input_tokens": M, "output_tokens": M,
         "cached_input_tokens": 500_000},
    ])
    before, after = costs(path, overrides)
    assert before["cost_usd"] == pytest.approx(2.50 + 10.0)  # catalogue
    # No cached_input rate given: cached tokens fall back to the negotiated input rate.
    assert after["cost_usd"] == pytest.approx(2.0 + 8.0)


def test_discount_override_and_fine_tuned_glob(make_db):
    overrides = parse_overrides({"price": [
        {"model": "gpt-4o-mini", "discount": 0.2},
        {"match": "ft:gpt-4o-mini-2024-07-18:*", "input": 0.30, "cached_input": 0.15, "output": 1.20},
    ]})
    path = make_db([
        {"ts": datetime(2026, 11, 2), "model": "gpt-4o-mini", "input_tokens": M, "output_tokens": M},
        {"ts": datetime(2026, 11, 3), "model": "ft:gpt-4o-mini-2024-07-18:acme::abc123", "input_tokens": M,
         "cached_input_tokens": 200_000, "output_tokens": M},
    ])
    mini, ft = costs(path, overrides)
    assert mini["cost_usd"] == pytest.approx((0.15 + 0.60) * 0.8)
    assert ft["cost_usd"] == pytest.approx(800_000 * 0.30 / M + 200_000 * 0.15 / M + 1.20)


def test_self_hosted_with_configured_throughput(make_db):
    # 4 GPUs x $2.50/h = $10/h; 1,000 tokens/s = 3.6M tokens/h -> $10 / 3.6 = $2.7778 per 1M tokens.
    overrides = parse_overrides({"self_hosted": [{"model": "llama-70b-local", "gpu_hour_usd": 2.5, "gpus": 4,
                                                  "tokens_per_second": 1000}]})
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "llama-70b-local", "provider": "vllm",
                     "input_tokens": 600_000, "output_tokens": 400_000}])
    (row,) = costs(path, overrides)
    assert row["cost_usd"] == pytest.approx(10.0 / 3.6)


def test_self_hosted_with_observed_throughput(make_db):
    # Busy time is the union of call intervals: [0 s, 10 s) and [5 s, 15 s) overlap -> 15 s, plus
    # [100 s, 105 s) -> 20 s busy. Tokens: 3 x 10,000 = 30,000 -> 1,500 tokens/s.
    # 1 GPU at $3.60/h = $0.001/s -> $0.001 / 1,500 tokens/s = $0.6667 per 1M tokens.
    t0 = datetime(2026, 11, 2, 12)
    rows = [
        {"ts": t0, "duration_ms": 10_000.0},
        {"ts": t0.replace(second=5), "duration_ms": 10_000.0},
        {"ts": t0.replace(minute=1, second=40), "duration_ms": 5_000.0},
    ]
    path = make_db([{**r, "model": "mistral-local", "input_tokens": 8_000, "output_tokens": 2_000} for r in rows])
    overrides = parse_overrides({"self_hosted": [{"model": "mistral-local", "gpu_hour_usd": 3.6}]})
    total = sum(r["cost_usd"] for r in costs(path, overrides))
    rate = 0.001 / 1500 * M
    assert total == pytest.approx(30_000 * rate / M)


def test_costs_follow_a_price_change_without_recompute(make_db):
    path = make_db([{"ts": datetime(2026, 11, 2), "model": "gpt-4o", "input_tokens": M, "output_tokens": 0}])
    assert costs(path)[0]["cost_usd"] == pytest.approx(2.50)
    cheaper = parse_overrides({"price": [{"model": "gpt-4o", "input": 1.0, "output": 4.0}]})
    assert costs(path, cheaper)[0]["cost_usd"] == pytest.approx(1.0)


def test_matches_genai_prices_own_calculation(make_db):
    """Independent check: genai-prices' calc_price on the same usage gives the same totals."""
    from genai_prices import Usage, calc_price

    cases = [
        ("openai", "gpt-4.1-mini", datetime(2026, 11, 2), 120_000, 30_000, 0, 9_000, 1_000),
        ("anthropic", "claude-sonnet-4-5", datetime(2026, 11, 2), 250_000, 50_000, 10_000, 4_000, 0),  # >200k tier
        ("deepseek", "deepseek-chat", datetime(2026, 11, 2, 20), 50_000, 10_000, 0, 3_000, 0),  # off-peak
        ("deepseek", "deepseek-chat", datetime(2026, 11, 2, 10), 50_000, 10_000, 0, 3_000, 0),
        ("openai", "o4-mini", datetime(2026, 11, 2), 80_000, 0, 0, 20_000, 15_000),
    ]
    rows = [{"ts": ts, "provider": p, "model": m, "input_tokens": i, "cached_input_tokens": c,
             "cache_write_tokens": w, "output_tokens": o, "reasoning_tokens": r}
            for p, m, ts, i, c, w, o, r in cases]
    path = make_db(rows)
    got = connect(db=path, overrides=Overrides()).query(
        "SELECT provider, model, ts, cost_usd FROM llm_calls").to_dict("records")
    for p, m, ts, i, c, w, o, _r in cases:
        expected = calc_price(Usage(input_tokens=i, cache_read_tokens=c, cache_write_tokens=w, output_tokens=o),
                              m, provider_id=p, genai_request_timestamp=ts).total_price
        row = next(g for g in got if g["model"] == m and g["ts"] == ts)
        assert row["cost_usd"] == pytest.approx(float(expected)), (p, m, ts)


def test_rates_effective_fallbacks():
    r = Rates(input=2.0, output=8.0).effective()
    assert (r.cache_read, r.cache_write, r.reasoning) == (2.0, 2.0, 8.0)


def test_bad_overrides_file_is_a_clear_error(tmp_path):
    from tokentrail.analytics.overrides import PriceConfigError, load_overrides

    bad = tmp_path / "p.toml"
    bad.write_text('[[price]]\nmodel = "x"\ninput = -1\noutput = 2\n')
    with pytest.raises(PriceConfigError, match="input"):
        load_overrides(bad)
    bad.write_text('[[price]]\ninput = 1\noutput = 2\n')
    with pytest.raises(PriceConfigError, match="model"):
        load_overrides(bad)


def test_join_uses_every_column_that_changes_the_price(make_db):
    """The view joins on as few key columns as the data allows; mixing keys must stay exact."""
    overrides = parse_overrides({"self_hosted": [{"model": "shared-name", "provider": "vllm", "gpu_hour_usd": 3.6,
                                                  "tokens_per_second": 1000}]})
    path = make_db([
        {"ts": datetime(2026, 11, 2), "model": "gpt-4o", "input_tokens": M, "output_tokens": 0},
        {"ts": datetime(2026, 11, 3), "model": "gpt-4o", "response_model": "gpt-4o-2024-05-13", "input_tokens": M,
         "output_tokens": 0},
        {"ts": datetime(2026, 11, 4), "model": "gpt-4o", "service_tier": "batch", "input_tokens": M, "output_tokens": 0},
        {"ts": datetime(2026, 11, 5), "provider": "openai", "model": "shared-name", "input_tokens": M, "output_tokens": 0},
        {"ts": datetime(2026, 11, 6), "provider": "vllm", "model": "shared-name", "input_tokens": M, "output_tokens": 0},
    ])
    got = [(r["cost_usd"] if r["price_known"] else None) for r in costs(path, overrides)]
    assert got == [pytest.approx(2.50), pytest.approx(5.0), pytest.approx(1.25), None, pytest.approx(1.0)]


def test_models_arriving_later_are_priced_on_the_next_query(make_db):
    """The per-file key cache only rescans new rows; new models and deletes must still be seen."""
    import duckdb

    from tests.analytics.conftest import insert_calls

    path = make_db([{"ts": datetime(2026, 11, 2), "model": "gpt-4o", "input_tokens": M, "output_tokens": 0}])
    assert [r["cost_usd"] for r in costs(path)] == [pytest.approx(2.5)]
    insert_calls(path, [{"ts": datetime(2026, 11, 3), "model": "gpt-4o-mini", "input_tokens": M, "output_tokens": 0}])
    assert [r["cost_usd"] for r in costs(path)] == [pytest.approx(2.5), pytest.approx(0.15)]
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM llm_calls_raw WHERE model = 'gpt-4o'")
    con.close()
    insert_calls(path, [{"ts": datetime(2026, 11, 4), "model": "o3", "input_tokens": M, "output_tokens": 0}])
    assert [r["cost_usd"] for r in costs(path)] == [pytest.approx(0.15), pytest.approx(2.0)]


def test_cost_components_add_up(make_db):
    from tokentrail.analytics import cost_components

    path = make_db([{"ts": datetime(2026, 11, 2), "provider": "anthropic", "model": "claude-sonnet-4-0",
                     "input_tokens": 100_000, "cache_write_tokens": 20_000, "cached_input_tokens": 30_000,
                     "output_tokens": 10_000, "reasoning_tokens": 4_000}])
    row = cost_components(connect(db=path, overrides=Overrides())).iloc[0]
    assert row["uncached_input_usd"] == pytest.approx(50_000 * 3.0 / M)
    assert row["cache_write_usd"] == pytest.approx(20_000 * 3.75 / M)
    assert row["cache_read_usd"] == pytest.approx(30_000 * 0.30 / M)
    assert row["output_usd"] == pytest.approx(6_000 * 15.0 / M)
    assert row["reasoning_usd"] == pytest.approx(4_000 * 15.0 / M)
    parts = ["uncached_input_usd", "cache_read_usd", "cache_write_usd", "output_usd", "reasoning_usd"]
    assert sum(row[p] for p in parts) == pytest.approx(row["cost_usd"])
