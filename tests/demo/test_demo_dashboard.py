"""Issue 8's bar: the database the demo leaves shows data on every dashboard page (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokentrail.dashboards.sidebar import PAGES

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


@pytest.mark.parametrize("page", list(PAGES))
def test_every_dashboard_page_shows_the_demo_data(demo_dir: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    for name in ("TOKENTRAIL_COLLECTOR", "TOKENTRAIL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    monkeypatch.setenv("TOKENTRAIL_DB", str(demo_dir / "demo.duckdb"))
    monkeypatch.setenv("TOKENTRAIL_PRICES", str(demo_dir / "tokentrail-prices.toml"))
    monkeypatch.setenv("TOKENTRAIL_BUDGETS", str(demo_dir / "tokentrail-budgets.toml"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["page"] = page
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shown = len(at.metric) + len(at.dataframe) + len(at.get("plotly_chart"))
    assert shown > 0, f"the {page} page shows no figures, tables or charts"
    infos = " ".join(str(i.value) for i in at.info)
    assert "No LLM calls" not in infos and "No budgets configured" not in infos
