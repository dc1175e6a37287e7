"""`tokentrail budget check`: status per budget and the documented exit codes."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from tokentrail.analytics.budgets import EXIT_FORECAST, EXIT_OK, EXIT_SPEND, BudgetConfigError, parse_budgets

from tokentrail.cli import main

# 1..10 November: feature "chat" spends $2.50/day (gpt-4o), feature "search" $0.15/day (gpt-4o-mini).
ROWS = [
    {"ts": datetime(2026, 11, d, 12), "model": m, "feature": f, "user_id": "u1", "input_tokens": 1_000_000,
     "output_tokens": 0}
    for d in range(1, 11)
    for m, f in (("gpt-4o", "chat"), ("gpt-4o-mini", "search"))
]
AS_OF = "2026-11-11T00:00:00"  # 10 days elapsed: chat $25 so far, forecast $75


def check(db, tmp_path, budgets: str, capsys, *extra: str) -> tuple[int, str]:
    cfg = tmp_path / "budgets.toml"
    cfg.write_text(budgets)
    code = main(["budget", "check", "--config", str(cfg), "--db", str(db), "--as-of", AS_OF, *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_all_fine_exits_zero(make_db, tmp_path, capsys):
    code, out = check(make_db(ROWS), tmp_path, "[[budget]]\nmonthly_usd = 1000\n", capsys)
    assert code == EXIT_OK == 0
    assert "ok" in out


def test_forecast_crossing_exits_3(make_db, tmp_path, capsys):
    # chat: spend $25 of $60 (42%), forecast $75 (125%) -> forecast crosses 0.8 and 1.0
    code, out = check(make_db(ROWS), tmp_path, '[[budget]]\nfeature = "chat"\nmonthly_usd = 60\n', capsys)
    assert code == EXIT_FORECAST == 3
    assert "FORECAST" in out


def test_spend_crossing_exits_4_and_wins_over_forecast(make_db, tmp_path, capsys):
    budgets = ('thresholds = [0.8, 1.0]\n'
               '[[budget]]\nfeature = "chat"\nmonthly_usd = 60\n'        # forecast only
               '[[budget]]\nfeature = "search"\nmonthly_usd = 1.0\n')    # $1.50 spent of $1: over
    code, out = check(make_db(ROWS), tmp_path, budgets, capsys, "--format", "json")
    assert code == EXIT_SPEND == 4
    doc = json.loads(out)
    search = next(d for d in doc if d["value"] == "search")
    assert search["spend_usd"] == pytest.approx(1.5)
    assert search["spend_crossed"] == 1.0 and search["status"] == "OVER"
    chat = next(d for d in doc if d["value"] == "chat")
    assert chat["forecast_usd"] == pytest.approx(75.0) and chat["status"] == "FORECAST"


def test_per_budget_thresholds_and_user_scope(make_db, tmp_path, capsys):
    # user u1 spends $26.50 of $100 (26.5%): crosses a 0.25 threshold but not the default 0.8.
    budgets = '[[budget]]\nuser = "u1"\nmonthly_usd = 100\nthresholds = [0.25]\n'
    code, out = check(make_db(ROWS), tmp_path, budgets, capsys)
    assert code == EXIT_SPEND
    assert "ALERT" in out


def test_config_errors_exit_1(make_db, tmp_path, capsys):
    code, out = check(make_db(ROWS), tmp_path, "[[budget]]\nmonthly_usd = -5\n", capsys)
    assert code == 1 and "monthly_usd" in out
    assert main(["budget", "check", "--db", str(make_db(ROWS))]) == 1  # no config anywhere
    assert "TOKENTRAIL_BUDGETS" in capsys.readouterr().err


def test_parse_rejects_two_scopes():
    with pytest.raises(BudgetConfigError, match="at most one"):
        parse_budgets({"budget": [{"monthly_usd": 5, "feature": "a", "user": "b"}]})
