"""Benchmark: a tab left open all day (issue 19) — does one browser session's memory grow?

    python benchmarks/bench_tab.py --changes 300 --every 50 [--data data/demo] [--json OUT]

Starts a real ``opdash serve DATA`` and drives Debian's Chromium through ``tests/long_tab.py``:
filter changes across the pages of one session (the sidebar's run and workflow filters on every
page, a funnel's window and order, a trend's interval, the alerts' severity and state), and
after every ``--every`` changes a forced garbage collection (CDP ``HeapProfiler.collectGarbage``,
twice) and a reading of the JS heap in use, DOM nodes and JS event listeners (CDP
``Performance.getMetrics``) and the models the page's Bokeh documents hold.

The target (issue 19): from the first sample (after ``--every`` changes: every page built once)
to the last, heap and DOM grow by at most 10 %. ``--no-fix`` serves with the tab-memory script
switched off (``OPDASH_TAB_MEMORY=0``), to measure what BokehJS does on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.long_tab import growth, play  # noqa: E402
from tests.servers import CHROMIUM_ARGS, DEMO, chromium_path, opdash_serve  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEMO)
    parser.add_argument("--to", default="2026-11-20", help="the last day shown (pinned)")
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--no-fix", action="store_true", help="serve without the tab script")
    parser.add_argument("--json", type=Path, help="write the samples here")
    args = parser.parse_args()

    if args.no_fix:
        os.environ["OPDASH_TAB_MEMORY"] = "0"
    started = time.monotonic()
    with opdash_serve(args.data, ready_query="?page=quality") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        samples = play(
            page,
            f"{url}?page=overview&to={args.to}",
            total=args.changes,
            every=args.every,
            report=lambda s: print(s.line(), f"({time.monotonic() - started:.0f} s)", flush=True),
        )
        browser.close()
    for field in ("heap_mb", "dom_nodes", "listeners", "models"):
        print(f"growth of {field} after the first sample: {growth(samples, field):+.1%}")
    if args.json:
        args.json.write_text(json.dumps([s.__dict__ for s in samples], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
