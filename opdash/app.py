"""The dashboard app: a template with the summary, the funnel and data quality over one catalog.

``opdash serve DIR`` builds one app per browser session over the process's shared catalog.
This file is also servable on its own: ``panel serve opdash/app.py --args DIR``.
"""

from __future__ import annotations

import html
import os
import sys
from typing import Any

import panel as pn

from opdash.catalog import Catalog, shared_catalog
from opdash.components import DataQuality, FunnelView, SummaryBar

CSS = """
.opdash-kpis { display: flex; gap: 12px; flex-wrap: wrap; }
.opdash-kpi { flex: 1 1 150px; background: #fff; border: 1px solid #e5e7eb; border-radius: 10px;
  padding: 12px 16px; }
.opdash-kpi-label { color: #6b7280; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.opdash-kpi-value { font-size: 24px; font-weight: 600; color: #111827; margin-top: 4px; }
.opdash-kpi-warn .opdash-kpi-value { color: #b45309; }
.opdash-card { border-radius: 10px; padding: 12px 16px; border: 1px solid #e5e7eb; background: #fff; }
.opdash-card-title { font-weight: 600; margin-bottom: 4px; }
.opdash-error { border-color: #fecaca; background: #fef2f2; color: #991b1b; }
.opdash-warning { border-color: #fde68a; background: #fffbeb; }
.opdash-ok { border-color: #bbf7d0; background: #f0fdf4; }
.opdash-empty { color: #4b5563; }
.opdash-header { display: flex; align-items: baseline; gap: 16px; background: #111827;
  color: #f9fafb; padding: 14px 20px; font-family: system-ui, sans-serif; }
.opdash-brand { font-weight: 700; font-size: 20px; letter-spacing: .02em; }
.opdash-folder { font-size: 18px; color: #cbd5e1; }
.opdash-newest { margin-left: auto; color: #94a3b8; font-size: 13px; }
.opdash-sidebar { background: #f8fafc; border-right: 1px solid #e5e7eb; min-height: 80vh; }
.opdash-layout { font-family: ui-monospace, monospace; white-space: pre; background: #f9fafb;
  padding: 12px; border-radius: 8px; }
"""

EMPTY_FOLDER = """events/            workflow events: *.jsonl, *.ndjson, *.json, *.parquet (any depth)
runs/<run_id>/     run.json, events.jsonl, alerts.jsonl
state/             JSON and Markdown state surfaces
goals.yaml         goals (optional)"""


def ensure_extensions() -> None:
    """Load Panel's JS/CSS extensions once per process."""
    pn.extension("tabulator", raw_css=[CSS], sizing_mode="stretch_width")


def build_app(catalog: Catalog, *, refresh_seconds: int = 0) -> pn.Column:
    """One session's page over the shared ``catalog``.

    A hand-made shell rather than a Panel template: the templates pull web fonts from the
    internet, and an operator console must render complete on an offline host.
    """
    ensure_extensions()
    stats = catalog.stats()
    header = pn.pane.HTML(_header_html(catalog, stats), sizing_mode="stretch_width", margin=0)
    if stats.events == 0 and stats.quarantined == 0 and stats.runs == 0:
        return pn.Column(header, empty_folder(catalog), sizing_mode="stretch_width")
    summary = SummaryBar(catalog)
    funnel = FunnelView(catalog)
    quality = DataQuality(catalog)
    sidebar = pn.Column(
        pn.pane.HTML("<h3>Funnel</h3>", margin=(0, 10)),
        funnel.controls(),
        width=300,
        css_classes=["opdash-sidebar"],
    )
    main = pn.Column(
        summary,
        pn.pane.HTML("<h2>Operator loop funnel</h2>", margin=(10, 10, 0, 10)),
        funnel,
        pn.pane.HTML("<h2>Data quality</h2>", margin=(10, 10, 0, 10)),
        quality,
        sizing_mode="stretch_width",
    )
    if refresh_seconds:
        _follow_catalog(catalog, [summary, funnel, quality], refresh_seconds)
    return pn.Column(
        header, pn.Row(sidebar, main, sizing_mode="stretch_width"), sizing_mode="stretch_width"
    )


def empty_folder(catalog: Catalog) -> pn.Column:
    """The page for a folder with nothing in it: what it should hold and how to try opdash."""
    return pn.Column(
        pn.pane.HTML(
            f"<h2>No artifacts in {html.escape(str(catalog.root))}</h2>"
            "<p>opdash reads a folder laid out like this:</p>"
            f'<div class="opdash-layout">{html.escape(EMPTY_FOLDER)}</div>'
            "<p>To try it with realistic data: <code>opdash demo demo-folder</code> then "
            "<code>opdash serve demo-folder</code>.</p>",
            sizing_mode="stretch_width",
        )
    )


def _header_html(catalog: Catalog, stats) -> str:
    newest = (
        "newest event " + stats.last_event_at.strftime("%Y-%m-%d %H:%M UTC")
        if stats.last_event_at
        else "no events yet"
    )
    return (
        '<div class="opdash-header"><span class="opdash-brand">opdash</span>'
        f'<span class="opdash-folder">{html.escape(catalog.root.name)}</span>'
        f'<span class="opdash-newest">{html.escape(newest)}</span></div>'
    )


def _follow_catalog(catalog: Catalog, views: list[Any], seconds: int) -> None:
    """Redraw this session's views when the shared catalog's data version moves."""

    def check() -> None:
        if catalog.version != views[0].version:
            for view in views:
                view.version = catalog.version

    for view in views:
        view.version = catalog.version
    pn.state.add_periodic_callback(check, period=max(1, seconds) * 500)


def _servable() -> None:
    """Entry point under ``panel serve opdash/app.py --args DIR``."""
    folder = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPDASH_DIR", "data/demo")
    build_app(shared_catalog(folder)).servable()


if __name__.startswith("bokeh"):
    _servable()
