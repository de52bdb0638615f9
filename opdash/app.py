"""The dashboard app: pages of components over one shared catalog and one filter state.

``opdash serve DIR`` builds one :class:`Dashboard` per browser session over the process's shared
catalog. This file is also servable on its own: ``panel serve opdash/app.py --args DIR``.
"""

from __future__ import annotations

import html
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from opdash.catalog import Catalog, shared_catalog
from opdash.components import (
    ActivityFeed,
    DataQuality,
    FunnelView,
    GoalProgress,
    RunsView,
    SummaryBar,
    TodayStrip,
    TrendView,
)
from opdash.components.base import CatalogView, card_html, heading
from opdash.components.filters import Filters
from opdash.components.style import page_css
from opdash.components.urlstate import Binding, UrlSync, first_query
from opdash.metrics.runs import STALE_AFTER_SECONDS

#: Pages: URL name -> title.
PAGES = {
    "overview": "Overview",
    "funnels": "Funnels",
    "trends": "Trends & Goals",
    "activity": "Activity",
    "runs": "Runs",
    "quality": "Data quality",
}

#: Filter parameter -> URL key.
FILTER_KEYS = {
    "start": "from",
    "end": "to",
    "zone": "zone",
    "actors": "actor",
    "event_types": "type",
    "run": "run",
    "workflow": "workflow",
}

EMPTY_FOLDER = """events/            workflow events: *.jsonl, *.ndjson, *.json, *.parquet (any depth)
runs/<run_id>/     run.json, events.jsonl, alerts.jsonl
state/             JSON and Markdown state surfaces
goals.yaml         goals (optional)"""


def ensure_extensions() -> None:
    """Load Panel's JS/CSS extensions once per process."""
    pn.extension(
        "tabulator", raw_css=[page_css()], sizing_mode="stretch_width", notifications=False
    )


