"""Regenerate docs/images/dashboard.png (the README's picture) from a real dashboard in Chromium.

    .venv/bin/python tests/dashboards/make_screenshot.py [--page overview] [--out docs/images/dashboard.png]

Synthetic traffic (tokentrail.dashboards.sample) with a global budget, the packaged app run by
`tokentrail dashboard`, Debian's headless Chromium: the same harness as test_browser.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dash_browser import Browser, Dashboard  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="overview")
    parser.add_argument("--calls", type=int, default=40_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    args = parser.parse_args()

    from tokentrail.dashboards import sample

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.duckdb"
        sample.generate(db, args.calls)
        budgets = Path(tmp) / "budgets.toml"
        budgets.write_text('[[budget]]\nname = "total"\nmonthly_usd = 90\n')
        dashboard = Dashboard("--db", str(db), env={"TOKENTRAIL_BUDGETS": str(budgets)})
        browser = Browser(Path(tmp) / "profile", width=1440, height=1000)
        try:
            state = browser.load(dashboard.url + f"?page={args.page}")
            if state["exceptions"]:
                raise SystemExit(f"the page shows an exception: {state['text'][:500]}")
            browser.screenshot(args.out, full_page=True, max_height=1400)
        finally:
            browser.close()
            dashboard.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
