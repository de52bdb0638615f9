"""What every dashboard component shares: the catalog it reads, and its error and empty cards.

A component computes its data in a plain method (``data()``) that tests and notebooks can call
without a browser, and renders it in ``__panel__``; a failing query becomes an error card in place
of the component, never a broken page.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

log = logging.getLogger("opdash")


def card_html(title: str, body: str, *, tone: str = "info") -> str:
    """An escaped little card; ``title`` and ``body`` are plain text, never HTML."""
    return (
        f'<div class="opdash-card opdash-{tone}"><div class="opdash-card-title">'
        f"{html.escape(title)}</div><div>{html.escape(body)}</div></div>"
    )


def error_card(what: str, exc: BaseException) -> pn.pane.HTML:
    """Shown in place of a component whose query failed: what failed and why, escaped."""
    log.exception("opdash component %s failed", what)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return pn.pane.HTML(
        card_html(f"{what} could not be shown", reason, tone="error"), sizing_mode="stretch_width"
    )


def empty_card(title: str, body: str) -> pn.pane.HTML:
    return pn.pane.HTML(card_html(title, body, tone="empty"), sizing_mode="stretch_width")


def guarded(what: str, render: Callable[[], Any]) -> Any:
    """``render()``, or an error card naming ``what`` when it raises."""
    try:
        return render()
    except Exception as exc:  # noqa: BLE001  (any failure becomes a card, not a crash)
        return error_card(what, exc)


class CatalogView(Viewer):
    """A component over one shared catalog. Subclasses implement ``data()`` and ``view()``."""

    catalog = param.Parameter(doc="The opdash Catalog this component reads (shared, never copied).")
    version = param.Integer(default=0, doc="The catalog data version last drawn; bumps redraw.")

    title: str = "Component"

    def __init__(self, catalog=None, **params: Any) -> None:
        super().__init__(catalog=catalog, **params)

    def view(self) -> Any:
        raise NotImplementedError

    def __panel__(self) -> Any:
        return pn.panel(
            pn.param.ParamMethod(self._render, loading_indicator=True), sizing_mode="stretch_width"
        )

    def _render(self) -> Any:
        """Depends on every parameter (no ``param.depends``): any change redraws."""
        return guarded(self.title, self.view)
