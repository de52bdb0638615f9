"""What lives once per serving process, beside the sessions' pages (``opdash.app``): the
folder's check, the warming of the first answers, the refresh every interval, and the records
that make each of them happen once per catalog.

``opdash serve`` (``opdash.server``) and ``panel serve opdash/app.py`` call :func:`dashboard`
once per session and :func:`serving_catalog` once per API request; whatever they ask for a
second time in a process is answered from the records below. Every record is per catalog and
weak: a catalog closed and let go leaves them, so a process that opens many folders (a notebook,
a test run) keeps records of the open ones only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import weakref
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import panel as pn

from opdash.app import build_app, first_page_views, tile_view
from opdash.catalog import Catalog, shared_catalog
from opdash.components.filters import Filters
from opdash.metrics.runs import STALE_AFTER_SECONDS
from opdash.spec import CheckReport, DashboardSpec, check_folder, default_spec

#: Guards the records below (sessions and API requests run on several threads).
_LOCK = threading.RLock()
#: Per catalog: (filters, place on the page) -> the key warmed there.
_WARMED: weakref.WeakKeyDictionary[Catalog, dict[tuple, Hashable]] = weakref.WeakKeyDictionary()
#: Per catalog: spec path ("" for the folder's own) -> the folder's check.
_CHECKED: weakref.WeakKeyDictionary[Catalog, dict[str, CheckReport]] = weakref.WeakKeyDictionary()
#: The catalogs whose warming and refresh have been started in this process.
_STARTED: weakref.WeakSet[Catalog] = weakref.WeakSet()


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
    with _LOCK:
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


def checked(catalog: Catalog, spec_path: str | None = None, *, log: bool = True) -> CheckReport:
    """The folder's check (its spec, goals and data), once per catalog and spec — so once per
    process: ``panel serve`` runs the app script for every session. The catalog then watches
    the files the spec's state tiles show, so an edit redraws them like new data."""
    key = spec_path or ""
    with _LOCK:  # per catalog: a forked process opens its own
        reports = _CHECKED.setdefault(catalog, {})
        if key not in reports:
            report = check_folder(catalog.root, spec_path, catalog=catalog)
            for problem in report.blocking if log else ():  # (opdash serve prints them itself)
                logging.getLogger("opdash").warning("%s", problem.text())
            catalog.watch(report.spec.sources())
            reports[key] = report
        return reports[key]


def draw_once(catalog: Catalog, spec: DashboardSpec | None = None) -> None:
    """Build one page into a document nobody sees, so the first visitor does not pay what a
    process pays once for its first page (Panel, Bokeh and HoloViews set-up: ~0.9 s). No
    refresh: the throw-away page starts no callbacks."""
    from bokeh.document import Document

    try:
        build_app(catalog, spec=spec, refresh_seconds=0).server_doc(Document())
    except Exception:  # noqa: BLE001  (a real session shows what fails; this is only a warm-up)
        logging.getLogger("opdash").debug("drawing a first page failed", exc_info=True)


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
    with _LOCK:
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


def servable() -> None:
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
