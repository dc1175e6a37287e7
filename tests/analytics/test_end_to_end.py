"""From a real openai SDK call to a cost in `llm_calls`: instrumentation -> embedded DuckDB -> views."""

from __future__ import annotations

import uuid

import pytest
from tokentrail.analytics import connect, rate_limit_pressure
from tokentrail.analytics.overrides import Overrides

import tokentrail


def test_instrumented_calls_are_priced_tagged_and_show_429_pressure(simulator, tmp_path, monkeypatch):
    import openai

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/work/shared/tiktoken")
    db = tmp_path / "e2e.duckdb"
    assert tokentrail.instrument(db=db, service_name="e2e")
    try:
        client = openai.OpenAI(base_url=simulator.base_url, api_key="sk-test", max_retries=2)
        usages = []
        with tokentrail.tags(user_id="ada", feature="summarise"):
            for _ in range(3):
                r = client.chat.completions.create(model="gpt-4o-mini",
                                                   messages=[{"role": "user", "content": "Summarise this."}])
                usages.append(r.usage)
            headers = {"x-sim-fault": "429", "x-sim-fault-count": "1", "x-sim-fault-key": uuid.uuid4().hex,
                       "x-sim-retry-after": "0.05"}
            r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Again."}],
                                               extra_headers=headers)
            usages.append(r.usage)
    finally:
        tokentrail.uninstrument()  # flushes the embedded exporter

    src = connect(db=db, overrides=Overrides())
    got = src.query("SELECT service, feature, user_id, count(*) AS n, sum(cost_usd) AS cost, "
                    "bool_and(price_known) AS priced, sum(retry_count) AS retries FROM llm_calls GROUP BY ALL")
    assert len(got) == 1
    row = got.iloc[0]
    assert (row["service"], row["feature"], row["user_id"], row["n"]) == ("e2e", "summarise", "ada", 4)
    assert bool(row["priced"]) and row["retries"] == 1
    expected = sum(u.prompt_tokens * 0.15 / 1e6 + u.completion_tokens * 0.60 / 1e6 for u in usages)
    assert row["cost"] == pytest.approx(expected)
    pressure = rate_limit_pressure(src)
    assert int(pressure["retried_429"].sum()) == 1
