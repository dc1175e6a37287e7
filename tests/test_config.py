"""Settings resolution: variables first, then files in the working directory, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentrail.config import DEFAULT_PRICES_FILE, settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("TOKENTRAIL_DB", "TOKENTRAIL_PRICES", "TOKENTRAIL_BUDGETS", "TOKENTRAIL_TOKEN", "TOKENTRAIL_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    s = settings()
    assert s.db_path == Path("tokentrail.duckdb")
    assert s.prices_file is None and s.budgets_file is None and s.token is None and s.endpoint is None


def test_working_directory_files_are_picked_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TOKENTRAIL_PRICES", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_PRICES_FILE).write_text("")
    assert settings().prices_file == Path(DEFAULT_PRICES_FILE)


def test_variables_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_PRICES_FILE).write_text("")
    monkeypatch.setenv("TOKENTRAIL_PRICES", "/etc/team-prices.toml")
    monkeypatch.setenv("TOKENTRAIL_DB", "~/llm.duckdb")
    s = settings()
    assert s.prices_file == Path("/etc/team-prices.toml")
    assert s.db_path == Path("~/llm.duckdb").expanduser()
