"""The dashboard app: the pages of a spec, drawn by components over one shared catalog and one
filter state.

``opdash serve DIR`` builds one :class:`Dashboard` per browser session over the process's shared
catalog, from the folder's checked ``dashboard.yaml`` (or the built-in spec: the app is always
built from a spec). What happens once per process (the check, warming, the refresh) is
``opdash.serving``. This file is also servable on its own: ``panel serve opdash/app.py --args
DIR``.
"""

from __future__ import annotations

import html
import os
from typing import Any

import panel as pn
import param

from opdash.catalog import Catalog
from opdash.components.base import CatalogView, card_html, heading
from opdash.components.filters import Filters
from opdash.components.style import page_css
from opdash.components.tab_memory import keep_tab_memory_flat
from opdash.components.urlstate import Binding, UrlSync, first_query
from opdash.display import utc_time
from opdash.metrics.runs import STALE_AFTER_SECONDS
from opdash.spec import DashboardSpec, PageSpec, TileSpec, default_spec

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
                    names = view.choices()
                    prefix = f"t{index + 1}-" if used & set(names) else ""
                    used |= {prefix + n for n in names}
                views.append((view, prefix))
                self._initial[id(view)] = {name: getattr(view, name) for name in view.choices()}
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
            "newest event " + utc_time(stats.last_event_at, seconds=False)
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


if __name__.startswith("bokeh"):
    # ``panel serve opdash/app.py --args DIR`` runs this file as a script: the process's side
    # (check, warming, refresh) is in an imported module, where Panel schedules the refresh
    from opdash.serving import servable

    servable()
