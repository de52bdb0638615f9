"""An operator's tab left open all day, played fast: filter changes across the pages of one
browser session, with the tab's memory read after a forced garbage collection every so often.

Shared by the browser test (``tests/ui/test_ui_tab.py``, 60 changes) and the benchmark
(``benchmarks/bench_tab.py``, 300 changes and more). The changes are what an operator does in
the sidebar and on a page (a run, a workflow id, a funnel's window and order, an alert's
severity), never a reload: a reload would start a fresh document and hide any growth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle

from playwright.sync_api import Page, expect

#: One of the demo's workflows.
WORKFLOW = "wf-0001"
#: Long enough for an answer on a busy 2-core machine.
SLOW = 20_000

#: Models in the page's Bokeh documents (what BokehJS holds, drawn or not).
MODELS_JS = "() => Bokeh.documents.reduce((n, d) => n + d._all_models.size, 0)"


@dataclass(frozen=True)
class Sample:
    """The tab after ``changes`` changes and a forced garbage collection."""

    changes: int
    heap_mb: float  # JS heap in use
    dom_nodes: int
    listeners: int  # JS event listeners
    models: int  # Bokeh models the page's documents hold

    def line(self) -> str:
        return (
            f"{self.changes:>4} changes  heap {self.heap_mb:7.2f} MB  DOM {self.dom_nodes:>7,}"
            f"  listeners {self.listeners:>6,}  models {self.models:>6,}"
        )


def growth(samples: list[Sample], field: str) -> float:
    """Relative growth of ``field`` from the first sample to the last."""
    first, last = getattr(samples[0], field), getattr(samples[-1], field)
    return (last - first) / first


class Quiet:
    """Knows when the server has stopped sending patches to the tab (an answer is drawn)."""

    def __init__(self, page: Page) -> None:
        self.frames = 0
        self.last = time.monotonic()
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, _payload) -> None:
        self.frames += 1
        self.last = time.monotonic()

    def wait(self, page: Page, since: int, *, quiet: float = 0.4, timeout: float = 20) -> None:
        """Wait for a frame after ``since`` frames, then ``quiet`` seconds without one (a change
        that sends nothing, such as re-choosing a shown value, ends at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            if self.frames > since and time.monotonic() - self.last > quiet:
                return


def nav(page: Page, title: str) -> None:
    page.get_by_role("button", name=title, exact=True).click()


def button(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).first.click()


def fill(page: Page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(text)
    box.press("Enter")


def run_filter(index: int) -> Callable[[Page], None]:
    return lambda page: page.get_by_label("Run", exact=True).first.select_option(index=index)


def workflow_filter(text: str) -> Callable[[Page], None]:
    return lambda page: fill(page, "Workflow id", text)


def window(text: str) -> Callable[[Page], None]:
    return lambda page: fill(page, "Window (e.g. 90m, 6h, 14d)", text)


def choose(label: str, value: str) -> Callable[[Page], None]:
    return lambda page: page.get_by_label(label, exact=True).first.select_option(value)


def click(name: str) -> Callable[[Page], None]:
    return lambda page: button(page, name)


#: One round of an operator's day: every page visited with its changes (the sidebar's run and
#: workflow filters, a funnel's window and order, a trend's interval, the alerts' severity and
#: state), each changed back, so the tab ends a round as it began it: on the same page with the
#: same filters. Memory is compared between rounds' ends, equal states.
ROUND: tuple[tuple[str, Callable[[Page], None]], ...] = (
    ("Overview", run_filter(1)),
    ("Overview", run_filter(2)),
    ("Overview", run_filter(0)),
    ("Funnels", window("1h")),
    ("Funnels", click("strict")),
    ("Funnels", window("14d")),
    ("Funnels", click("ordered")),
    ("Funnels", workflow_filter(WORKFLOW)),
    ("Funnels", workflow_filter("")),
    ("Trends & Goals", click("week")),
    ("Trends & Goals", click("day")),
    ("Trends & Goals", run_filter(2)),
    ("Trends & Goals", run_filter(0)),
    ("Runs", choose("Alert severity", "critical")),
    ("Runs", choose("Alert state", "resolved")),
    ("Runs", choose("Alert severity", "all")),
    ("Runs", choose("Alert state", "all")),
    ("Activity", run_filter(1)),
    ("Activity", run_filter(0)),
    ("Retention", workflow_filter(WORKFLOW)),
    ("Retention", workflow_filter("")),
    ("Paths", run_filter(2)),
    ("Paths", run_filter(0)),
    ("Data quality", run_filter(1)),
    ("Data quality", run_filter(0)),
)


def measure(page: Page) -> dict[str, float]:
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Performance.enable")
        for _ in range(2):  # a second pass frees what the first one's finalizers released
            cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    finally:
        cdp.detach()
    return metrics


def sample(page: Page, quiet: Quiet, done: int) -> Sample:
    quiet.wait(page, quiet.frames - 1, quiet=1.5, timeout=30)
    metrics = measure(page)
    return Sample(
        changes=done,
        heap_mb=metrics["JSHeapUsedSize"] / 2**20,
        dom_nodes=int(metrics["Nodes"]),
        listeners=int(metrics["JSEventListeners"]),
        models=int(page.evaluate(MODELS_JS)),
    )


def play(
    page: Page,
    url: str,
    *,
    total: int,
    every: int,
    report: Callable[[Sample], None] | None = None,
) -> list[Sample]:
    """Open ``url`` (a dashboard) in ``page``, make ``total`` changes and sample the tab after
    every ``every`` of them (a multiple of a round's length, so samples compare equal states;
    the first, with every page built once, is what later growth is measured against)."""
    if every % len(ROUND) or total % every:
        raise ValueError(f"every must be a multiple of {len(ROUND)}, total of every")
    quiet = Quiet(page)
    page.goto(url)
    expect(page.get_by_role("button", name="Funnels", exact=True)).to_be_visible(timeout=SLOW)
    quiet.wait(page, 0, quiet=1.0, timeout=SLOW / 1000)
    samples: list[Sample] = []
    shown = None
    for done, (title, change) in enumerate(cycle(ROUND), start=1):
        if title != shown:
            since = quiet.frames
            nav(page, title)
            quiet.wait(page, since)
            shown = title
        since = quiet.frames
        change(page)
        quiet.wait(page, since)
        if done % every == 0:
            samples.append(sample(page, quiet, done))
            if report:
                report(samples[-1])
        if done >= total:
            return samples
    raise AssertionError("unreachable: the rounds are endless")
