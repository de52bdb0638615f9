"""The dashboard app: the pages of a spec, drawn by components over one shared catalog and one
filter state.

``opdash serve DIR`` builds one :class:`Dashboard` per browser session over the process's shared
catalog, from the folder's checked ``dashboard.yaml`` (or the built-in spec: the app is always
built from a spec). This file is also servable on its own: ``panel serve opdash/app.py --args
DIR``.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import sys
import threading
import weakref
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import panel as pn
import param

from opdash.catalog import Catalog, shared_catalog
from opdash.components.base import CatalogView, card_html, heading
from opdash.components.filters import Filters
from opdash.components.style import page_css
from opdash.components.tab_memory import keep_tab_memory_flat
from opdash.components.urlstate import Binding, UrlSync, first_query
from opdash.metrics.runs import STALE_AFTER_SECONDS
from opdash.spec import CheckReport, DashboardSpec, PageSpec, TileSpec, check_folder, default_spec

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

    page = param.Selector(default=None, objects=[])

    def __init__(
        self,
        catalog: Catalog,
        *,
        spec: DashboardSpec | None = None,
        refresh_seconds: int = 0,
        stale_after: int = STALE_AFTER_SECONDS,
        **params: Any,
    ) -> None:
        self.spec = spec or default_spec()
        keys = [p.key for p in self.spec.pages]
        super().__init__(**params)
        self.param.page.objects = keys
        self.param.page.default = keys[0]  # the first page: left out of the URL
        if self.page not in keys:
            self.page = keys[0]
        self.catalog = catalog
        self.stale_after = stale_after
        self.filters = Filters()
        self.sync = UrlSync()
        self._views: dict[str, list[tuple[CatalogView, str | None]]] = {}  # view, URL prefix
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
    def _build(self, key: str) -> pn.Column:
        """The page's layout from its spec; its views are registered with the prefix of their
        URL keys (None: not in the URL)."""
        page = self.spec.page(key)
        views: list[tuple[CatalogView, str | None]] = []
        used: set[str] = set()
        blocks = []
        for index, tile in enumerate(page.tiles):
            view, block = tile_block(self.catalog, tile, self.filters, self.stale_after)
            if view is not None:
                prefix = None
                if tile.controls and tile.kind.has_controls:
                    names = view_choices(view)
                    prefix = f"t{index + 1}-" if used & set(names) else ""
                    used |= {prefix + n for n in names}
                views.append((view, prefix))
                self._initial[id(view)] = {name: getattr(view, name) for name in view_choices(view)}
            blocks.append(block)
        self._views[key] = views
        return page_layout(page, blocks)

    def _bindings(self, page: str | None = None) -> list[Binding]:
        """What the URL mirrors: the page, the filters, and the page's own view choices."""
        bindings = [Binding("page", self, "page", self.spec.pages[0].key)]
        bindings += [Binding(key, self.filters, name) for name, key in FILTER_KEYS.items()]
        for view, prefix in self._views.get(page or self.page, []):
            if prefix is not None:
                initial = self._initial[id(view)]
                bindings += [Binding(prefix + n, view, n, initial[n]) for n in initial]
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
        name = self.spec.title or self.catalog.root.name
        newest = (
            "newest event " + stats.last_event_at.strftime("%Y-%m-%d %H:%M UTC")
            if stats.last_event_at
            else "no events yet"
        )
        return (
            '<div class="opdash-header"><span class="opdash-brand">opdash</span>'
            f'<span class="opdash-folder">{html.escape(name)}</span>'
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
            options={page.title: page.key for page in self.spec.pages},
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


def tile_view(
    catalog: Catalog, tile: TileSpec, filters: Filters, stale_after: int = STALE_AFTER_SECONDS
) -> CatalogView:
    """The component a (checked) tile draws, with the tile's keys as its parameters."""
    cls = tile.kind.component_class()
    options = dict(tile.options)
    if "stale_after" in cls.param:
        options["stale_after"] = stale_after
    return cls(catalog, filters=filters, **options)


def tile_block(
    catalog: Catalog, tile: TileSpec, filters: Filters, stale_after: int = STALE_AFTER_SECONDS
) -> tuple[CatalogView | None, pn.Column]:
    """A tile as drawn on its page: heading, its controls when asked for, the view. A broken
    tile (``serve --lenient``), or one whose component refuses its keys, is an error card."""
    if tile.broken:
        problems = tile.options.get("problems") or ["this tile could not be read"]
        return None, pn.Column(_problems_card(problems), sizing_mode="stretch_width")
    try:
        view = tile_view(catalog, tile, filters, stale_after)
    except Exception as exc:  # noqa: BLE001  (a bad value shows as the tile's card)
        return None, pn.Column(
            _problems_card([f"{tile.type} tile: {exc}"]), sizing_mode="stretch_width"
        )
    title = tile.title if tile.title is not None else (view.title if tile.kind.headed else "")
    parts: list[Any] = [heading(title)] if title else []
    if tile.controls and tile.kind.has_controls:
        parts.append(view.controls())
    parts.append(view)
    return view, pn.Column(*parts, sizing_mode="stretch_width")


def _problems_card(problems: list[str]) -> pn.pane.HTML:
    body = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return pn.pane.HTML(
        '<div class="opdash-card opdash-error"><div class="opdash-card-title">'
        f"This tile could not be shown</div><ul>{body}</ul></div>",
        sizing_mode="stretch_width",
    )


def page_layout(page: PageSpec, blocks: list[pn.Column]) -> pn.Column:
    """The page's tiles: one column, or ``layout.columns`` side by side; ``layout.width``
    bounds the page's width and ``layout.height`` is each tile's least height."""
    columns = int(page.layout.get("columns", 1))
    height = page.layout.get("height")
    if height:
        for block in blocks:
            block.min_height = int(height)
    options: dict[str, Any] = {"sizing_mode": "stretch_width"}
    if page.layout.get("width"):
        options["max_width"] = int(page.layout["width"])
    if columns > 1:
        return pn.Column(pn.GridBox(*blocks, ncols=columns, sizing_mode="stretch_width"), **options)
    return pn.Column(*blocks, **options)


def first_page_views(catalog: Catalog, spec: DashboardSpec, filters: Filters) -> list[CatalogView]:
    """The views of the spec's first page (what every new session shows first)."""
    views = []
    for tile in spec.pages[0].tiles:
        if not tile.broken:
            try:
                views.append(tile_view(catalog, tile, filters))
            except Exception:  # noqa: BLE001  (the session shows the error card)
                continue
    return views


def view_choices(view: CatalogView) -> list[str]:
    """A view's own parameters (what it lets the operator choose), in declaration order."""
    shared = set(CatalogView.param) | {"name"}
    return [
        name
        for name in view.param
        if name not in shared and (view.param[name].precedence or 0) >= 0  # <0: a setting
    ]


def build_app(
    catalog: Catalog,
    *,
    spec: DashboardSpec | None = None,
    refresh_seconds: int = 0,
    stale_after: int = STALE_AFTER_SECONDS,
) -> Any:
    """One session's page over the shared ``catalog`` (the empty-folder page when it is empty).

    A hand-made shell rather than a Panel template: the templates pull web fonts from the
    internet, and an operator console must render complete on an offline host.
    """
    ensure_extensions()
    doc = pn.state.curdoc
    served = doc is not None and doc.session_context is not None
    if served and os.environ.get("OPDASH_TAB_MEMORY", "1") != "0":  # a tab open all day
        keep_tab_memory_flat(doc)
    settings = {"spec": spec, "refresh_seconds": refresh_seconds, "stale_after": stale_after}
    if not _is_empty(catalog):
        return pn.panel(Dashboard(catalog, **settings))
    page = pn.Column(empty_folder(catalog), sizing_mode="stretch_width")
    if refresh_seconds:
        _become_dashboard_when_filled(page, catalog, settings)
    return page


def draw_once(catalog: Catalog, spec: DashboardSpec | None = None) -> None:
    """Build one page into a document nobody sees, so the first visitor does not pay what a
    process pays once for its first page (Panel, Bokeh and HoloViews set-up: ~0.9 s). No
    refresh: the throw-away page starts no callbacks."""
    from bokeh.document import Document

    try:
        build_app(catalog, spec=spec, refresh_seconds=0).server_doc(Document())
    except Exception:  # noqa: BLE001  (a real session shows what fails; this is only a warm-up)
        logging.getLogger("opdash").debug("drawing a first page failed", exc_info=True)


def _is_empty(catalog: Catalog) -> bool:
    stats = catalog.stats()
    return stats.events == 0 and stats.quarantined == 0 and stats.runs == 0


def _become_dashboard_when_filled(page: pn.Column, catalog: Catalog, settings: dict) -> None:
    """The empty-folder page turns into the dashboard once the refresh finds artifacts."""
    seen = {"version": catalog.version}

    def check() -> None:
        if catalog.version == seen["version"]:
            return
        seen["version"] = catalog.version
        if not _is_empty(catalog):
            callback.stop()
            page.objects = [Dashboard(catalog, **settings)]

    period = max(1, settings["refresh_seconds"]) * 500
    callback = pn.state.add_periodic_callback(check, period=period)


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


def refresh_and_warm(catalog: Catalog, spec: DashboardSpec | None = None) -> None:
    """Read what changed, then compute what every session asks for first (header counts,
    filter choices) here on the worker thread rather than on the event loop."""
    catalog.refresh()
    warm(catalog, spec, only_read=True)


def warm(
    catalog: Catalog,
    spec: DashboardSpec | None = None,
    *,
    filter_shapes: bool = False,
    only_read: bool = False,
    funnel_orders: bool = False,
) -> None:
    """Compute what a new session asks for first, so opening the dashboard is a cache hit:
    header counts, filter choices and the first page with no filters. Today's answer moves
    with the minute; running this each interval keeps it computed here, not in a session.

    ``filter_shapes`` (once, at start): also the first page for the most frequent actor, which
    compiles the queries of the actor-filtered shapes (``opdash.templates``; compiled queries
    outlive data versions), so an operator's first actor choice only runs queries.

    ``only_read`` (after each refresh): a view is warmed again only if its last warmed answer
    was asked for since — with a live exporter every refresh is a new version, and computing
    the whole folder's funnel every interval for nobody is most of the server's work.

    ``funnel_orders`` (once, at start): also every funnel tile's chains in the orders it does
    not show, so switching a funnel's order is a question over kept chains, not a pass over
    the events (seconds at 10M events).
    """
    spec = spec or default_spec()
    actors, _types, _runs = Filters.choices(catalog)
    if not catalog.stats().events:
        return
    filter_sets = [Filters()]
    if filter_shapes and actors:
        filter_sets.append(Filters(actors=actors[:1]))
    warmed = _WARMED.setdefault(catalog, {})
    for filters in filter_sets:
        for slot, view in enumerate(first_page_views(catalog, spec, filters)):
            place = (bool(filters.actors), slot)
            if only_read and place in warmed and not catalog.was_read(warmed[place]):
                continue
            try:
                warmed[place] = view.key()
                view.cached_data()
            except Exception:  # noqa: BLE001  (the session shows the error card; keep warming)
                logging.getLogger("opdash").debug("warming %s failed", view.title, exc_info=True)
    if funnel_orders:
        _warm_funnel_orders(catalog, spec)


def _warm_funnel_orders(catalog: Catalog, spec: DashboardSpec) -> None:
    """Every funnel tile's chains in each order (its answers with no filters)."""
    from opdash.components.funnel import FunnelView
    from opdash.metrics.sequence import ORDERS

    for page in spec.pages:
        for tile in page.tiles:
            if tile.broken or tile.kind.component_class() is not FunnelView:
                continue
            try:
                view = tile_view(catalog, tile, Filters())
                for order in ORDERS:
                    if order == "unordered" and len(set(view.steps)) != len(view.steps):
                        continue
                    view.order = order
                    view.cached_data()
            except Exception:  # noqa: BLE001
                logging.getLogger("opdash").debug("warming a funnel failed", exc_info=True)


#: Per catalog: (filters, place on the page) -> the key warmed there. Weak, like ``_STARTED`` and
#: ``_CHECKED``: a catalog closed and let go leaves them, so a process that opens many folders
#: (a notebook, a test run) keeps records of the open ones only.
_WARMED: weakref.WeakKeyDictionary[Catalog, dict[tuple, Hashable]] = weakref.WeakKeyDictionary()


def schedule_refresh(catalog, seconds: int, spec: DashboardSpec | None = None) -> None:
    """One refresh per interval for the whole process, on a worker thread (never on the event
    loop, so sessions stay responsive while new files are read). Sessions notice the new data
    version on their own and redraw in place."""
    import asyncio

    held, root = weakref.ref(catalog), catalog.root  # the task does not keep the catalog
    name = f"opdash-refresh-{root}-{id(catalog)}"

    async def refresh() -> None:
        live = held()
        if live is None:  # closed and let go: its refresh ends with it
            with contextlib.suppress(KeyError):
                pn.state.cancel_task(name)
            return
        try:
            await asyncio.get_running_loop().run_in_executor(None, refresh_and_warm, live, spec)
        except Exception:  # noqa: BLE001  (a failed refresh must not stop the next one)
            logging.getLogger("opdash").exception("refresh of %s failed", root)

    pn.state.schedule_task(name, refresh, period=f"{seconds}s")


def start_warming(catalog: Catalog, spec: DashboardSpec | None = None) -> None:
    """Warm the caches at start, on a thread: the first visitor need not wait for it (a
    session asking for an answer being computed waits for that one computation)."""

    def run() -> None:
        try:
            warm(catalog, spec, filter_shapes=True, funnel_orders=True)
        except Exception:  # noqa: BLE001
            logging.getLogger("opdash").exception("warming %s failed", catalog.root)

    threading.Thread(target=run, name="opdash-warm", daemon=True).start()


_CHECKED: weakref.WeakKeyDictionary[Catalog, dict[str, CheckReport]] = weakref.WeakKeyDictionary()


def checked(catalog: Catalog, spec_path: str | None = None, *, log: bool = True) -> CheckReport:
    """The folder's check (its spec, goals and data), once per catalog and spec — so once per
    process: ``panel serve`` runs the app script for every session. The catalog then watches
    the files the spec's state tiles show, so an edit redraws them like new data."""
    reports = _CHECKED.setdefault(catalog, {})  # per catalog: a forked process opens its own
    key = spec_path or ""
    if key not in reports:
        report = check_folder(catalog.root, spec_path, catalog=catalog)
        for problem in report.blocking if log else ():  # (opdash serve prints them itself)
            logging.getLogger("opdash").warning("%s", problem.text())
        catalog.watch(report.spec.sources())
        reports[key] = report
    return reports[key]


def dashboard(
    folder: str | os.PathLike[str],
    *,
    spec_path: str | None = None,
    refresh_seconds: int = 10,
    stale_after: int = STALE_AFTER_SECONDS,
    log: bool = True,
    engine: str = "duckdb",
    remote: str | None = None,
) -> Any:
    """The dashboard of ``folder`` over the process's shared catalog (on ``engine``; Spark at
    ``remote``, a local one when None), its spec checked (spec
    problems are logged unless ``log`` is false, and drawn in place of the broken tiles), warmed
    and refreshed every ``refresh_seconds`` (0: never). Inline in Jupyter, ``.servable()`` under
    ``panel serve`` (a notebook or this module), or a session of ``opdash serve`` — each calls
    this once per session; the catalog, the check, the warming and the refresh happen once per
    process."""
    catalog, report = serving_catalog(
        folder, spec_path, refresh_seconds, log=log, engine=engine, remote=remote
    )
    return build_app(
        catalog, spec=report.spec, refresh_seconds=refresh_seconds, stale_after=stale_after
    )


def serving_catalog(
    folder: str | os.PathLike[str],
    spec_path: str | None = None,
    refresh_seconds: int = 10,
    *,
    log: bool = True,
    overview_first: bool = False,
    engine: str = "duckdb",
    remote: str | None = None,
) -> tuple[Catalog, CheckReport]:
    """This process's catalog of ``folder`` and its check, warmed and refreshed every
    ``refresh_seconds`` (0: never) — all once per process: with ``--num-procs`` each forked
    process opens, checks and refreshes its own, on its first session or API request.

    ``overview_first`` (``opdash serve``, before it answers): the Overview's answers are
    computed before this returns, so the first visitor's page is drawn from them; the rest of
    the warming goes on in the background."""
    catalog = shared_catalog(folder, engine=engine, remote=remote)
    report = checked(catalog, spec_path, log=log)
    with _STARTED_LOCK:
        first = catalog not in _STARTED
        _STARTED.add(catalog)
    if first:  # ``panel serve`` runs the app script for every session
        _stop_with_supervisor()
        if overview_first:
            warm(catalog, report.spec)
        start_warming(catalog, report.spec)
        if refresh_seconds:
            schedule_refresh(catalog, refresh_seconds, report.spec)
    return catalog, report


_STARTED: weakref.WeakSet[Catalog] = weakref.WeakSet()
_STARTED_LOCK = threading.Lock()


def _stop_with_supervisor() -> None:
    """A process forked by ``--num-procs`` is stopped when the process that forked it stops
    (Linux): otherwise stopping the server would leave its workers serving the port."""
    from tornado.process import task_id

    if task_id() is None or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _servable() -> None:
    """Entry point under ``panel serve opdash/app.py --args DIR``. The spec is the folder's
    dashboard.yaml, or ``OPDASH_SPEC``."""
    folder = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPDASH_DIR", "data/demo")
    app = dashboard(
        folder,
        spec_path=os.environ.get("OPDASH_SPEC") or None,
        refresh_seconds=int(os.environ.get("OPDASH_REFRESH", "10")),
        stale_after=int(os.environ.get("OPDASH_STALE_AFTER", str(STALE_AFTER_SECONDS))),
    )
    app.servable(title=f"opdash · {Path(folder).name}")


if __name__.startswith("bokeh"):
    # ``panel serve`` runs this file as a script: call the imported module's copy, since Panel
    # schedules the refresh only for a callback defined in an imported module
    from opdash import app as _imported

    _imported._servable()
