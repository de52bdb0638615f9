"""What every dashboard component shares: the catalog, the page's filters, and how it renders.

A component computes its answer in ``data()`` (plain Python: tests and notebooks call it without
a browser) and draws it in ``draw(data)``. In a served session the answer is computed on a query
thread, off the event loop and on that thread's own DuckDB cursor, and cached per (query, data
version) in the shared catalog, so ten sessions asking the same question run it once. A failing
query becomes an error card in place of the component, never a broken page.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from opdash.catalog import Reads
from opdash.components.filters import FILTER_NAMES, Filters
from opdash.components.morph import morph
from opdash.display import first_line

log = logging.getLogger("opdash")

#: Query threads of the process, shared by every session (DuckDB itself runs each query on
#: all cores; more threads only let a quick query pass a slow one).
QUERY_THREADS = int(os.environ.get("OPDASH_QUERY_THREADS", "4"))
_EXECUTOR = ThreadPoolExecutor(max_workers=QUERY_THREADS, thread_name_prefix="opdash-query")


def card_html(title: str, body: str, *, tone: str = "info") -> str:
    """An escaped little card; ``title`` and ``body`` are plain text, never HTML."""
    return (
        f'<div class="opdash-card opdash-{tone}"><div class="opdash-card-title">'
        f"{html.escape(title)}</div><div>{html.escape(body)}</div></div>"
    )


def error_card(what: str, exc: BaseException) -> pn.pane.HTML:
    """Shown in place of a component whose query failed: what failed and why, escaped."""
    from opdash.catalog.memory import resource_message
    from opdash.errors import UsageError

    resource = resource_message(exc)
    if not isinstance(exc, UsageError) and resource is None:
        log.error("opdash component %s failed", what, exc_info=exc)
    reason = resource or first_line(exc)
    return pn.pane.HTML(
        card_html(f"{what} could not be shown", reason, tone="error"), sizing_mode="stretch_width"
    )


def empty_card(title: str, body: str) -> pn.pane.HTML:
    return pn.pane.HTML(card_html(title, body, tone="empty"), sizing_mode="stretch_width")


def heading(text: str) -> pn.pane.HTML:
    return pn.pane.HTML(f"<h2>{html.escape(text)}</h2>", margin=(10, 10, 0, 10))


def guarded(what: str, render: Callable[[], Any]) -> Any:
    """``render()``, or an error card naming ``what`` when it raises."""
    try:
        return render()
    except Exception as exc:  # noqa: BLE001  (any failure becomes a card, not a crash)
        return error_card(what, exc)


def in_server_session() -> bool:
    doc = pn.state.curdoc
    return bool(doc is not None and doc.session_context)


class CatalogView(Viewer):
    """A component over one shared catalog and one (shared) filter state.

    Subclasses implement ``data()`` and ``draw(data)``; ``key()`` names the question for the
    cache and must include every input of ``data()``. Any parameter change redraws, in place:
    ``draw`` returns a fresh layout and only what differs from the drawn one is sent.
    """

    catalog = param.Parameter(doc="The opdash Catalog this component reads (shared, never copied).")
    filters = param.ClassSelector(class_=Filters, doc="The page's filters (shared by its views).")
    version = param.Integer(default=0, doc="The catalog data version last drawn; bumps redraw.")
    active = param.Boolean(default=True, doc="False while hidden: no queries until shown again.")

    title: str = "Component"
    #: Which filters this component reads (a change of any other one does not redraw it).
    uses_filters: tuple[str, ...] = FILTER_NAMES
    #: True for views read "as of now" (today, goals): their answer changes with the clock.
    uses_now: bool = False
    #: The tile's one-line description in the spec's JSON Schema (opdash/spec/schema.py).
    summary: str = ""
    #: JSON Schema keywords a spec key needs beyond what its parameter says (its type, enum,
    #: integer bounds and doc are read from the parameter).
    spec_extras: dict[str, dict[str, Any]] = {}
    #: Keys a spec's tile of this view must have (besides ``type``).
    spec_required: tuple[str, ...] = ()
    #: Parameters the server sets, never a spec.
    server_settings: tuple[str, ...] = ("stale_after",)

    @classmethod
    def own_params(cls) -> list[str]:
        """The view's parameters beyond those every view has, in declaration order."""
        shared = set(CatalogView.param) | {"name"}
        return [name for name in cls.param if name not in shared]

    @classmethod
    def choices(cls) -> list[str]:
        """The view's own parameters the operator chooses (a negative precedence: a setting)."""
        return [n for n in cls.own_params() if (cls.param[n].precedence or 0) >= 0]

    @classmethod
    def spec_keys(cls) -> list[str]:
        """The keys a spec may set on this view's tile: its choices, then its settings."""
        settings = [
            n
            for n in cls.own_params()
            if (cls.param[n].precedence or 0) < 0 and n not in cls.server_settings
        ]
        return [*cls.choices(), *settings]

    def __init__(self, catalog=None, filters: Filters | None = None, **params: Any) -> None:
        super().__init__(catalog=catalog, filters=filters or Filters(), **params)
        self._holder: pn.Column | None = None
        self._generation = 0
        self._drawn: Any = _NOTHING  # the answer on the page (a redraw of the same is skipped)
        if self.uses_filters:
            self.filters.param.watch(self._filters_changed, list(self.uses_filters))

    # -- what subclasses provide -------------------------------------------------------------
    def data(self) -> Any:
        raise NotImplementedError

    def draw(self, data: Any) -> Any:
        raise NotImplementedError

    def reads(self) -> Reads | None:
        """What the answer depends on, when a view can say (see ``Catalog.cached``): a refresh
        that changed none of it keeps the answer and spares the redraw. None: every refresh
        recomputes it."""
        return None

    def key(self) -> Hashable:
        """The question ``data()`` answers, as a hashable value (without the data version)."""
        own = tuple(
            (name, _hashable(getattr(self, name)))
            for name in self.param
            if name not in ("name", "catalog", "filters", "version", "active")
        )
        key: tuple = (type(self).__name__, own)
        key += tuple((f, _hashable(getattr(self.filters, f))) for f in self.uses_filters)
        if self.uses_now:
            key += (self.filters.as_of(),)
        return key

    # -- shared machinery ------------------------------------------------------------------
    def cached_data(self) -> Any:
        """``data()``, computed once per (key, data version) across every session."""
        return self.catalog.cached(self.key(), self.data, reads=self.reads())

    def _filters_changed(self, *_events: Any) -> None:
        self.param.trigger("filters")

    def __panel__(self) -> Any:
        if self._holder is None:
            self._holder = pn.Column(sizing_mode="stretch_width", margin=0, min_height=40)
            self.param.watch(self._changed, [p for p in self.param if p != "name"])
            self._redraw(first=True)
        return self._holder

    def _changed(self, *events: Any) -> None:
        if any(e.name not in _SAME_DRAWING for e in events):
            # a choice of the view's own that its answer does not hold (an open chain, a
            # layout switch) still changes the drawing: the same answer is drawn again
            self._drawn = _NOTHING
        self._redraw()

    def _redraw(self, first: bool = False) -> None:
        """Draw the current answer: at once when it is known, else after a query thread.

        A known answer (cache hit) is drawn right here on the event loop, with no thread hop;
        a miss shows the spinner over the old content and computes off the loop. Only the
        newest request is drawn: an older answer arriving late is dropped. The ``first`` draw
        happens while the page is being built, before any browser has it, so it may fill the
        page at once; later ones wait for the page to be loaded (see ``_page_loaded``).
        """
        if not self.active:
            return
        self._generation += 1
        if not in_server_session():
            self._show(guarded(self.title, lambda: self.draw(self.cached_data())))
            return
        try:
            known, data = self.catalog.peek(self.key(), reads=self.reads())
        except Exception as exc:  # noqa: BLE001  (a bad parameter fails its key: show why)
            self._show(error_card(self.title, exc))
            return
        if known and (first or pn.state.loaded):
            self._show_answer(data)
            return
        self._holder.loading = True
        pn.state.execute(partial(self._redraw_async, self._generation))

    async def _redraw_async(self, generation: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(_EXECUTOR, self.cached_data)
        except Exception as exc:  # noqa: BLE001
            view = error_card(self.title, exc)
        else:
            view = None
        await _page_loaded()
        if generation != self._generation:
            return  # a newer request is on its way and owns the spinner
        if view is None:
            self._show_answer(data)
        else:
            self._drawn = _NOTHING
            self._show(view)

    def _show_answer(self, data: Any) -> None:
        """Draw ``data`` unless it is the answer already drawn (an answer a refresh kept)."""
        if data is self._drawn:
            self._holder.loading = False
            return
        self._drawn = data
        self._show(guarded(self.title, lambda: self.draw(data)))

    def _show(self, view: Any) -> None:
        """Put ``view`` on the page, updating the drawn one in place where the shapes match."""
        holder = self._holder
        if not (len(holder.objects) == 1 and morph(holder.objects[0], view)):
            holder.objects = [view]
        holder.loading = False

    def _render(self) -> Any:
        """The view drawn now, synchronously (tests and notebooks)."""
        return guarded(self.title, lambda: self.draw(self.cached_data()))


async def _page_loaded() -> None:
    """Wait until the browser has the page: Panel 1.9 drops model changes made between the
    first pull of the document and the browser's ready message, which left views blank."""
    if pn.state.loaded:
        return
    done = asyncio.get_running_loop().create_future()
    pn.state.onload(lambda: done.done() or done.set_result(None))
    await done


_NOTHING = object()
#: Parameter changes after which an unchanged answer needs no new drawing (a refresh, the page
#: shown again, filters the view's answer already reflects).
_SAME_DRAWING = frozenset({"version", "active", "filters"})


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