class Dashboard(param.Parameterized):
    """One session's pages. Views of a page are built on its first visit and kept; hidden ones
    are inactive (no queries) until shown again."""

    page = param.Selector(default="overview", objects=list(PAGES))

    def __init__(
        self,
        catalog: Catalog,
        *,
        refresh_seconds: int = 0,
        stale_after: int = STALE_AFTER_SECONDS,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.catalog = catalog
        self.stale_after = stale_after
        self.filters = Filters()
        self.sync = UrlSync()
        self._views: dict[str, list[tuple[CatalogView, bool]]] = {}
        self._layouts: dict[str, pn.Column] = {}
        self._initial: dict[int, dict[str, Any]] = {}  # each view's choices as first built
        self.main = pn.Column(sizing_mode="stretch_width", css_classes=["opdash-main"])
        self.notice = pn.pane.HTML("", sizing_mode="stretch_width", visible=False)
        self.header = pn.pane.HTML(self._header_html(), sizing_mode="stretch_width", margin=0)
        self._version = catalog.version
        self.sync.param.watch(self._show_problems, "problems")
        opened_with = first_query()
        self.sync.bind(self._bindings(), query=opened_with)  # the page and the filters
        self.param.watch(self._page_changed, "page")
        self._show(self.page, query=opened_with)  # then the page's own choices
        if refresh_seconds:
            pn.state.add_periodic_callback(self.follow, period=max(1, refresh_seconds) * 500)

    # -- pages ------------------------------------------------------------------------------
    def _build(self, page: str) -> pn.Column:
        """The page's layout; its views are registered (with whether they mirror in the URL)."""
        c, f = self.catalog, self.filters
        views: list[tuple[CatalogView, bool]] = []

        def add(view: CatalogView, in_url: bool = True) -> CatalogView:
            views.append((view, in_url))
            self._initial[id(view)] = {name: getattr(view, name) for name in view_choices(view)}
            return view

        if page == "overview":
            today, goals, funnel = overview_views(c, f)
            parts = [
                add(today, False),
                heading("Goals"),
                add(goals, False),
                heading("Operator loop funnel"),
                add(funnel, False),
            ]
        elif page == "funnels":
            funnel = add(FunnelView(c, filters=f))
            parts = [heading("Funnel"), funnel.controls(), funnel]
        elif page == "trends":
            trend = add(TrendView(c, filters=f))
            parts = [
                heading("Trends"),
                trend.controls(),
                trend,
                heading("Goals"),
                add(GoalProgress(c, filters=f), False),
            ]
        elif page == "activity":
            feed = add(ActivityFeed(c, filters=f))
            parts = [heading("Activity"), feed.controls(), feed]
        elif page == "runs":
            view = add(RunsView(c, filters=f, stale_after=self.stale_after))
            parts = [heading("Runs and alerts"), view.controls(), view]
        else:
            parts = [
                heading("Data quality"),
                add(SummaryBar(c, filters=f), False),
                add(DataQuality(c, filters=f), False),
            ]
        self._views[page] = views
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _bindings(self, page: str | None = None) -> list[Binding]:
        """What the URL mirrors: the page, the filters, and the page's own view choices."""
        bindings = [Binding("page", self, "page")]
        bindings += [Binding(key, self.filters, name) for name, key in FILTER_KEYS.items()]
        for view, in_url in self._views.get(page or self.page, []):
            if in_url:
                initial = self._initial[id(view)]
                bindings += [Binding(name, view, name, initial[name]) for name in initial]
        return bindings

    def _page_changed(self, event: param.parameterized.Event) -> None:
        self._show(event.new)

    def _show(self, page: str, *, query: str | None = None) -> None:
        """Show ``page``; its views' choices come from ``query`` when given (else they keep
        theirs, or take the URL being applied when the operator went back or forward)."""
        for name, views in self._views.items():
            if name != page:
                for view, _ in views:
                    view.active = False
        if page not in self._layouts:
            self._layouts[page] = self._build(page)
        self.sync.bind(self._bindings(page), query=query)
        for view, _ in self._views[page]:
            view.param.update(version=self.catalog.version, active=True)
        self.main[:] = [self._layouts[page]]

    # -- live -------------------------------------------------------------------------------
    def follow(self) -> None:
        """Redraw this session's visible views when the shared catalog's data version moved."""
        version = self.catalog.version
        if version == self._version:
            return
        self._version = version
        self.header.object = self._header_html()
        self.filters.refresh_choices(self.catalog)
        for view, _ in self._views.get(self.page, []):
            view.version = version

    # -- chrome -----------------------------------------------------------------------------
    def _header_html(self) -> str:
        stats = self.catalog.stats()
        newest = (
            "newest event " + stats.last_event_at.strftime("%Y-%m-%d %H:%M UTC")
            if stats.last_event_at
            else "no events yet"
        )
        return (
            '<div class="opdash-header"><span class="opdash-brand">opdash</span>'
            f'<span class="opdash-folder">{html.escape(self.catalog.root.name)}</span>'
            f'<span class="opdash-newest">{html.escape(newest)}</span></div>'
        )

    def _show_problems(self, *_events: Any) -> None:
        problems = self.sync.problems
        self.notice.object = (
            card_html(
                "Some of the link's settings were not used", "; ".join(problems), tone="warning"
            )
            if problems
            else ""
        )
        self.notice.visible = bool(problems)

    def nav(self) -> pn.widgets.RadioButtonGroup:
        return pn.widgets.RadioButtonGroup.from_param(
            self.param.page,
            options={title: name for name, title in PAGES.items()},
            orientation="vertical",
            color="primary",
            variant="outline",
            label="",
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.Column:
        sidebar = pn.Column(
            self.nav(),
            pn.pane.HTML("<h3>Filters</h3>", margin=(10, 10, 0, 10)),
            self.filters.controls(self.catalog),
            self.sync,
            width=290,
            css_classes=["opdash-sidebar"],
        )
        body = pn.Column(self.notice, self.main, sizing_mode="stretch_width")
        return pn.Column(
            self.header,
            pn.Row(sidebar, body, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )


def overview_views(catalog: Catalog, filters: Filters) -> list[CatalogView]:
    """The Overview's views: the day so far, the goals and the loop funnel's summary."""
    return [
        TodayStrip(catalog, filters=filters),
        GoalProgress(catalog, filters=filters),
        FunnelView(catalog, filters=filters, details=False),
    ]


def view_choices(view: CatalogView) -> list[str]:
    """A view's own parameters (what it lets the operator choose), in declaration order."""
    shared = set(CatalogView.param) | {"name"}
    return [
        name
        for name in view.param
        if name not in shared and (view.param[name].precedence or 0) >= 0  # <0: a setting
    ]


def build_app(
    catalog: Catalog, *, refresh_seconds: int = 0, stale_after: int = STALE_AFTER_SECONDS
) -> Any:
    """One session's page over the shared ``catalog`` (the empty-folder page when it is empty).

    A hand-made shell rather than a Panel template: the templates pull web fonts from the
    internet, and an operator console must render complete on an offline host.
    """
    ensure_extensions()
    if not _is_empty(catalog):
        return pn.panel(
            Dashboard(catalog, refresh_seconds=refresh_seconds, stale_after=stale_after)
        )
    page = pn.Column(empty_folder(catalog), sizing_mode="stretch_width")
    if refresh_seconds:
        _become_dashboard_when_filled(page, catalog, refresh_seconds, stale_after)
    return page


def _is_empty(catalog: Catalog) -> bool:
    stats = catalog.stats()
    return stats.events == 0 and stats.quarantined == 0 and stats.runs == 0


def _become_dashboard_when_filled(
    page: pn.Column, catalog: Catalog, refresh_seconds: int, stale_after: int
) -> None:
    """The empty-folder page turns into the dashboard once the refresh finds artifacts."""
    seen = {"version": catalog.version}

    def check() -> None:
        if catalog.version == seen["version"]:
            return
        seen["version"] = catalog.version
        if not _is_empty(catalog):
            callback.stop()
            page.objects = [
                Dashboard(catalog, refresh_seconds=refresh_seconds, stale_after=stale_after)
            ]

    callback = pn.state.add_periodic_callback(check, period=max(1, refresh_seconds) * 500)


def empty_folder(catalog: Catalog) -> pn.Column:
    """The page for a folder with nothing in it: what it should hold and how to try opdash."""
    header = pn.pane.HTML(
        '<div class="opdash-header"><span class="opdash-brand">opdash</span>'
        f'<span class="opdash-folder">{html.escape(catalog.root.name)}</span></div>',
        sizing_mode="stretch_width",
        margin=0,
    )
    body = pn.pane.HTML(
        f"<h2>No artifacts in {html.escape(str(catalog.root))}</h2>"
        "<p>opdash reads a folder laid out like this:</p>"
        f'<div class="opdash-layout">{html.escape(EMPTY_FOLDER)}</div>'
        "<p>To try it with realistic data: <code>opdash demo demo-folder</code> then "
        "<code>opdash serve demo-folder</code>.</p>",
        sizing_mode="stretch_width",
    )
    return pn.Column(header, body, sizing_mode="stretch_width")


def session_factory(
    catalog: Catalog, refresh_seconds: int, stale_after: int = STALE_AFTER_SECONDS
) -> Callable[[], Any]:
    return lambda: build_app(catalog, refresh_seconds=refresh_seconds, stale_after=stale_after)


def refresh_and_warm(catalog: Catalog) -> None:
    """Read what changed, then compute what every session asks for first (header counts,
    filter choices) here on the worker thread rather than on the event loop."""
    catalog.refresh()
    warm(catalog)


def warm(catalog: Catalog, *, filter_shapes: bool = False) -> None:
    """Compute what a new session asks for first, so opening the dashboard is a cache hit:
    header counts, filter choices and the Overview with no filters. Today's answer moves with
    the minute; running this each interval keeps it computed here, not in a session.

    ``filter_shapes`` (once, at start): also the Overview for the most frequent actor, which
    compiles the queries of the actor-filtered shapes (``opdash.templates``; compiled queries
    outlive data versions), so an operator's first actor choice only runs queries.
    """
    actors, _types, _runs = Filters.choices(catalog)
    if not catalog.stats().events:
        return
    filter_sets = [Filters()]
    if filter_shapes and actors:
        filter_sets.append(Filters(actors=actors[:1]))
    for filters in filter_sets:
        for view in overview_views(catalog, filters):
            try:
                view.cached_data()
            except Exception:  # noqa: BLE001  (the session shows the error card; keep warming)
                logging.getLogger("opdash").debug("warming %s failed", view.title, exc_info=True)


def schedule_refresh(catalog, seconds: int) -> None:
    """One refresh per interval for the whole process, on a worker thread (never on the event
    loop, so sessions stay responsive while new files are read). Sessions notice the new data
    version on their own and redraw in place."""
    import asyncio

    async def refresh() -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, refresh_and_warm, catalog)
        except Exception:  # noqa: BLE001  (a failed refresh must not stop the next one)
            logging.getLogger("opdash").exception("refresh of %s failed", catalog.root)

    pn.state.schedule_task(f"opdash-refresh-{catalog.root}", refresh, period=f"{seconds}s")


_WARMING: set = set()


def start_warming(catalog: Catalog) -> None:
    """Warm the caches once at start, on a thread: the first visitor need not wait for it
    (a session asking for an answer being computed waits for that one computation). Once
    per catalog: ``panel serve`` runs the app script for every session."""
    import threading

    if catalog.root in _WARMING:
        return
    _WARMING.add(catalog.root)

    def run() -> None:
        try:
            warm(catalog, filter_shapes=True)
        except Exception:  # noqa: BLE001
            logging.getLogger("opdash").exception("warming %s failed", catalog.root)

    threading.Thread(target=run, name="opdash-warm", daemon=True).start()


def _servable() -> None:
    """Entry point under ``panel serve opdash/app.py --args DIR``."""
    folder = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPDASH_DIR", "data/demo")
    refresh = int(os.environ.get("OPDASH_REFRESH", "10"))
    stale_after = int(os.environ.get("OPDASH_STALE_AFTER", str(STALE_AFTER_SECONDS)))
    catalog = shared_catalog(folder)
    start_warming(catalog)
    if refresh:
        schedule_refresh(catalog, refresh)
    app = build_app(catalog, refresh_seconds=refresh, stale_after=stale_after)
    app.servable(title=f"opdash · {catalog.root.name}")


if __name__.startswith("bokeh"):
    _servable()
